"""Settings: flags over environment over file, and clear messages for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.settings import RateLimit, Settings, SettingsError, load


def test_embedded_defaults() -> None:
    settings = load(environ={})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.queue_provider) == (
        "127.0.0.1",
        8000,
        "seacloud",
    )
    assert settings.validation == "async"


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    config = tmp_path / "imgemu.toml"
    config.write_text(
        'seed = 1\ntime_scale = 0.5\nqueue_provider = "odirouter"\n'
        "[rate_limit]\nlimit = 5\nwindow_seconds = 10\n"
        "[api_keys]\nseacloud = ['a', 'b']\n"
    )
    env = {"IMGEMU_SEED": "2", "IMGEMU_TIME_SCALE": "0.25", "IMGEMU_BLOCKED_TERMS": '["x"]'}
    settings = load({"seed": 3, "port": None}, config=config, environ=env)
    assert settings.seed == 3  # flag
    assert settings.time_scale == 0.25  # environment
    assert settings.queue_provider == "odirouter"  # file
    assert settings.rate_limit == RateLimit(limit=5, window_seconds=10)
    assert settings.api_keys == {"seacloud": ("a", "b")}
    assert settings.blocked_terms == ("x",)
    assert settings.port == 8000  # a flag left unset does not override


def test_yaml_file_and_config_variable(tmp_path: Path) -> None:
    config = tmp_path / "imgemu.yaml"
    config.write_text("validation: sync\nmodel_slots: {gpt_image_2: 2}\n")
    settings = load(environ={"IMGEMU_CONFIG": str(config)})
    assert settings.validation == "sync"
    assert settings.model_slots == {"gpt_image_2": 2}
    assert settings.slots == 16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tim_scale = 1\n", "imgemu.toml: tim_scale: not a setting (did you mean time_scale?)"),
        ("time_scale = 0\n", "imgemu.toml: time_scale: must be greater than 0 (got 0)"),
        ('clock = "sundial"\n', "imgemu.toml: clock: must be 'real' or 'virtual' (got 'sundial')"),
        ("[rate_limit]\nlimit = -1\n", "imgemu.toml: rate_limit.limit: must be greater than or"),
        ("not toml at all = = =\n", "imgemu.toml: "),
        ("[api_keys]\nnobody = ['k']\n", "imgemu.toml: api_keys: unknown provider 'nobody'"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "imgemu.toml"
    config.write_text(text)
    with pytest.raises(SettingsError) as raised:
        load(config=config, environ={})
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_bad_values_name_the_flag_the_variable_or_the_file(tmp_path: Path) -> None:
    config = tmp_path / "imgemu.yaml"
    config.write_text("slots: 0\n")
    env = {"IMGEMU_FAILURE_RATE": "2", "IMGEMU_CONFIG": str(config)}
    with pytest.raises(SettingsError) as raised:
        load({"time_scale": -1.0}, environ=env)
    problems = str(raised.value).split("; ")
    assert sorted(problems) == sorted(
        [
            "--time-scale: must be greater than 0 (got -1.0)",
            "IMGEMU_FAILURE_RATE: must be less than or equal to 1 (got '2')",
            f"{config}: slots: must be greater than or equal to 1 (got 0)",
        ]
    )


def test_unknown_variables_warn_and_start() -> None:
    warnings: list[str] = []
    settings = load(environ={"IMGEMU_SED": "1", "IMGEMU_URL": "http://x"}, warn=warnings.append)
    assert settings == Settings()
    assert warnings == ["IMGEMU_SED is not a setting and is ignored (did you mean IMGEMU_SEED?)"]


def test_lists_from_the_environment_as_json_or_commas() -> None:
    env = {"IMGEMU_CORS_ORIGINS": "http://a.test, http://b.test", "IMGEMU_BLOCKED_TERMS": '["x"]'}
    settings = load(environ=env)
    assert settings.cors_origins == ("http://a.test", "http://b.test")
    assert settings.blocked_terms == ("x",)


def test_bad_environment_values() -> None:
    with pytest.raises(SettingsError, match="IMGEMU_RATE_LIMIT: expected a JSON value, got 'x'"):
        load(environ={"IMGEMU_RATE_LIMIT": "x"})
    with pytest.raises(SettingsError, match="IMGEMU_SEED: must be a valid integer"):
        load(environ={"IMGEMU_SEED": "one"})
    with pytest.raises(SettingsError, match="IMGEMU_STEERING: must be a valid boolean"):
        load(environ={"IMGEMU_STEERING": "maybe"})


def test_missing_file() -> None:
    with pytest.raises(SettingsError, match=r"nowhere\.toml"):
        load(config=Path("/nowhere.toml"), environ={})


def test_direct_construction_is_checked() -> None:
    with pytest.raises(SettingsError, match="validation: must be 'async' or 'sync'"):
        Settings(validation="later")
    with pytest.raises(SettingsError, match="slots: must be greater than or equal to 1"):
        Settings(slots=0)


def test_rate_limits_in_each_providers_terms(tmp_path: Path) -> None:
    config = tmp_path / "imgemu.toml"
    config.write_text("openai_ipm = 5\nqueue_concurrency = 4\n[rate_limit]\nlimit = 100\n")
    env = {"IMGEMU_OPENAI_RPM": "50", "IMGEMU_AA_RPM": "20"}
    settings = load({"queue_rpm": 30, "agcloud_ipm": None}, config=config, environ=env)
    limits = (
        settings.openai_rpm,
        settings.openai_ipm,
        settings.agcloud_rpm,
        settings.agcloud_ipm,
        settings.queue_rpm,
        settings.queue_concurrency,
        settings.aa_rpm,
    )
    assert limits == (50, 5, 0, 0, 30, 4, 20)
    assert settings.rate_limit == RateLimit(limit=100)  # the generic limit keeps working
    assert Settings().openai_rpm == Settings().queue_concurrency == 0  # off by default
    with pytest.raises(SettingsError) as raised:
        load({"openai_ipm": -1}, environ={"IMGEMU_QUEUE_CONCURRENCY": "x"})
    assert sorted(str(raised.value).split("; ")) == [
        "--openai-ipm: must be greater than or equal to 0 (got -1)",
        "IMGEMU_QUEUE_CONCURRENCY: must be a valid integer, unable to parse string as an "
        "integer (got 'x')",
    ]

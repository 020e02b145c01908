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
    assert settings.slots_for("gpt_image_2") == 2
    assert settings.slots_for("gpt_image_1") == 16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tim_scale = 1\n", "Additional properties are not allowed"),
        ("time_scale = 0\n", "time_scale"),
        ('clock = "sundial"\n', "clock"),
        ("[rate_limit]\nlimit = -1\n", "rate_limit.limit"),
        ("not toml at all = = =\n", "imgemu.toml"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "imgemu.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message.replace(".", r"\.")):
        load(config=config, environ={})


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
    with pytest.raises(SettingsError, match="IMGEMU_SEED: expected a JSON value"):
        load(environ={"IMGEMU_SEED": "one"})
    with pytest.raises(SettingsError, match="seed"):
        load(environ={"IMGEMU_SEED": '"one"'})


def test_missing_file() -> None:
    with pytest.raises(SettingsError, match=r"nowhere\.toml"):
        load(config=Path("/nowhere.toml"), environ={})


def test_direct_construction_is_checked() -> None:
    with pytest.raises(SettingsError, match="validation must be 'async' or 'sync'"):
        Settings(validation="later")

"""The fixtures as a user meets them (each test a user's test file run by pytest with the plugin
as installed): the mark's settings take effect, tests are isolated by a reset on a reused
server, a moved virtual clock gives the next test a new one, the session's server keeps its
state, the environment is patched for a test and restored after it, the helpers carry the
test's id and the control token, and misuse says what is wrong."""

from __future__ import annotations

import os

import pytest

from tests.support.plugin import run

KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "AGCLOUD_API_KEY",
    "SEACLOUD_API_KEY",
    "ODIROUTER_API_KEY",
    "AA_API_KEY",
)


def test_the_mark_configures_keys_limits_and_the_clock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx
        import pytest

        pytestmark = pytest.mark.imgemu(clock="virtual", seed=3)
        GENERATE = {"model": "gpt-image-1", "prompt": "A red apple", "quality": "low"}


        @pytest.mark.imgemu(api_keys={"openai": ["sk-only"]}, seed=5)
        def test_keys_and_the_module_mark(imgemu_server):
            settings = imgemu_server.settings
            assert (settings.clock, settings.seed, settings.time_scale) == ("virtual", 5, 0.001)
            assert imgemu_server.clock.info()["kind"] == "virtual"
            assert imgemu_server.api_key("openai") == "sk-only"
            with httpx.Client(base_url=imgemu_server.url("openai")) as http:
                refused = http.post(
                    "/images/generations", json=GENERATE, headers={"Authorization": "Bearer sk-x"}
                )
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_api_key"
            with imgemu_server.client("openai") as http:  # sends sk-only
                taken = http.post("/images/generations", json={"model": "gpt-image-1"})
            assert taken.status_code == 400  # past the key: the body is what is wrong
            assert taken.json()["error"]["param"] == "prompt"


        @pytest.mark.imgemu(clock="real", openai_rpm=1)
        def test_a_limit(imgemu_server):
            with imgemu_server.client("openai") as http:
                assert http.post("/images/generations", json=GENERATE).status_code == 200
                limited = http.post("/images/generations", json=GENERATE)
            assert limited.status_code == 429
            assert limited.json()["error"]["code"] == "rate_limit_exceeded"
            assert limited.headers["x-ratelimit-limit-requests"] == "1"


        @pytest.mark.imgemu(clock="real", time_scale=0.5)
        def test_the_app_takes_the_mark_too(imgemu_app):
            assert imgemu_app.settings.time_scale == 0.5
            assert imgemu_app.clock.info() == {
                "now": pytest.approx(imgemu_app.clock.now(), abs=5),
                "kind": "real",
                "time_scale": 0.5,
            }
        """
    )
    run(pytester).assert_outcomes(passed=3)


def test_a_reset_between_tests_isolates_them_on_one_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        SEEN = {}
        PLAN = {"match": {"provider": "openai"}, "action": {"kind": "error", "status": 429}}


        def test_first_leaves_state_behind(imgemu_server):
            SEEN["first"] = imgemu_server.base_url
            imgemu_server.faults.add(**PLAN)
            imgemu_server.control("PUT", "/balances/k", {"usd": 0.5})
            imgemu_server.configure(failure_rate=0.5)
            with imgemu_server.client("seacloud") as http:
                assert http.post("/v1/queue/gpt_image_1", json={"prompt": "x"}).is_success
            assert imgemu_server.control("GET", "/jobs")["total"] == 1


        def test_second_sees_none_of_it(imgemu_server):
            assert imgemu_server.base_url == SEEN["first"]  # the same server, reset
            assert imgemu_server.faults.list() == []
            assert imgemu_server.control("GET", "/jobs")["total"] == 0
            assert imgemu_server.control("GET", "/balances/k") == {"usd": None}
            assert imgemu_server.config()["failure_rate"] == 0.0
            assert imgemu_server.config()["changed"] == []


        @pytest.mark.imgemu(seed=9)
        def test_other_settings_get_another_server(imgemu_server):
            assert imgemu_server.base_url != SEEN["first"]
            SEEN["other"] = imgemu_server.base_url


        def test_the_first_server_is_kept_for_its_settings(imgemu_server, _imgemu_pool):
            assert imgemu_server.base_url == SEEN["first"]
            assert _imgemu_pool.started == 2


        def test_the_in_process_app_is_reset_too(imgemu_app):
            imgemu_app.faults.add(**PLAN)
            SEEN["app"] = imgemu_app.app


        def test_and_reused(imgemu_app):
            assert imgemu_app.app is SEEN["app"]
            assert imgemu_app.faults.list() == []
        """
    )
    run(pytester).assert_outcomes(passed=6)


def test_a_moved_virtual_clock_gives_the_next_test_a_new_emulator(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.imgemu(clock="virtual", clock_start=1_800_000_000)
        SEEN = []


        @pytest.mark.parametrize("run", range(2))
        def test_the_clock_starts_at_its_start(imgemu_server, run):
            assert imgemu_server.clock.now() == 1_800_000_000
            imgemu_server.clock.advance(60)
            SEEN.append(imgemu_server.base_url)


        def test_a_clock_left_alone_keeps_its_emulator(imgemu_server):
            assert imgemu_server.clock.now() == 1_800_000_000
            SEEN.append(imgemu_server.base_url)


        def test_for_the_next_test(imgemu_server):
            assert imgemu_server.base_url == SEEN[-1]
            assert len(set(SEEN)) == 3


        def test_the_app_likewise(imgemu_app):
            assert imgemu_app.clock.now() == 1_800_000_000
            imgemu_app.clock.set(1_800_000_100)
            SEEN.append(imgemu_app.app)


        def test_the_app_after(imgemu_app):
            assert imgemu_app.clock.now() == 1_800_000_000
            assert imgemu_app.app is not SEEN[-1]
        """
    )
    run(pytester).assert_outcomes(passed=6)


def test_the_session_server_keeps_its_state_across_tests(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest


        @pytest.fixture(scope="session")
        def imgemu_session_settings():
            return {"clock": "virtual", "clock_start": 1_800_000_000, "patch_env": True}
        """
    )
    pytester.makepyfile(
        """
        import os


        def test_one(imgemu_server_session):
            assert imgemu_server_session.test_id is None
            imgemu_server_session.faults.add(action={"kind": "drop"}, match={"provider": "aa"})
            imgemu_server_session.clock.advance(5)


        def test_two(imgemu_server_session):
            assert len(imgemu_server_session.faults.list()) == 1
            assert imgemu_server_session.clock.now() == 1_800_000_005
            assert os.environ["IMGEMU_URL"] == imgemu_server_session.base_url


        def test_three(imgemu_server_session, imgemu_server):
            assert imgemu_server.base_url != imgemu_server_session.base_url
            assert imgemu_server.faults.list() == []
            assert imgemu_server.settings.clock == "real"
        """
    )
    run(pytester).assert_outcomes(passed=3)
    assert "IMGEMU_URL" not in os.environ


ENV_TESTS = """
import os

import pytest


def test_patched(imgemu_server):
    assert os.environ["OPENAI_BASE_URL"] == imgemu_server.url("openai")
    assert os.environ["OPENAI_BASE_URL"].endswith("/v1")
    assert os.environ["IMGEMU_URL"] == imgemu_server.base_url
    for name in {keys}:
        assert os.environ[name] == "sk-imgemu-test"


def test_untouched_without_the_fixture():
    assert os.environ["OPENAI_BASE_URL"] == "http://elsewhere.test/v1"
    assert "OPENAI_API_KEY" not in os.environ


@pytest.mark.imgemu(patch_env=False)
def test_opted_out(imgemu_server):
    assert os.environ["OPENAI_BASE_URL"] == "http://elsewhere.test/v1"


@pytest.mark.imgemu(api_keys={{"aa": ["sk-aa"]}})
def test_the_configured_key(imgemu_server):
    assert os.environ["AA_API_KEY"] == "sk-aa"


def test_in_process_only_the_keys(imgemu_app):
    assert os.environ["OPENAI_BASE_URL"] == "http://elsewhere.test/v1"
    assert os.environ["OPENAI_API_KEY"] == "sk-imgemu-test"
"""


def _environment() -> dict[str, str]:
    """The process's variables but pytest's own (``PYTEST_CURRENT_TEST`` changes by phase)."""
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment that names another OpenAI and no key; what it was before a run."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://elsewhere.test/v1")
    for name in (*KEY_VARIABLES, "IMGEMU_URL"):
        monkeypatch.delenv(name, raising=False)
    return _environment()


@pytest.mark.parametrize("how", ["flag", "ini"])
def test_the_environment_is_patched_for_the_test_and_restored(
    pytester: pytest.Pytester, elsewhere: dict[str, str], how: str
) -> None:
    pytester.makepyfile(ENV_TESTS.format(keys=KEY_VARIABLES))
    if how == "ini":
        pytester.makeini("[pytest]\nimgemu_patch_env = true\n")
        result = run(pytester)
    else:
        result = run(pytester, "--imgemu-patch-env")
    result.assert_outcomes(passed=5)
    assert _environment() == elsewhere


def test_the_mark_alone_patches_the_environment(
    pytester: pytest.Pytester, elsewhere: dict[str, str]
) -> None:
    pytester.makepyfile(
        """
        import os

        import pytest


        def test_not_asked(imgemu_server):
            assert os.environ["OPENAI_BASE_URL"] == "http://elsewhere.test/v1"


        @pytest.mark.imgemu(patch_env=True)
        def test_asked(imgemu_server):
            assert os.environ["OPENAI_BASE_URL"] == imgemu_server.url("openai")


        def test_after():
            assert os.environ["OPENAI_BASE_URL"] == "http://elsewhere.test/v1"
        """
    )
    run(pytester).assert_outcomes(passed=3)
    assert _environment() == elsewhere


def test_the_helpers_carry_the_test_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plugin_ids="""
        import httpx
        import pytest

        GENERATE = {"model": "gpt-image-1", "prompt": "A red apple", "quality": "low"}


        def test_scoped(imgemu_server):
            assert imgemu_server.test_id == "test_plugin_ids.py::test_scoped"
            assert imgemu_server.headers == {"X-Imgemu-Test-Id": "test_plugin_ids.py::test_scoped"}
            imgemu_server.faults.add(
                match={"provider": "openai", "test_id": imgemu_server.test_id},
                action={"kind": "error", "status": 429},
            )
            with httpx.Client(base_url=imgemu_server.url("openai")) as other:
                answer = other.post(
                    "/images/generations", json=GENERATE, headers={"Authorization": "Bearer k"}
                )
                assert answer.status_code == 200  # not this test's request
            with imgemu_server.client("openai") as mine:
                assert mine.post("/images/generations", json=GENERATE).status_code == 429
            async_client = imgemu_server.async_client("openai")
            assert async_client.headers["X-Imgemu-Test-Id"] == imgemu_server.test_id
            assert imgemu_server.faults.list(test_id=imgemu_server.test_id)[0]["applied"] == 1


        @pytest.mark.parametrize("name", ["典名词元", "x" * 300])
        def test_any_node_id(imgemu_app, name):
            assert imgemu_app.test_id.isascii()
            assert len(imgemu_app.test_id) <= 128
            with imgemu_app.client("aa") as http:
                assert http.get("/api/v1/image/generation/task_none").status_code == 404
        """
    )
    run(pytester).assert_outcomes(passed=3)


def test_a_locked_control_plane_takes_the_helpers_token(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx
        import pytest


        @pytest.mark.imgemu(control_token="s3cret-token")
        def test_locked(imgemu_server):
            assert httpx.get(f"{imgemu_server.base_url}/_emulator/jobs").status_code == 401
            imgemu_server.faults.add(action={"kind": "drop"}, match={"provider": "aa"})
            assert imgemu_server.clock.now() > 0
            with imgemu_server.client() as http:
                assert http.get("/_emulator/faults").json()["faults"][0]["id"] == "plan_1"
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_misuse_fails_the_setup_saying_what_is_wrong(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest


        @pytest.mark.imgemu(time_scael=0.5)
        def test_a_typo(imgemu_server):
            pass


        @pytest.mark.imgemu(port=8000)
        def test_a_port(imgemu_server):
            pass


        @pytest.mark.imgemu(workers=2)
        def test_workers(imgemu_app):
            pass


        @pytest.mark.imgemu("virtual")
        def test_positional(imgemu_server):
            pass


        @pytest.mark.imgemu(time_scale=0)
        def test_a_bad_value(imgemu_server):
            pass


        @pytest.mark.imgemu(clock="real")
        def test_moving_a_real_clock(imgemu_server):
            imgemu_server.clock.advance(1)
        """
    )
    result = run(pytester, "-rEf")
    result.assert_outcomes(errors=5, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "@pytest.mark.imgemu: time_scael: not a setting (did you mean time_scale?)",
            "@pytest.mark.imgemu: port: not a test setting (the fixtures choose a free port: "
            "read base_url)",
            "@pytest.mark.imgemu: workers: not a test setting (*imgemu serve --workers N*)",
            "@pytest.mark.imgemu takes settings by name, not ('virtual',)",
            "@pytest.mark.imgemu: time_scale: must be greater than 0 (got 0)",
            "*ControlError: POST /_emulator/clock answered 409: The clock is real; start with "
            '--clock virtual (use @pytest.mark.imgemu(clock="virtual"))',
        ]
    )


def test_a_redis_store_is_reset_between_tests(pytester: pytest.Pytester, redis_url: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        pytestmark = pytest.mark.imgemu(store="{redis_url}?namespace=plugin")


        @pytest.mark.parametrize("run", range(2))
        def test_each_starts_empty(imgemu_server, run):
            assert imgemu_server.control("GET", "/jobs")["total"] == 0
            with imgemu_server.client("seacloud") as http:
                assert http.post("/v1/queue/gpt_image_1", json={{"prompt": "x"}}).is_success
            imgemu_server.faults.add(action={{"kind": "drop"}}, match={{"provider": "aa"}})
            assert len(imgemu_server.faults.list()) == 1


        def test_in_process_too(imgemu_app):
            assert imgemu_app.control("GET", "/jobs")["total"] == 0
            assert imgemu_app.faults.list() == []
        """
    )
    run(pytester).assert_outcomes(passed=3)

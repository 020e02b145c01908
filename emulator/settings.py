"""One typed settings object, declared once: CLI flags over ``IMGEMU_*`` variables over a file.

Every setting is a field of ``Settings`` with its type, its constraints and its help text; from
that one declaration come the checks (pydantic), the ``IMGEMU_<NAME>`` variables and the TOML or
YAML config file (pydantic-settings), the flags of ``imgemu serve`` (``emulator.cli``) and
``imgemu.example.toml``. A bad value is refused with one line naming where it came from: the flag,
the variable or the file.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)
from pydantic_settings import SettingsError as PydanticSettingsError
from pydantic_settings.sources.utils import parse_env_vars

from emulator.providers import NAMES as PROVIDERS
from emulator.store.url import parse as parse_store

ENV_PREFIX = "IMGEMU_"
# Variables of the imgemu family that are not emulator settings: not worth a warning.
OTHER_VARIABLES = frozenset({"IMGEMU_CONFIG", "IMGEMU_URL"})

# Settings whose values are secrets: an error names them without repeating the value.
SECRETS = frozenset({"signing_secret", "control_token"})

# The queue providers' names, literal for pydantic: tests/test_providers.py holds them to the table.
QueueProvider = Literal["seacloud", "odirouter"]
# A list of strings: JSON in a variable or a file, or comma-separated text.
TextList = Annotated[tuple[str, ...], NoDecode]
# A list of queue providers, written as a ``TextList`` is.
QueueProviders = Annotated[tuple[QueueProvider, ...], NoDecode]


class SettingsError(ValueError):
    """A setting has a value the emulator cannot use; the message names it."""


class RateLimit(BaseModel):
    """``limit`` submissions per key per ``window_seconds`` of emulator time; 0 turns it off.

    The generic limit, the same for every provider; the per-provider settings (``openai_rpm``,
    ``queue_concurrency``...) count in each provider's own terms.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: int = Field(0, ge=0)
    window_seconds: float = Field(60.0, gt=0)

    def __init__(self, limit: int = 0, window_seconds: float = 60.0, **extra: Any) -> None:
        super().__init__(limit=limit, window_seconds=window_seconds, **extra)


class Settings(BaseModel):
    """Everything the emulator can be told; the defaults are those of ``imgemu serve``.

    Each field is one setting: the flag ``--<name>``, the variable ``IMGEMU_<NAME>`` and the
    key ``<name>`` of a config file; its description is the help ``imgemu serve --help`` shows.
    Constructing one with a bad value raises ``SettingsError``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="address to bind ('0.0.0.0' for every interface)")
    port: int = Field(8000, ge=1, le=65535, description="port to bind")
    store: str = Field(
        "memory",
        description=(
            "where state lives: 'memory' (this process) or redis://host:port/db[?namespace=NAME]"
            " (shared by every process given the same URL)"
        ),
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="processes serving the port; more than 1 needs a shared store (redis://...)",
    )
    queue_provider: QueueProvider = Field(
        "seacloud", description="which queue provider owns the bare /model/... path"
    )
    time_scale: float = Field(
        0.1, gt=0, description="multiplier of every service time (1 = as slow as the real service)"
    )
    clock: Literal["real", "virtual"] = Field(
        "real", description="'virtual' stands still until POST /_emulator/clock"
    )
    clock_start: float | None = Field(
        None, description="virtual clock start, Unix seconds (default now)"
    )
    seed: int = Field(
        0, description="seed of ids, latencies and images: the same seed repeats a run"
    )
    validation: Literal["async", "sync"] = Field(
        "async",
        description=(
            "invalid queue submissions: 'async' REQUEST_INVALID jobs, 'sync' a 422 at submit"
        ),
    )
    api_keys: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description='only these keys, per provider: {"openai": ["sk-1"]} (default: any key)',
    )
    slots: int = Field(
        16, ge=1, description="worker slots per (provider, model); more jobs wait IN_QUEUE"
    )
    model_slots: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, description='slots per model id: {"gpt_image_2": 2}'
    )
    latency_sigma: float = Field(
        0.15, ge=0, description="spread of the seeded service times (log-normal)"
    )
    base_seconds: dict[str, dict[str, Annotated[float, Field(gt=0)]]] = Field(
        default_factory=dict,
        description='service seconds per family and quality: {"gpt-image-2": {"medium": 60}}',
    )
    failure_rate: float = Field(
        0.0, ge=0, le=1, description="share of jobs that end INFERENCE_FAILURE (0 to 1)"
    )
    blocked_terms: TextList = Field((), description="prompts containing one are blocked")
    steering: bool = Field(
        False, description="honour X-Imgemu-Outcome and X-Imgemu-Latency headers"
    )
    rate_limit: RateLimit = Field(
        default=RateLimit(),
        description='submissions per key, any provider: {"limit": 10, "window_seconds": 60} '
        "(0: off; openai_rpm, queue_concurrency and the like count in each provider's terms)",
    )
    openai_rpm: int = Field(
        0, ge=0, description="OpenAI requests per minute per key and model (0: unlimited)"
    )
    openai_ipm: int = Field(
        0,
        ge=0,
        description="OpenAI images per minute per key and model; a request for n takes n "
        "(0: unlimited)",
    )
    openai_transparent_preview: bool = Field(
        False,
        description="OpenAI: let gpt-image-2 take background=transparent, as the SDK's "
        "'preview' wording has it (off: refused with 400, as the live API answers)",
    )
    agcloud_rpm: int = Field(
        0, ge=0, description="AGCloud requests per minute per key and model (0: unlimited)"
    )
    agcloud_ipm: int = Field(
        0, ge=0, description="AGCloud images per minute per key and model (0: unlimited)"
    )
    queue_rpm: int = Field(
        0, ge=0, description="queue providers: submissions per minute per key (0: unlimited)"
    )
    queue_concurrency: int = Field(
        0,
        ge=0,
        description="queue providers: jobs IN_QUEUE or IN_PROGRESS per key; a submit beyond "
        "is refused with 429 (0: unlimited)",
    )
    aa_rpm: int = Field(0, ge=0, description="典名词元 requests per minute per key (0: unlimited)")
    queue_pending_status: Literal[200, 202] = Field(
        202,
        description="queue providers: HTTP status of a status read while the job is IN_QUEUE or "
        "IN_PROGRESS (fal's queue, which they copy, answers 202; 200 when COMPLETED either way)",
    )
    queue_cancel_running: Literal["finish", "cancel"] = Field(
        "finish",
        description="queue providers: what a cancel does to a running job, which it answers 202 "
        "either way: 'finish' lets it run to its end (the model app ignores the signal), "
        "'cancel' ends it CANCELED (a queued job is always removed)",
    )
    queue_position_zero: QueueProviders = Field(
        ("seacloud",),
        description="queue providers whose queue_position is always 0, as SeaCloud's page says "
        "it currently is; the others count the jobs ahead",
    )
    balances: dict[str, float] = Field(
        default_factory=dict, description='USD balance per key: {"k": 1.5}'
    )
    default_balance_usd: float | None = Field(
        None, description="USD balance of keys not in balances (default unlimited)"
    )
    result_ttl: float = Field(
        86400.0,
        gt=0,
        description="seconds of emulator time a result URL works; jobs, tasks and uploads are "
        "forgotten a minute after",
    )
    signing_secret: str = Field(
        "",
        description="secret of result URL signatures (default random at start, one per Redis "
        "namespace; set it to keep links valid across restarts)",
    )
    control_token: str = Field(
        "",
        description="token /_emulator/* and /metrics require, as 'Authorization: Bearer TOKEN' "
        "or 'X-Imgemu-Control-Token: TOKEN' (default: open to anyone who reaches the port)",
    )
    fetch_remote: Literal["off", "allowlist"] = Field(
        "off", description="fetch URL inputs from the network: 'allowlist' hosts only"
    )
    fetch_allowlist: TextList = Field((), description="hosts fetched with fetch_remote=allowlist")
    fetch_timeout: float = Field(
        10.0,
        gt=0,
        description="real seconds one fetch of an input image may take, redirects included",
    )
    image_cache_mb: int = Field(256, ge=0, description="memory for rendered images, MB")
    max_upload_mb: int = Field(
        256,
        ge=1,
        description="room for 典名词元 uploads in the store, MB (the oldest go first; each expires "
        "after result_ttl plus a minute)",
    )
    max_request_mb: int = Field(
        80,
        ge=1,
        description="largest request body, MB, of an operation that takes input images (edits, "
        "典名词元's generation and uploads); a larger one is refused with 413 as it arrives",
    )
    max_text_request_kb: int = Field(
        1024,
        ge=1,
        description="largest request body, KB, of every other operation (generations, the "
        "control plane); a larger one is refused with 413 as it arrives",
    )
    max_image_mb: int = Field(
        50,
        ge=1,
        description="largest input image, MB as sent (OpenAI's limit per image); a larger one "
        "is refused as invalid",
    )
    max_image_pixels: int = Field(
        50_000_000,
        ge=1,
        le=89_478_485,  # Pillow's own decompression-bomb threshold
        description="most pixels of an input image, read from its header before it is decoded "
        "(a larger one is refused as invalid); also the pixels decoded at once",
    )
    load_mode: bool = Field(
        False,
        description="reuse renders: pixels depend only on size, format, quality, background and "
        "compression; each file gets its own provenance (for load tests)",
    )
    invalid_delay: float = Field(
        0.5, ge=0, description="seconds before a REQUEST_INVALID or CONTENT_BLOCKED job completes"
    )
    keepalive_seconds: float = Field(
        15.0, gt=0, description="real seconds between ':' lines of an idle stream"
    )
    cors_origins: TextList = Field(
        (),
        description=(
            "origins a browser may call from ('*' for any); preflights answered (default off)"
        ),
    )
    shutdown_timeout: int = Field(
        3,
        ge=0,
        description=(
            "seconds open requests get on SIGTERM; open streams end with an error event at once"
        ),
    )
    journal_size: int = Field(
        1000,
        ge=0,
        description="requests the journal keeps (GET /_emulator/journal), the newest; "
        "0 turns journaling off",
    )
    verdict_poll_floor: float = Field(
        0.5,
        gt=0,
        le=3600,
        description="seconds a client should wait between two reads of a waiting job "
        "(GET /_emulator/verdicts: polled_too_fast); fal's clients poll every 0.5 s",
    )
    verdict_backoff_floor: float = Field(
        0.25,
        ge=0,
        le=3600,
        description="seconds a client should wait at least before retrying a 5xx "
        "(GET /_emulator/verdicts: retried_without_backoff)",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        "info", description="log level"
    )
    log_format: Literal["text", "json"] = Field("text", description="log lines as text or JSON")
    log_requests: Literal["off", "refused", "all"] = Field(
        "refused",
        description="requests logged: 'refused' (4xx/5xx, with the reason), 'all', or 'off'",
    )
    faults: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            'fault plans from the start, as POST /_emulator/faults takes them: [{"match": '
            '{"provider": "openai"}, "action": {"kind": "error", "status": 429}, "times": 2}]'
        ),
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            if type(self) is not Settings:  # the loader names the flag, variable or file
                raise
            raise SettingsError(describe_errors(exc)) from None

    @field_validator(
        "blocked_terms", "fetch_allowlist", "cors_origins", "queue_position_zero", mode="before"
    )
    @classmethod
    def _text_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return decoded

    @field_validator("queue_pending_status", mode="before")
    @classmethod
    def _status_code(cls, value: Any) -> Any:
        # A variable or a flag is text: "202" is the status 202.
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        parse_store(value)  # a ValueError names what is wrong
        return value

    @field_validator("workers")
    @classmethod
    def _workers_share_a_store(cls, value: int, info: ValidationInfo) -> int:
        if value > 1 and info.data.get("store", "memory") == "memory":
            raise ValueError(
                f"{value} workers need a shared store (--store redis://HOST:PORT/DB): with "
                "the memory store each worker would keep jobs the others cannot see"
            )
        return value

    @field_validator("api_keys")
    @classmethod
    def _known_providers(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = sorted(set(value) - set(PROVIDERS))
        if unknown:
            raise ValueError(f"unknown provider {unknown[0]!r}: one of {', '.join(PROVIDERS)}")
        return value

    @field_validator("control_token")
    @classmethod
    def _header_safe(cls, value: str) -> str:
        if any(not "!" <= ch <= "~" for ch in value):
            raise ValueError("must be printable ASCII without spaces (it is sent in a header)")
        return value

    @field_validator("blocked_terms")
    @classmethod
    def _no_empty_terms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not term for term in value):
            raise ValueError("terms must not be empty")
        return value

    @field_validator("faults")
    @classmethod
    def _fault_plans(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if value:
            from emulator.domain.faults import PlanError, parse_plan  # the documents, if needed

            documents = fault_documents()
            for number, plan in enumerate(value):
                try:
                    parse_plan(plan, documents)
                except PlanError as exc:
                    raise ValueError(f"plan {number}: {exc}") from None
        return value


def fault_documents() -> dict[str, Any]:
    """Every provider's document, which a fault plan is checked against (compiled once)."""
    from emulator.domain.rules import RuleBook
    from emulator.spec.loader import load_cached

    names = RuleBook().names
    return {provider: load_cached(provider, names) for provider in PROVIDERS}


def describe_errors(exc: ValidationError, where: Callable[[str], str] = str) -> str:
    """One line for every bad value: ``where(name): what is wrong (got ...)``."""
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        name = loc[0] if loc else "(settings)"
        place = ".".join([where(name), *loc[1:]]) if loc else name
        message = error["msg"].replace("Input should be", "must be").removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, Settings.model_fields, n=1)
            message = "not a setting" + (f" (did you mean {close[0]}?)" if close else "")
        elif "input" in error and not isinstance(error["input"], dict) and name not in SECRETS:
            message += f" (got {error['input']!r})"
        parts.append(f"{place}: {message}")
    return "; ".join(parts)


def env_name(name: str) -> str:
    """The environment variable of setting ``name``."""
    return ENV_PREFIX + name.upper()


def describe() -> list[tuple[str, Any, str, tuple[str, ...] | None]]:
    """Every setting as ``(name, default, help, choices)``, in declaration order."""
    defaults = Settings()
    rows = []
    for name, info in Settings.model_fields.items():
        choices = getattr(info.annotation, "__args__", None)
        literal = getattr(info.annotation, "__origin__", None) is Literal
        rows.append(
            (name, getattr(defaults, name), info.description or "", choices if literal else None)
        )
    return rows


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each ``IMGEMU_*`` variable that names no setting."""
    warnings = []
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX) or key in OTHER_VARIABLES:
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in Settings.model_fields:
            close = difflib.get_close_matches(name, Settings.model_fields, n=1)
            hint = f" (did you mean {env_name(close[0])}?)" if close else ""
            warnings.append(f"{key} is not a setting and is ignored{hint}")
    return warnings


def _file_source(path: Path, cls: type[BaseSettings]) -> PydanticBaseSettingsSource:
    if not path.is_file():
        raise SettingsError(f"{path}: no such file")
    try:  # parse once here, so a syntax error names the file
        if path.suffix == ".toml":
            tomllib.loads(path.read_text(encoding="utf-8"))
            return TomlConfigSettingsSource(cls, toml_file=path)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise SettingsError(f"{path}: the file must hold a mapping of settings")
    return YamlConfigSettingsSource(cls, yaml_file=path)


def load(
    overrides: Mapping[str, Any] | None = None,
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    flag: Callable[[str], str] = lambda name: "--" + name.replace("_", "-"),
) -> Settings:
    """Build the settings: ``overrides`` (CLI flags) over the environment over ``config``.

    ``warn`` receives what is worth telling but not worth refusing to start for (a variable
    that names no setting). A bad value raises ``SettingsError`` naming its flag (``flag``),
    variable or file.
    """
    env = dict(os.environ if environ is None else environ)
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    config_path = config or (Path(env["IMGEMU_CONFIG"]) if env.get("IMGEMU_CONFIG") else None)
    if warn is not None:
        for message in unknown_variables(env):
            warn(message)
    env_values = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}

    class Environment(EnvSettingsSource):
        """``IMGEMU_*`` variables from ``environ`` rather than the process's own."""

        def _load_env_vars(self) -> Mapping[str, str | None]:
            return parse_env_vars(env_values, False, False, None)

    class Sources(Settings, BaseSettings):  # a loader for the same fields
        model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources = [init_settings, Environment(settings_cls, case_sensitive=False)]
            if config_path is not None:
                sources.append(_file_source(config_path, settings_cls))
            return tuple(sources)

    def where(name: str) -> str:
        if name in flags:
            return flag(name)
        if env_name(name) in env_values:
            return env_name(name)
        return f"{config_path}: {name}" if config_path is not None else name

    try:
        loaded = Sources(**flags)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, where)) from None
    except PydanticSettingsError as exc:  # a variable that is not JSON where JSON is needed
        found = re.search(r'field "(\w+)"', str(exc))
        name = env_name(found[1]) if found else "a variable"
        raise SettingsError(f"{name}: expected a JSON value, got {env.get(name)!r}") from None
    return Settings(**{name: getattr(loaded, name) for name in Settings.model_fields})

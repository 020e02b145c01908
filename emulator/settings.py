"""One typed settings object, read once: CLI flags over ``IMGEMU_*`` variables over a config file.

A config file is TOML (``.toml``) or YAML (``.yaml``/``.yml``) with the same keys as ``Settings``;
it is checked against a JSON Schema so a typo names the key instead of being ignored.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

PROVIDERS_QUEUE = ("seacloud", "odirouter")
PROVIDERS_IMAGES = ("openai", "agcloud", "aa")  # answer in the same call (or a stream)
PROVIDERS = PROVIDERS_QUEUE + PROVIDERS_IMAGES


class SettingsError(ValueError):
    """A setting has a value the emulator cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``limit`` submissions per key per ``window_seconds`` of emulator time; 0 turns it off."""

    limit: int = 0
    window_seconds: float = 60.0


def _setting(default: Any, help: str, **extra: Any) -> Any:
    """A field with its help text (shown by ``imgemu serve --help`` and the example file)."""
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"help": help, **extra})
    if isinstance(default, type):  # a class: each Settings gets its own instance
        return field(default_factory=default, metadata={"help": help, **extra})
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the emulator can be told; the defaults are those of ``imgemu serve``.

    Each field is one setting: the flag ``--<name>``, the variable ``IMGEMU_<NAME>`` and the
    key ``<name>`` of a config file; its help text is the one ``imgemu serve --help`` shows.
    """

    host: str = _setting("127.0.0.1", "address to bind ('0.0.0.0' for every interface)")
    port: int = _setting(8000, "port to bind")
    queue_provider: str = _setting(
        "seacloud", "which queue provider owns the bare /model/... path", choices=PROVIDERS_QUEUE
    )
    time_scale: float = _setting(
        0.1, "multiplier of every service time (1 = as slow as the real service)"
    )
    clock: str = _setting(
        "real", "'virtual' stands still until POST /_emulator/clock", choices=("real", "virtual")
    )
    clock_start: float | None = _setting(None, "virtual clock start, Unix seconds (default now)")
    seed: int = _setting(0, "seed of ids, latencies and images: the same seed repeats a run")
    validation: str = _setting(
        "async",
        "invalid queue submissions: 'async' REQUEST_INVALID jobs, 'sync' a 422 at submit",
        choices=("async", "sync"),
    )
    api_keys: Mapping[str, tuple[str, ...]] = _setting(
        {}, 'only these keys, per provider: {"openai": ["sk-1"]} (default: any key)'
    )
    slots: int = _setting(16, "worker slots per (provider, model); more jobs wait IN_QUEUE")
    model_slots: Mapping[str, int] = _setting({}, 'slots per model id: {"gpt_image_2": 2}')
    latency_sigma: float = _setting(0.15, "spread of the seeded service times (log-normal)")
    base_seconds: Mapping[str, Mapping[str, float]] = _setting(
        {}, 'service seconds per family and quality: {"gpt-image-2": {"medium": 60}}'
    )
    failure_rate: float = _setting(0.0, "share of jobs that end INFERENCE_FAILURE (0 to 1)")
    blocked_terms: tuple[str, ...] = _setting((), "prompts containing one are blocked")
    steering: bool = _setting(False, "honour X-Imgemu-Outcome and X-Imgemu-Latency headers")
    rate_limit: RateLimit = _setting(
        RateLimit, 'submissions per key: {"limit": 10, "window_seconds": 60} (0: off)'
    )
    balances: Mapping[str, float] = _setting({}, 'USD balance per key: {"k": 1.5}')
    default_balance_usd: float | None = _setting(
        None, "USD balance of keys not in balances (default unlimited)"
    )
    result_ttl: float = _setting(86400.0, "seconds of emulator time a result URL works")
    signing_secret: str = _setting("", "secret of result URL signatures (default from the seed)")
    fetch_remote: str = _setting(
        "off",
        "fetch URL inputs from the network: 'allowlist' hosts only",
        choices=("off", "allowlist"),
    )
    fetch_allowlist: tuple[str, ...] = _setting((), "hosts fetched with fetch_remote=allowlist")
    image_cache_mb: int = _setting(256, "memory for rendered images, MB")
    invalid_delay: float = _setting(
        0.5, "seconds before a REQUEST_INVALID or CONTENT_BLOCKED job completes"
    )
    keepalive_seconds: float = _setting(15.0, "real seconds between ':' lines of an idle stream")
    cors_origins: tuple[str, ...] = _setting(
        (), "origins a browser may call from ('*' for any); preflights answered (default off)"
    )
    shutdown_timeout: int = _setting(
        3, "seconds open requests get on SIGTERM; open streams end with an error event at once"
    )
    log_level: str = _setting(
        "info", "log level", choices=("critical", "error", "warning", "info", "debug", "trace")
    )
    log_format: str = _setting("text", "log lines as text or JSON", choices=("text", "json"))
    log_requests: str = _setting(
        "refused",
        "requests logged: 'refused' (4xx/5xx, with the reason), 'all', or 'off'",
        choices=("off", "refused", "all"),
    )

    def __post_init__(self) -> None:
        _check(self)

    def slots_for(self, model: str) -> int:
        """Worker slots of one model's pool."""
        return self.model_slots.get(model, self.slots)


def _check(s: Settings) -> None:
    problems = []
    if s.queue_provider not in PROVIDERS_QUEUE:
        problems.append(f"queue_provider must be one of {', '.join(PROVIDERS_QUEUE)}")
    if s.time_scale <= 0:
        problems.append("time_scale must be greater than 0")
    if s.keepalive_seconds <= 0:
        problems.append("keepalive_seconds must be greater than 0")
    if s.clock not in ("real", "virtual"):
        problems.append("clock must be 'real' or 'virtual'")
    if s.validation not in ("async", "sync"):
        problems.append("validation must be 'async' or 'sync'")
    if s.slots < 1 or any(v < 1 for v in s.model_slots.values()):
        problems.append("slots must be at least 1")
    if not 0.0 <= s.failure_rate <= 1.0:
        problems.append("failure_rate must be between 0 and 1")
    if s.fetch_remote not in ("off", "allowlist"):
        problems.append("fetch_remote must be 'off' or 'allowlist'")
    if s.rate_limit.limit < 0 or s.rate_limit.window_seconds <= 0:
        problems.append("rate_limit needs limit >= 0 and window_seconds > 0")
    if s.shutdown_timeout < 0:
        problems.append("shutdown_timeout must not be negative")
    for name in ("log_format", "log_requests", "log_level"):
        choices = _FIELDS[name].metadata["choices"]
        if getattr(s, name) not in choices:
            problems.append(f"{name} must be one of {', '.join(choices)}")
    if not 1 <= s.port <= 65535:
        problems.append("port must be between 1 and 65535")
    if problems:
        raise SettingsError("; ".join(problems))


_FIELDS = {f.name: f for f in fields(Settings)}

_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "host": {"type": "string"},
        "port": {"type": "integer"},
        "queue_provider": {"enum": list(PROVIDERS_QUEUE)},
        "time_scale": {"type": "number", "exclusiveMinimum": 0},
        "clock": {"enum": ["real", "virtual"]},
        "clock_start": {"type": ["number", "null"]},
        "seed": {"type": "integer"},
        "validation": {"enum": ["async", "sync"]},
        "api_keys": {
            "type": "object",
            "propertyNames": {"enum": list(PROVIDERS)},
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "slots": {"type": "integer", "minimum": 1},
        "model_slots": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 1},
        },
        "latency_sigma": {"type": "number", "minimum": 0},
        "keepalive_seconds": {"type": "number", "exclusiveMinimum": 0},
        "base_seconds": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        "failure_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "blocked_terms": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "steering": {"type": "boolean"},
        "rate_limit": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "limit": {"type": "integer", "minimum": 0},
                "window_seconds": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        "balances": {"type": "object", "additionalProperties": {"type": "number"}},
        "default_balance_usd": {"type": ["number", "null"]},
        "result_ttl": {"type": "number", "exclusiveMinimum": 0},
        "signing_secret": {"type": "string"},
        "fetch_remote": {"enum": ["off", "allowlist"]},
        "fetch_allowlist": {"type": "array", "items": {"type": "string"}},
        "image_cache_mb": {"type": "integer", "minimum": 0},
        "invalid_delay": {"type": "number", "minimum": 0},
        "cors_origins": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "shutdown_timeout": {"type": "integer", "minimum": 0},
        "log_level": {"enum": list(_FIELDS["log_level"].metadata["choices"])},
        "log_format": {"enum": list(_FIELDS["log_format"].metadata["choices"])},
        "log_requests": {"enum": list(_FIELDS["log_requests"].metadata["choices"])},
    },
}
_FILE_VALIDATOR = jsonschema_rs.validator_for(_FILE_SCHEMA)
_ENV_PREFIX = "IMGEMU_"


def from_mapping(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Settings values from a mapping (a file, the environment, flags), checked and typed."""
    errors = [
        f"{'.'.join(str(p) for p in e.instance_path) or '(top)'}: {e.message}"
        for e in _FILE_VALIDATOR.iter_errors(dict(data))
    ]
    if errors:
        raise SettingsError(f"{source}: " + "; ".join(errors))
    values: dict[str, Any] = dict(data)
    if "rate_limit" in values:
        values["rate_limit"] = RateLimit(**values["rate_limit"])
    if "api_keys" in values:
        values["api_keys"] = {k: tuple(v) for k, v in values["api_keys"].items()}
    for name in ("blocked_terms", "fetch_allowlist", "cors_origins"):
        if name in values:
            values[name] = tuple(values[name])
    return values


def read_file(path: Path) -> dict[str, Any]:
    """Settings values from a TOML or YAML file, checked against the settings schema."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the file must hold a mapping of settings")
    return from_mapping(data, str(path))


# Variables of the imgemu family that are not emulator settings: not worth a warning.
_OTHER_VARIABLES = frozenset({"IMGEMU_CONFIG", "IMGEMU_URL"})
_LISTS = frozenset(name for name, f in _FIELDS.items() if str(f.type) == "tuple[str, ...]")


def read_env(
    environ: Mapping[str, str], warn: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Settings values from ``IMGEMU_<NAME>`` variables (JSON for structured values; a list
    may also be comma-separated). A variable that names no setting is passed to ``warn``."""
    data: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(_ENV_PREFIX) or key in _OTHER_VARIABLES:
            continue
        name = key[len(_ENV_PREFIX) :].lower()
        if name not in _FIELDS:
            if warn is not None:
                close = difflib.get_close_matches(name, _FIELDS, n=1)
                hint = f" (did you mean {env_name(close[0])}?)" if close else ""
                warn(f"{key} is not a setting and is ignored{hint}")
            continue
        if str(_FIELDS[name].type) == "str":
            data[name] = raw
            continue
        try:
            data[name] = json.loads(raw)
        except json.JSONDecodeError as exc:
            if name in _LISTS:
                data[name] = [item.strip() for item in raw.split(",") if item.strip()]
                continue
            raise SettingsError(f"{key}: expected a JSON value, got {raw!r}") from exc
    return from_mapping(data, "environment")


def env_name(name: str) -> str:
    """The environment variable of setting ``name``."""
    return _ENV_PREFIX + name.upper()


def describe() -> list[tuple[str, Any, str, tuple[str, ...] | None]]:
    """Every setting as ``(name, default, help, choices)``, in declaration order."""
    defaults = Settings()
    return [
        (f.name, getattr(defaults, f.name), f.metadata["help"], f.metadata.get("choices"))
        for f in fields(Settings)
    ]


def load(
    overrides: Mapping[str, Any] | None = None,
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """Build the settings: ``overrides`` (CLI flags) over the environment over ``config``.

    ``warn`` receives what is worth telling but not worth refusing to start for (a variable
    that names no setting)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_path = config or (Path(env["IMGEMU_CONFIG"]) if env.get("IMGEMU_CONFIG") else None)
    if config_path is not None:
        values.update(read_file(config_path))
    values.update(read_env(env, warn))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return replace(Settings(), **values)

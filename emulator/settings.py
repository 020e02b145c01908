"""One typed settings object, read once: CLI flags over ``IMGEMU_*`` variables over a config file.

A config file is TOML (``.toml``) or YAML (``.yaml``/``.yml``) with the same keys as ``Settings``;
it is checked against a JSON Schema so a typo names the key instead of being ignored.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
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


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the emulator can be told; the defaults are those of ``imgemu serve``."""

    host: str = "127.0.0.1"
    port: int = 8000
    queue_provider: str = "seacloud"  # which provider owns the bare /model/... path
    time_scale: float = 0.1  # multiplies every service time: 1.0 is as slow as the real service
    clock: str = "real"  # "real" or "virtual" (moved only through /_emulator/clock)
    clock_start: float | None = None  # virtual clock start (Unix seconds); None = now
    seed: int = 0
    validation: str = "async"  # "async": REQUEST_INVALID jobs; "sync": 422 at submit
    api_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # provider -> keys
    slots: int = 16  # worker slots per (provider, model)
    model_slots: Mapping[str, int] = field(default_factory=dict)  # per model id
    latency_sigma: float = 0.15
    base_seconds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # overrides
    failure_rate: float = 0.0  # share of jobs that end INFERENCE_FAILURE
    blocked_terms: tuple[str, ...] = ()  # prompts containing one end CONTENT_BLOCKED
    steering: bool = False  # honour X-Imgemu-* request headers
    rate_limit: RateLimit = field(default_factory=RateLimit)
    balances: Mapping[str, float] = field(default_factory=dict)  # key -> USD; absent = unlimited
    default_balance_usd: float | None = (
        None  # balance of keys not in ``balances``; None = unlimited
    )
    result_ttl: float = 86400.0  # seconds of emulator time a result URL works
    signing_secret: str = ""  # result URL signatures; "" derives one from the seed
    fetch_remote: str = "off"  # "off" or "allowlist"
    fetch_allowlist: tuple[str, ...] = ()
    image_cache_mb: int = 256
    invalid_delay: float = 0.5  # seconds before a REQUEST_INVALID / CONTENT_BLOCKED job completes
    log_level: str = "info"
    keepalive_seconds: float = 15.0  # real seconds between ``:`` lines of a waiting stream

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
    if not 1 <= s.port <= 65535:
        problems.append("port must be between 1 and 65535")
    if problems:
        raise SettingsError("; ".join(problems))


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
        "log_level": {"enum": ["critical", "error", "warning", "info", "debug", "trace"]},
    },
}
_FILE_VALIDATOR = jsonschema_rs.validator_for(_FILE_SCHEMA)
_SCALARS = {f.name: f for f in fields(Settings)}
_ENV_PREFIX = "IMGEMU_"


def _from_mapping(data: Mapping[str, Any], source: str) -> dict[str, Any]:
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
    for name in ("blocked_terms", "fetch_allowlist"):
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
    return _from_mapping(data, str(path))


def read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings values from ``IMGEMU_<NAME>`` variables (JSON for structured values)."""
    data: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(_ENV_PREFIX) or key == "IMGEMU_CONFIG":
            continue
        name = key[len(_ENV_PREFIX) :].lower()
        if name not in _SCALARS:
            raise SettingsError(f"{key}: not a setting (known: {', '.join(sorted(_SCALARS))})")
        field_type = str(_SCALARS[name].type)
        if field_type == "str":
            data[name] = raw
            continue
        try:
            data[name] = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{key}: expected a JSON value, got {raw!r}") from exc
    return _from_mapping(data, "environment")


def load(
    overrides: Mapping[str, Any] | None = None,
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings: ``overrides`` (CLI flags) over the environment over ``config``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_path = config or (Path(env["IMGEMU_CONFIG"]) if env.get("IMGEMU_CONFIG") else None)
    if config_path is not None:
        values.update(read_file(config_path))
    values.update(read_env(env))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return replace(Settings(), **values)

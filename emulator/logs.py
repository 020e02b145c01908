"""Log lines as text or JSON, for the emulator and for uvicorn alike.

``log_config(settings)`` is handed to uvicorn (``logging.config.dictConfig`` form), so the
server's own lines and the emulator's share one format. uvicorn's access log stays off: the
emulator logs requests itself (``emulator.http.middleware.request_log``), refused ones with the
reason.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from emulator.settings import Settings

LOGGER = "imgemu"
# LogRecord attributes of every record; anything else was passed as ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's ``log_config``: every logger in ``settings.log_format`` at its level."""
    text = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    formatter = {"()": f"{__name__}.JsonFormatter"} if settings.log_format == "json" else text
    level = settings.log_level.upper() if settings.log_level != "trace" else "DEBUG"
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": {
            name: {"handlers": ["default"], "level": level, "propagate": False}
            for name in ("uvicorn", "uvicorn.error", LOGGER)
        }
        | {"uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}},
    }

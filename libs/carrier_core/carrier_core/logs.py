"""JSON logs, one object per line, with correlation keys appended once per request."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from typing import Any

_keys: ContextVar[dict[str, Any]] = ContextVar("carrier_log_keys", default={})  # noqa: B039 - never mutated: each change sets a new dict

# LogRecord's own attributes; anything else on a record came from `extra=`.
_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def mask_phone(number: str | None) -> str | None:
    """A phone number safe to log: its channel prefix and last four digits only."""
    if not number:
        return number
    prefix, _, address = number.rpartition(":")
    masked = "***" + address[-4:] if len(address) > 4 else "***"
    return f"{prefix}:{masked}" if prefix else masked


def append_keys(**keys: Any) -> None:
    """Add correlation keys (request id, message sid) to every later line of this request."""
    _keys.set({**_keys.get(), **keys})


def clear_keys(**base: Any) -> None:
    """Start a request's keys afresh from `base`."""
    _keys.set(dict(base))


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object: level, logger, message, keys and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_keys.get(),
        }
        attributes = vars(record)
        line.update({name: attributes[name] for name in sorted(attributes.keys() - _RESERVED)})
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, default=str, separators=(",", ":"))


def configure_logging(service: str, stage: str, level: int = logging.INFO) -> None:
    """Send every log line through JsonFormatter on stdout; idempotent."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h.formatter, JsonFormatter)), None)
    if handler is None:
        for old in list(root.handlers):
            root.removeHandler(old)
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    # JsonFormatter writes none of what logging would otherwise gather for every record: the
    # calling frame (found by walking the stack), the thread, the process. Skipping them is
    # the logging HOWTO's own optimisation (https://docs.python.org/3/howto/logging.html#optimization)
    # and saves a few microseconds a line.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # botocore at INFO/DEBUG can print request parameters, which hold message bodies.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("pynamodb").setLevel(logging.WARNING)
    clear_keys(service=service, stage=stage)

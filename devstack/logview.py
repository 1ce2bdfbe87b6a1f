"""`make dev`'s console: the parts' output as lines a person reads.

The services log one JSON object per line (what CloudWatch wants); on a terminal that is a
wall of braces. Each line becomes `[part] LEVEL message key=value ...`, with the keys every
line of a request repeats (service, stage) left out. Lines that are not JSON pass unchanged.
"""

from __future__ import annotations

import json
from typing import Any

# Keys that say nothing new on a console where the part's name already leads the line.
_QUIET_KEYS = frozenset({"level", "logger", "message", "service", "stage"})


def render_line(part: str, line: str) -> str:
    """The console form of one output line of `part`."""
    text = line.rstrip("\n")
    record = _json_object(text)
    if record is None:
        return f"[{part}] {text}\n"
    if "_aws" in record:  # a CloudWatch EMF line: its metric values and dimensions are the news
        record = {"level": "METRIC", "message": "", **{k: v for k, v in record.items() if k != "_aws"}}
    fields = " ".join(f"{key}={_short(value)}" for key, value in record.items() if key not in _QUIET_KEYS)
    level = str(record.get("level", "INFO"))
    message = str(record.get("message", ""))
    return f"[{part}] {level:<7} {'  '.join(filter(None, (message, fields)))}\n"


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _short(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    rendered = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return rendered if " " not in rendered else json.dumps(rendered)

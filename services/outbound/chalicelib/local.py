"""The local stage's on-demand worker run: its JSON body, checked like every other input."""

from __future__ import annotations

import math

from carrier_core.errors import InvalidField

from chalicelib.request import parse_json_object

FIELDS = frozenset({"at"})
# Year 5138: far enough for any test, and an integer DynamoDB can compare (38 digits at most).
MAX_AT = 10**11


def retry_at(raw_body: str | bytes | None) -> float | None:
    """The epoch second to run the worker as if at, or None for now; `{}` or no body is now."""
    if not raw_body or not raw_body.strip():
        return None
    data = parse_json_object(raw_body)
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise InvalidField(f"unknown field {unknown[0][:40]}; accepted: at")
    at = data.get("at")
    if at is None:
        return None
    # bool is an int to Python; NaN and 1e999 parse as floats the worker cannot use.
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at) or not 0 <= at <= MAX_AT:
        raise InvalidField(f"at must be a number of epoch seconds from 0 to {MAX_AT}")
    return float(at)

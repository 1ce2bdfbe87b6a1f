"""Faults armed through the control API: how the next creates go wrong.

A 429 or a 5xx instead of the create, a 5xx after it (Twilio's 20500 that did create), or
an answer held past a client's read timeout; see the README's control API.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devstack.sandbox import errors
from devstack.sandbox.errors import TwilioApiError


class Faults:
    """The next `count` creates go wrong (count -1: until cleared).

    `status` is what they answer (429, 500, 502, 503; omitted: Twilio's own answer, only
    with a delay). `retry_after` is seconds, or a string sent as the header verbatim (an
    HTTP date, or a value no client should take for a number). With `after_create` the message is created first, callbacks and all,
    as Twilio sometimes does before a 5xx; `delay` holds the answer that many seconds,
    so a client whose read timeout is shorter never sees it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: dict[str, Any] | None = None

    def set(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        status, count, retry_after = spec.get("status"), spec.get("count", 1), spec.get("retry_after")
        after_create, delay = spec.get("after_create", False), spec.get("delay", 0)
        if status not in (None, 429, 500, 502, 503) or not isinstance(count, int) or count == 0 or count < -1:
            raise ValueError(
                'expected {"status": 429|500|502|503, "count": N or -1, "retry_after": seconds, '
                '"after_create": true|false, "delay": seconds}'
            )
        if retry_after is not None and not _retry_after_ok(retry_after):
            raise ValueError(
                "retry_after must be a whole number of seconds, or a header value (an HTTP date, "
                "or a malformed one to test a client) of up to 8192 Latin-1 characters without CR or LF"
            )
        if not isinstance(after_create, bool):
            raise ValueError("after_create must be true or false")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 120:
            raise ValueError("delay must be a number of seconds from 0 to 120")
        if status is None and not delay:
            raise ValueError("a fault needs a status, a delay, or both")
        if status == 429 and after_create:
            raise ValueError("Twilio's 429 means the request was not processed: it never comes after a create")
        with self._lock:
            self._fault = {
                "status": status,
                "count": count,
                "retry_after": retry_after,
                "after_create": after_create or status is None,
                "delay": delay,
            }
            return dict(self._fault)

    def clear(self) -> None:
        with self._lock:
            self._fault = None

    def current(self) -> dict[str, Any] | None:
        with self._lock:
            return dict(self._fault) if self._fault else None

    def take(self) -> Fault | None:
        """The fault this request meets, if one is armed; counts it down."""
        with self._lock:
            fault = self._fault
            if fault is None:
                return None
            if fault["count"] > 0:
                fault["count"] -= 1
                if fault["count"] == 0:
                    self._fault = None
            fault = dict(fault)
        error: TwilioApiError | None = None
        if fault["status"] == 429:
            error = errors.too_many_requests(fault["retry_after"])
        elif fault["status"] is not None:
            error = errors.server_error(fault["status"])
            if fault["retry_after"] is not None:
                error.headers["Retry-After"] = str(fault["retry_after"])
        return Fault(error, bool(fault["after_create"]), float(fault["delay"]))


def _retry_after_ok(value: object) -> bool:
    """Seconds (Twilio's form), or any string an HTTP header can carry, sent verbatim."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    if not isinstance(value, str) or not 0 < len(value) <= 8192 or "\r" in value or "\n" in value:
        return False
    try:
        value.encode("latin-1")  # http.server writes header lines as Latin-1
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Fault:
    """What an armed fault does to one create: `error` (None: the normal answer) after
    `delay` seconds, before or after the message is created."""

    error: TwilioApiError | None
    after_create: bool
    delay: float

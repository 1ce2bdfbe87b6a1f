"""Redacting a message as Twilio does: the update with `Body=""`.

Twilio removes the body of a message only once it is complete; before that it answers 400
code 20009 ("Cannot delete message because it has not been completed"), and the caller
tries again later (https://www.twilio.com/docs/api/errors/20009). The control API can make
the next redactions answer 20009 whatever the status, so tests need not catch a message in
flight: `POST /_sandbox/redaction-refusals {"count": N}`.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timezone
from typing import Any

from devstack.sandbox import errors
from devstack.sandbox.errors import TwilioApiError
from devstack.sandbox.messages import Message

# A message still on its way; any other status is complete (final, or received).
IN_FLIGHT = frozenset({"accepted", "scheduled", "queued", "sending"})


def not_complete() -> TwilioApiError:
    return TwilioApiError(400, 20009, "Cannot delete message because it has not been completed")


class Refusals:
    """How many of the next redactions answer 20009 although the message is complete."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.left = 0

    def set(self, spec: Any) -> dict[str, int]:
        count = spec.get("count") if isinstance(spec, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 1000:
            raise ValueError("count must be a whole number from 0 to 1000")
        with self.lock:
            self.left = count
        return {"count": count}

    def current(self) -> dict[str, int]:
        with self.lock:
            return {"count": self.left}

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def redact(message: Message, form: dict[str, list[str]], refusals: Refusals) -> None:
    """Apply `Body=""` to `message` (the caller holds the sandbox's lock): 20009 while it is
    in flight or a refusal is pending; a non-empty Body is 400 20001, as Twilio only
    accepts an empty one."""
    body = form.get("Body")
    if body is None:
        raise errors.invalid(20001, "Missing required parameter Body or Status")
    if body != [""]:
        raise errors.invalid(20001, "Body may only be updated to the empty string (redaction)")
    if message.status in IN_FLIGHT or refusals.take():
        raise not_complete()
    message.request = dataclasses.replace(message.request, body="")
    message.date_updated = datetime.now(timezone.utc)

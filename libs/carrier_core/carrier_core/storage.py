"""Storage failures classified in one place, and the time budget of every storage call.

Every DynamoDB call goes through PynamoDB, which wraps what botocore raised in its own
exception with the original as `cause`. PynamoDB 6.1's `cause_response_code` assumes that
cause carries a `response` dict; botocore's ReadTimeoutError carries `response=None`, so the
property raises AttributeError and a timeout used to escape as a 500. Nothing here reads
that property: `response_code` walks the cause chain itself.

| failure | answer |
| --- | --- |
| connection refused or reset, connect/read timeout | 503 `storage_unavailable`, retryable |
| throttling, DynamoDB's own 5xx, a transaction conflict | 503 `storage_unavailable`, retryable |
| a missing table, credentials refused, any code not named below | 503 `storage_unavailable`, retryable |
| `ValidationException` (a key or item over DynamoDB's size limits) | 400 `value_not_storable` |

A value DynamoDB refuses is refused on every retry, so it is a 400 Twilio will not retry
forever; everything else may pass on a later try.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from carrier_core.errors import CarrierError, StorageUnavailable, ValueNotStorable

log = logging.getLogger(__name__)

# ---- the budget --------------------------------------------------------------
# Twilio drops a webhook request after 15 s
# (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides, `rt`), and then
# retries it as if we had failed. Each storage call may take at most ATTEMPTS tries of
# CONNECT + READ seconds plus botocore's standard-mode backoff before the first retry (at
# most 1 s): 2 x (1 + 2) + 1 = 7 s. A webhook makes one call that can be slow (a status
# callback's second write runs only when the first answered), so it answers, or fails with
# 503, within WEBHOOK_BUDGET_SECONDS, leaving Lambda and API Gateway most of the rest.
# DynamoDB answers in milliseconds; 2 s of read is generous and a frozen endpoint costs 7 s.
TWILIO_TIMEOUT_SECONDS = 15.0
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
MAX_RETRY_ATTEMPTS = 1  # retries after the first try, as PynamoDB counts them
FIRST_RETRY_BACKOFF_SECONDS = 1.0  # botocore standard mode: random(0, 1) x 2^0
WEBHOOK_BUDGET_SECONDS = 10.0


def worst_case_seconds() -> float:
    """The longest one storage call can take before it fails, retries and backoff included."""
    attempts = 1 + MAX_RETRY_ATTEMPTS
    return attempts * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + MAX_RETRY_ATTEMPTS * FIRST_RETRY_BACKOFF_SECONDS


# ---- the classification ------------------------------------------------------

CONDITION_FAILED = "ConditionalCheckFailedException"
VALIDATION = "ValidationException"
# A transaction's per-item reason codes (CancellationReasons), without "Exception".
REASON_CONDITION_FAILED = "ConditionalCheckFailed"
REASON_VALIDATION = "ValidationError"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps: PynamoDB's `cause`, then Python's `__cause__`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "cause", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__


def response_code(exc: BaseException) -> str | None:
    """DynamoDB's error code for a failed call, or None when no answer came (timeouts too)."""
    for cause in _causes(exc):
        response: Any = getattr(cause, "response", None)
        if isinstance(cause, ClientError) or isinstance(response, dict):
            error = (response or {}).get("Error") or {}
            code = error.get("Code") if isinstance(error, dict) else None
            if code:
                return str(code)
    return None


def cancellation_codes(exc: BaseException) -> list[str | None]:
    """Each item's reason code in a canceled transaction, in the order the items were written."""
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return [getattr(reason, "code", None) if reason is not None else None for reason in reasons]


def is_condition_failure(exc: BaseException) -> bool:
    """True when a write was refused only by its own condition (not an outage)."""
    return response_code(exc) == CONDITION_FAILED


def storage_error(exc: BaseException) -> CarrierError:
    """The taxonomy error for a failed storage call; raise it `from exc`."""
    code = response_code(exc)
    reasons = cancellation_codes(exc)
    if code == VALIDATION or REASON_VALIDATION in reasons:
        return ValueNotStorable()
    return StorageUnavailable()


def failure_kind(exc: BaseException) -> str:
    """What went wrong, safe to log: DynamoDB's code, else the innermost exception's class."""
    return response_code(exc) or [type(cause).__name__ for cause in _causes(exc)][-1]


class Swallowed:
    """What `after_acceptance` caught: the error's code, or None when the block ran through."""

    code: str | None = None


@contextmanager
def after_acceptance(message: str, **fields: Any) -> Iterator[Swallowed]:
    """Run a write that follows Twilio's acceptance of a message: a failure is logged as
    `message` with `fields` and its code, and never raised, since an error there would tell
    the caller to send again, and the customer would be texted twice.

    Caught broadly on purpose: PynamoDB 6.1 answers a botocore ReadTimeoutError with an
    AttributeError (see above), not with its own exception.
    """
    swallowed = Swallowed()
    try:
        yield swallowed
    except Exception as exc:  # noqa: BLE001 - the one place that swallows after acceptance
        swallowed.code = exc.code if isinstance(exc, CarrierError) else type(exc).__name__
        log.error(message, extra={**fields, "error_code": swallowed.code})

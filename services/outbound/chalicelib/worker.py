"""The retry worker: sends due failed messages again, each claimed so only one worker sends it.

Runs every minute (app.retry_failed). The `due` index is sparse: only items with a
retry_state are in it, so a sent or dead item leaves it by losing that attribute.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pynamodb.exceptions import QueryError, UpdateError

from carrier_core.errors import CarrierError
from carrier_core.logs import append_keys
from carrier_core.models import FailedMessageModel, iso, utc_now
from carrier_core.settings import Settings
from carrier_core.storage import is_condition_failure, storage_error

from chalicelib.outcome import Kind, Metric, SendOutcome, metrics_for
from chalicelib.request import OutboundRequest
from chalicelib.retry import RetryPolicy, backoff
from chalicelib.send import Refused, Sent, Uncertain, deliver
from chalicelib.store import DEAD, SENT, UNKNOWN
from chalicelib.twilio_client import TwilioCallFailed

log = logging.getLogger(__name__)

PENDING = "pending"
BATCH = 25
RETRY_METRICS = {"sent": "RetrySent", "rescheduled": "RetryRescheduled", "dead": "RetryDead"}


@dataclass
class WorkerReport:
    """What one run did, by failed-message id, and the metrics its sends count (the app emits
    them, with the backlog: `due`)."""

    due: int = 0
    sent: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"due": self.due, "sent": self.sent, "rescheduled": self.rescheduled, "dead": self.dead, "unknown": self.unknown,
                "skipped": self.skipped}


def retry_due(
    settings: Settings,
    policy: RetryPolicy,
    time_left: Callable[[], float],
    now: float | None = None,
) -> WorkerReport:
    """Try every failed send due at `now` (default: the clock) while the time allows."""
    at = int(now if now is not None else time.time())
    report = WorkerReport()
    try:
        due = list(FailedMessageModel.due.query(PENDING, FailedMessageModel.next_attempt_at <= at, limit=BATCH))
    except QueryError as exc:
        raise storage_error(exc) from exc
    report.due = len(due)
    for item in due:
        # A search may come before the attempt: room for two Twilio calls.
        if time_left() < 2 * policy.attempt_seconds + policy.reserve_seconds:
            break
        if not claim(item, at, policy):
            report.skipped.append(item.id)
            continue
        append_keys(retry_id=item.id)
        state, metrics = retry_one(item, at, settings, policy, time_left)
        getattr(report, state).append(item.id)
        report.metrics += metrics
        if state in RETRY_METRICS:  # an unknown outcome counts as OutboundUnknown alone
            report.metrics.append((RETRY_METRICS[state], {}))
    return report


def claim(item: FailedMessageModel, at: int, policy: RetryPolicy) -> bool:
    """Take the item for `claim_seconds`; False when another worker holds it or it moved on.

    The index is read eventually consistent, so the condition re-checks everything the
    query selected on, against the item itself.
    """
    m = FailedMessageModel
    condition = (
        (m.retry_state == PENDING)  # not sent or dead since the index was read
        & (m.next_attempt_at <= at)  # not rescheduled by a worker that just finished it
        & (m.claimed_until.does_not_exist() | (m.claimed_until < at))  # no live claim by another worker
    )
    try:
        item.update(actions=[m.claimed_until.set(at + policy.claim_seconds)], condition=condition)
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise storage_error(exc) from exc
    return True


def retry_one(
    item: FailedMessageModel, at: int, settings: Settings, policy: RetryPolicy, time_left: Callable[[], float]
) -> tuple[str, list[Metric]]:
    """Send a claimed item once, through the API's own core; 'sent', 'rescheduled', 'dead'
    or 'unknown'.

    When an earlier attempt may have created the message, the core first searches Twilio
    for it and adopts what it finds and no other send owns: the worker never sends blindly
    after a 5xx or a lost answer either. The item's id owns the SID it gets.
    """
    request = OutboundRequest.from_dict(dict(item.request.as_dict()))
    since = _first_attempt(item)
    delivery = deliver(request, settings, replace(policy, max_attempts=1), time_left, since, item.id, maybe_created=bool(item.maybe_created))
    attempts = int(item.attempts)
    if isinstance(delivery, Uncertain):
        # Out of the due index for good: Twilio may have sent it, a reconciler decides.
        _finish(item, at, UNKNOWN, attempts + delivery.attempts, error=delivery.failure.describe() if delivery.failure else None)
        return "unknown", metrics_for(SendOutcome(Kind.UNKNOWN))
    if isinstance(delivery, Sent):
        outcome = SendOutcome(Kind.SENT, channel=request.channel, adopted=delivery.adopted, stored=delivery.stored)
        _finish(item, at, SENT, attempts + delivery.attempts, message_sid=delivery.item.sid)
        return "sent", metrics_for(outcome)
    if isinstance(delivery, Refused):
        error = delivery.failure.describe() if delivery.failure is not None else _describe(delivery.error)
        _finish(item, at, DEAD, attempts + (1 if delivery.failure is not None else 0), error=error)
        return "dead", metrics_for(SendOutcome(Kind.REFUSED, error=delivery.error, opt_out_learned=delivery.opt_out_learned))
    attempts += delivery.attempts
    failure = delivery.failure
    if attempts < policy.worker_max_attempts:
        wait = max(backoff(attempts - 1, policy.worker_base_delay, policy.worker_max_delay), failure.retry_after or 0.0)
        _reschedule(item, at, attempts, int(time.time() + wait), failure, delivery.maybe_created)
        return "rescheduled", []
    _finish(item, at, DEAD, attempts, error=failure.describe())
    return "dead", []


def _first_attempt(item: FailedMessageModel) -> datetime:
    """When the send was first tried: stored since the search needs it; else the item's age."""
    stamp = item.first_attempt_at or item.created_at
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _describe(error: CarrierError) -> dict[str, object]:
    return {"code": error.twilio_code, "category": error.code, "message": error.message}


def _finish(
    item: FailedMessageModel,
    at: int,
    state: str,
    attempts: int,
    message_sid: str | None = None,
    error: dict[str, object] | None = None,
) -> None:
    """Mark the item sent, dead or unknown: it leaves the due index by losing retry_state."""
    m = FailedMessageModel
    actions = [
        m.state.set(state),
        m.attempts.set(attempts),
        m.updated_at.set(iso(utc_now())),
        m.retry_state.remove(),
        m.next_attempt_at.remove(),
        m.claimed_until.remove(),
    ]
    if message_sid:
        actions.append(m.message_sid.set(message_sid))
    if state == UNKNOWN:
        actions.append(m.maybe_created.set(True))
    if error:
        actions += [m.twilio_error.set(error), m.category.set(str(error.get("category") or item.category)), m.retryable.set(False)]
    _update_claimed(item, actions)
    log.info("failed send finished", extra={"state": state, "attempts": attempts, "message_sid": message_sid})


def _reschedule(item: FailedMessageModel, at: int, attempts: int, next_at: int, failure: TwilioCallFailed, maybe_created: bool) -> None:
    m = FailedMessageModel
    actions = [
        m.maybe_created.set(True) if maybe_created else m.maybe_created.remove(),
        m.attempts.set(attempts),
        m.next_attempt_at.set(next_at),
        m.twilio_error.set(failure.describe()),
        m.category.set(failure.error.code),
        m.updated_at.set(iso(utc_now())),
        m.claimed_until.remove(),
    ]
    _update_claimed(item, actions)
    log.info("failed send rescheduled", extra={"attempts": attempts, "next_attempt_at": next_at, "error_code": failure.error.code})


def _update_claimed(item: FailedMessageModel, actions: list[Any]) -> None:
    """Apply `actions` only while our claim stands; a lost claim is logged, not raised."""
    m = FailedMessageModel
    try:
        item.update(actions=actions, condition=m.claimed_until == item.claimed_until)
    except Exception as exc:  # noqa: BLE001 - may follow Twilio's acceptance; PynamoDB 6.1 raises AttributeError on timeouts
        log.error("failed send not updated", extra={"retry_id": item.id, "error_type": type(exc).__name__})

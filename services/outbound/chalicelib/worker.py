"""The retry worker: sends due failed messages again, each claimed so only one worker sends it.

Runs every minute (app.retry_failed). The `due` index is sparse: only items with a
retry_state are in it, so a sent or dead item leaves it by losing that attribute.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pynamodb.exceptions import QueryError, UpdateError

from carrier_core.errors import CarrierError, RecipientOptedOut, StorageUnavailable
from carrier_core.logs import append_keys
from carrier_core.metrics import Metrics
from carrier_core.models import FailedMessageModel, iso, utc_now
from carrier_core.settings import Settings

from chalicelib.media import prepare_media
from chalicelib.request import OutboundRequest
from chalicelib.retry import RetryPolicy, backoff
from chalicelib.store import DEAD, SENT, accepted_item, check_opt_out, write_accepted
from chalicelib.twilio_client import TwilioCallFailed, create_message

log = logging.getLogger(__name__)

PENDING = "pending"
BATCH = 25


@dataclass
class WorkerReport:
    """What one run did, by failed-message id."""

    due: int = 0
    sent: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"due": self.due, "sent": self.sent, "rescheduled": self.rescheduled, "dead": self.dead, "skipped": self.skipped}


def retry_due(
    settings: Settings,
    policy: RetryPolicy,
    metrics: Metrics,
    time_left: Callable[[], float],
    now: float | None = None,
) -> WorkerReport:
    """Try every failed send due at `now` (default: the clock) while the time allows."""
    at = int(now if now is not None else time.time())
    report = WorkerReport()
    try:
        due = list(FailedMessageModel.due.query(PENDING, FailedMessageModel.next_attempt_at <= at, limit=BATCH))
    except QueryError as exc:
        raise StorageUnavailable() from exc
    report.due = len(due)
    metrics.add("FailedMessagesBacklog", len(due))
    for item in due:
        if time_left() < policy.attempt_seconds + policy.reserve_seconds:
            break
        if not claim(item, at, policy):
            report.skipped.append(item.id)
            continue
        append_keys(retry_id=item.id)
        outcome = retry_one(item, at, settings, policy)
        getattr(report, outcome).append(item.id)
        metrics.add({"sent": "RetrySent", "rescheduled": "RetryRescheduled", "dead": "RetryDead"}[outcome])
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
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise StorageUnavailable() from exc
    return True


def retry_one(item: FailedMessageModel, at: int, settings: Settings, policy: RetryPolicy) -> str:
    """Send a claimed item once; 'sent', 'rescheduled' or 'dead'."""
    request = OutboundRequest.from_dict(dict(item.request.as_dict()))
    attempts = int(item.attempts) + 1
    try:
        check_opt_out(request)
        # The same checks and conversion as the first try: the stored request keeps the
        # caller's URLs, never links that expire (or carry a signature).
        media = prepare_media(request.media_urls, settings)
        accepted = create_message(settings, replace(request, media_urls=media.sent_urls) if media.items else request)
    except RecipientOptedOut as refused:
        _finish(item, at, DEAD, attempts, error={"code": refused.twilio_code, "category": refused.code, "message": refused.message})
        return "dead"
    except TwilioCallFailed as failure:
        if failure.transient and attempts < policy.worker_max_attempts:
            wait = max(backoff(attempts - 1, policy.worker_base_delay, policy.worker_max_delay), failure.retry_after or 0.0)
            _reschedule(item, at, attempts, int(time.time() + wait), failure)
            return "rescheduled"
        _finish(item, at, DEAD, attempts, error=failure.describe())
        return "dead"
    except CarrierError as refused:
        if refused.retryable:
            raise  # the bucket, not the media: the claim lapses and a later run tries again
        _finish(item, at, DEAD, attempts, error={"code": refused.twilio_code, "category": refused.code, "message": refused.message})
        return "dead"
    sent = accepted_item(request, accepted, settings)
    if media.items:
        sent.media = [m.item() for m in media.items]
    try:
        write_accepted(sent)
    except CarrierError as exc:
        log.error("accepted message not stored", extra={"message_sid": accepted.sid, "error_code": exc.code})
    _finish(item, at, SENT, attempts, message_sid=accepted.sid)
    return "sent"


def _finish(
    item: FailedMessageModel,
    at: int,
    state: str,
    attempts: int,
    message_sid: str | None = None,
    error: dict[str, object] | None = None,
) -> None:
    """Mark the item sent or dead: it leaves the due index by losing retry_state."""
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
    if error:
        actions += [m.twilio_error.set(error), m.category.set(str(error.get("category") or item.category)), m.retryable.set(False)]
    _update_claimed(item, actions)
    log.info("failed send finished", extra={"state": state, "attempts": attempts, "message_sid": message_sid})


def _reschedule(item: FailedMessageModel, at: int, attempts: int, next_at: int, failure: TwilioCallFailed) -> None:
    m = FailedMessageModel
    actions = [
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
    except UpdateError as exc:
        log.error("failed send not updated", extra={"retry_id": item.id, "error_type": type(exc).__name__})

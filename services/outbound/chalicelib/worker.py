"""The retry worker: sends due failed messages again, each claimed so only one worker sends it
(the failed send's life and its due index: carrier_core.failed_sends).

Runs every minute (app.retry_failed). The `due` index is sparse: only items with a
retry_state are in it, so a sent or dead item leaves it by losing that attribute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from carrier_core import failed_sends
from carrier_core.errors import CarrierError, TenantNotFound
from carrier_core.failed_sends import FailedState
from carrier_core.logs import append_keys
from carrier_core.metrics import Fact
from carrier_core.models import FailedMessageModel
from carrier_core.settings import Settings
from carrier_core.tenants import TenantDirectory, tenant_of

from chalicelib.erasure import JOB as ERASE_JOB
from chalicelib.erasure import retry_job as erase_job
from chalicelib.redaction import JOB, retry_job
from chalicelib.outcome import Kind, SendOutcome, metrics_for
from chalicelib.request import OutboundRequest
from chalicelib.retry import RetryPolicy, backoff
from chalicelib.send import Refused, Sent, Uncertain, deliver

log = logging.getLogger(__name__)

BATCH = 25
REDACTION_METRICS = {"sent": "RedactionDone", "rescheduled": "RedactionRescheduled", "dead": "RedactionFailed"}
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
    metrics: list[Fact] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "due": self.due,
            "sent": self.sent,
            "rescheduled": self.rescheduled,
            "dead": self.dead,
            "unknown": self.unknown,
            "skipped": self.skipped,
        }


def retry_due(
    settings: Settings,
    policy: RetryPolicy,
    time_left: Callable[[], float],
    now: float | None = None,
    tenants: TenantDirectory | None = None,
) -> WorkerReport:
    """Try every failed send due at `now` (default: the clock) while the time allows, each
    with its tenant's Twilio account (`tenants`, the container's cache)."""
    tenants = tenants or TenantDirectory(settings)
    at = int(now if now is not None else time.time())
    report = WorkerReport()
    due = failed_sends.due(at, limit=BATCH)
    report.due = len(due)
    for item in due:
        # A search may come before the attempt: room for two Twilio calls.
        if time_left() < 2 * policy.attempt_seconds + policy.reserve_seconds:
            break
        if not failed_sends.claim(item, at, policy.claim_seconds):
            report.skipped.append(item.id)
            continue
        append_keys(retry_id=item.id)
        state, metrics = retry_one(item, tenants, policy, time_left)
        getattr(report, state).append(item.id)
        report.metrics += metrics
        if state in RETRY_METRICS and item.job is None:  # an unknown outcome counts as OutboundUnknown alone
            report.metrics.append(Fact(RETRY_METRICS[state]))
    return report


def retry_one(
    item: FailedMessageModel, tenants: TenantDirectory, policy: RetryPolicy, time_left: Callable[[], float]
) -> tuple[str, list[Fact]]:
    """Send a claimed item once, through the API's own core; 'sent', 'rescheduled', 'dead'
    or 'unknown'.

    When an earlier attempt may have created the message, the core first searches Twilio
    for it and adopts what it finds and no other send owns: the worker never sends blindly
    after a 5xx or a lost answer either. The item's id owns the SID it gets.
    """
    if item.job == JOB:
        return _redact_again(item, tenants, policy)
    if item.job == ERASE_JOB:
        return _erase_again(item, tenants, policy, time_left)
    request = OutboundRequest.from_dict(dict(item.request.as_dict()))
    append_keys(tenant=request.tenant)
    try:
        settings = tenants.settings_for(request.tenant)  # the tenant's own Twilio account
    except TenantNotFound as gone:
        # Removed since the send was kept: nothing may send for it now.
        failed_sends.finish(item, FailedState.DEAD, int(item.attempts), error=_describe(gone))
        return "dead", []
    since = _first_attempt(item)
    attempts = int(item.attempts)
    try:
        delivery = deliver(
            request, settings, replace(policy, max_attempts=1), time_left, since, item.id, maybe_created=bool(item.maybe_created)
        )
    except CarrierError as unavailable:
        if not unavailable.retryable:
            raise
        # A check before Twilio's Messages API failed for now (the Content API, a store):
        # nothing was sent. It counts as an attempt, so an outage that lasts ends the send.
        return _reschedule(item, attempts + 1, _describe(unavailable), None, bool(item.maybe_created), policy)
    if isinstance(delivery, Uncertain):
        # Out of the due index for good: Twilio may have sent it, a reconciler decides.
        failed_sends.finish(
            item, FailedState.UNKNOWN, attempts + delivery.attempts, error=delivery.failure.describe() if delivery.failure else None
        )
        return "unknown", metrics_for(SendOutcome(Kind.UNKNOWN, channel=request.channel))
    if isinstance(delivery, Sent):
        outcome = SendOutcome(Kind.SENT, channel=request.channel, adopted=delivery.adopted, stored=delivery.stored)
        failed_sends.finish(item, FailedState.SENT, attempts + delivery.attempts, message_sid=delivery.item.sid)
        return "sent", metrics_for(outcome)
    if isinstance(delivery, Refused):
        error = delivery.failure.describe() if delivery.failure is not None else _describe(delivery.error)
        failed_sends.finish(item, FailedState.DEAD, attempts + (1 if delivery.failure is not None else 0), error=error)
        return "dead", metrics_for(
            SendOutcome(Kind.REFUSED, error=delivery.error, opt_out_learned=delivery.opt_out_learned, channel=request.channel)
        )
    failure = delivery.failure
    return _reschedule(item, attempts + delivery.attempts, failure.describe(), failure.retry_after, delivery.maybe_created, policy)


def _reschedule(
    item: FailedMessageModel, attempts: int, error: dict[str, object], retry_after: float | None, maybe_created: bool, policy: RetryPolicy
) -> tuple[str, list[Fact]]:
    """Back in the due index after a backoff, or dead once the attempts ran out."""
    if attempts < policy.worker_max_attempts:
        wait = max(backoff(attempts - 1, policy.worker_base_delay, policy.worker_max_delay), retry_after or 0.0)
        failed_sends.reschedule(item, attempts, int(time.time() + wait), error, maybe_created)
        return "rescheduled", []
    failed_sends.finish(item, FailedState.DEAD, attempts, error=error)
    return "dead", []


def _job_again(
    item: FailedMessageModel, tenants: TenantDirectory, run: Callable[[Settings], tuple[str, list[Fact]]]
) -> tuple[str, list[Fact]]:
    """A kept job (a redaction, an erasure) run with its tenant's Twilio account; dead when
    the tenant was removed since."""
    tenant = tenant_of(item.tenant)
    append_keys(tenant=tenant)
    try:
        settings = tenants.settings_for(tenant)
    except TenantNotFound as gone:
        failed_sends.finish(item, FailedState.DEAD, int(item.attempts), error=_describe(gone))
        return "dead", []
    return run(settings)


def _redact_again(item: FailedMessageModel, tenants: TenantDirectory, policy: RetryPolicy) -> tuple[str, list[Fact]]:
    """A kept redaction (chalicelib/redaction.py)."""

    def run(settings: Settings) -> tuple[str, list[Fact]]:
        state = retry_job(item, settings, policy)
        return state, [Fact(REDACTION_METRICS[state])]

    return _job_again(item, tenants, run)


def _erase_again(
    item: FailedMessageModel, tenants: TenantDirectory, policy: RetryPolicy, time_left: Callable[[], float]
) -> tuple[str, list[Fact]]:
    """What is left of a customer's erasure (chalicelib/erasure.py)."""
    return _job_again(item, tenants, lambda settings: (erase_job(item, settings, policy, time_left), []))


def _first_attempt(item: FailedMessageModel) -> datetime:
    """When the send was first tried: stored since the search needs it; else the item's age."""
    stamp = item.first_attempt_at or item.created_at
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _describe(error: CarrierError) -> dict[str, object]:
    return {"code": error.code, "twilio_code": error.twilio_code, "message": error.message}

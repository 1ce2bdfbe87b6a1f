"""Recording a status callback on its message, and what it counts as metrics."""

from __future__ import annotations

import logging

from carrier_core.errors import TWILIO_CODES
from carrier_core.metrics import Fact
from carrier_core.models import expiry, utc_now
from carrier_core.optout import record_twilio_opt_out
from carrier_core.settings import DEFAULT_TENANT, Settings
from carrier_core.tenants import stored_tenant
from carrier_core.status.machine import loggable_status, rule_of
from carrier_core.status.store import Outcome, Recorded, record_status

from chalicelib.callback import StatusCallback

log = logging.getLogger(__name__)


def record_callback(callback: StatusCallback, settings: Settings, tenant: str = DEFAULT_TENANT) -> Recorded:
    """Add the callback to its message's history, moving the status when it is further.

    A 21610 (the recipient opted out at Twilio) is also recorded as an opt-out for the
    sender, so the outbound service refuses the next send before it reaches Twilio. That
    put is idempotent and runs on every delivery of such a callback, so a redelivery after
    it failed (503, Twilio retries) still records it.
    """
    now = utc_now()
    fields = {**callback.fields(), "tenant": stored_tenant(tenant)}
    recorded = record_status(callback.message_sid, callback.report(now), expiry(settings, now), fields)
    if callback.opted_out and callback.to_number:
        record_twilio_opt_out(callback.to_number, callback.senders, callback.message_sid, tenant)
    log.info(
        "status callback recorded",
        extra={
            "message_sid": callback.message_sid,
            "reported_status": loggable_status(callback.status),
            "stored_status": loggable_status(recorded.status),
            "outcome": recorded.outcome.value,
            "new_message": recorded.created,
            "error_code": callback.error_code,
            "dynamodb_requests": recorded.requests,
        },
    )
    return recorded


def metrics_for(callback: StatusCallback, recorded: Recorded) -> list[Fact]:
    """The metrics one recorded callback counts; dimensions are closed sets, never a SID."""
    known = callback.known
    if recorded.outcome is Outcome.DUPLICATE:
        return [Fact("StatusDuplicate")]
    metrics = [Fact("StatusRecorded", {"status": known.value if known else "unknown"})]
    if known is None:
        metrics.append(Fact("StatusUnrecognized"))
    elif recorded.outcome is Outcome.RECORDED and recorded.status != known.value:
        # The stored status is further along. The same status again is not out of order:
        # Twilio's `queued` callback follows the send, which already stored `queued`.
        metrics.append(Fact("StatusOutOfOrder"))
    if recorded.created:
        metrics.append(Fact("StatusUnknownSid"))
    if callback.opted_out and callback.to_number:
        metrics.append(Fact("OptOutLearned"))
    if recorded.outcome is Outcome.ADVANCED and known is not None and rule_of(known).failure:
        error_cls = TWILIO_CODES.get(callback.error_code) if callback.error_code is not None else None
        metrics.append(Fact("DeliveryFailed", {"error_code": error_cls.code if error_cls else "other"}))
    return metrics

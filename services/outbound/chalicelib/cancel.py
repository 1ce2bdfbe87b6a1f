"""Canceling a scheduled send: one core for the API (POST /messages/{sid}/cancel) and the
opt-out consumer (chalicelib.optout_cancels).

Only a `scheduled` message can be canceled; any other status (a second cancel included)
is not_cancelable before Twilio is asked. Twilio answers 30409 when the message left
`scheduled` meanwhile (its time came): not_cancelable too, and nothing is recorded.
https://www.twilio.com/docs/messaging/features/message-scheduling#cancel-a-scheduled-message
"""

from __future__ import annotations

import logging
from typing import Any

from carrier_core.errors import NotCancelable
from carrier_core.models import expiry, iso, utc_now
from carrier_core.settings import Settings
from carrier_core.status.machine import MessageStatus
from carrier_core.status.store import StatusReport, record_status
from carrier_core.storage import after_acceptance

from chalicelib.messages import get_message
from chalicelib.twilio_client import TwilioCallFailed, cancel_message

log = logging.getLogger(__name__)

# The history entry's source says who canceled: the platform's API, or the customer's opt-out.
API_CANCEL = "outbound_cancel"
OPT_OUT_CANCEL = "optout_cancel"


def cancel_scheduled(sid: str, settings: Settings, source: str = API_CANCEL) -> dict[str, Any]:
    """Cancel the tenant's scheduled message `sid` at Twilio and record `canceled` in its
    history; the message resource after. MessageNotFound for another tenant's message."""
    tenant = settings.account.tenant
    message = get_message(sid, tenant)
    if message["status"] != MessageStatus.SCHEDULED.value:
        raise NotCancelable(f"message {sid} is {message['status']}; only a scheduled message can be canceled")
    try:
        cancel_message(settings, sid)
    except TwilioCallFailed as failure:
        raise failure.error from failure
    at = utc_now()
    report = StatusReport(MessageStatus.CANCELED.value, at, source=source)
    # Twilio has canceled it: a failed record is logged, not raised (Twilio's own
    # `canceled` callback records it too), and the answer says what Twilio did.
    with after_acceptance("cancel not recorded", message_sid=sid) as failed:
        record_status(sid, report, expiry(settings, at))
    log.info("scheduled message canceled", extra={"message_sid": sid, "source": source})
    if failed.code is not None:
        entry = {"status": report.status, "at": iso(at), "error_code": None, "source": source}
        entry.update(raw_dlr_done_date=None, channel_status_message=None)
        return {**message, "status": report.status, "history": [*message["history"], entry]}
    return get_message(sid, tenant)

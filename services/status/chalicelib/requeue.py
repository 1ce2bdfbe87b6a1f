"""WhatsApp's rate limit (63018): the failed message is sent again once, later, unchanged.

Twilio fails a WhatsApp message with 63018 when the sender went over WhatsApp's rate. The
message itself was fine, so the callback that reports it puts the same send (recipient,
sender, body, media, template and variables) back in the failed-message store
(carrier_core.failed_sends), due after REQUEUE_DELAY_SECONDS plus up to as much again of
jitter, for the outbound service's retry worker, which sends it as a new message
(`whatsapp.requeued_from` naming this one; the retrying item's id is `RQ…`, derived from this
message's SID, so `GET /messages/RQ…` follows it). Only once: a 63018 on that new message
fails it for good. The worker checks the send again as the API would (opt-out, the 24-hour
window, the template), so a customer whose window closed meanwhile is not sent a free-form
message.

Every delivery of such a callback, a retry after a 503 too, runs this: one consistent read of
the message and one conditional put whose id is the message's, so a second delivery writes
nothing. Only a message this deployment sent is put back (it holds its send's content); one
the callback alone created, or another system's, is left as it is.

The item is written here as carrier_core.failed_sends.kept writes a send waiting for a retry
(tests/unit/test_status_requeue.py holds the two together): that module also holds the
worker's queries, which this service is not granted (infra/modules/service/access.tf).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from typing import Any

from pynamodb.exceptions import GetError, PutError

from carrier_core.logs import mask_phone
from carrier_core.models import FailedMessageModel, MessageModel, expiry, iso, utc_now
from carrier_core.settings import DEFAULT_TENANT, Settings, TwilioAccount
from carrier_core.storage import is_condition_failure, storage_error
from carrier_core.vocabulary import Channel, Direction
from carrier_core.webhook import with_overrides

from chalicelib.callback import StatusCallback

log = logging.getLogger(__name__)

WHATSAPP_RATE_LIMITED = 63018
REQUEUE_DELAY_SECONDS = 60.0
FINAL = ("failed", "undelivered")
# carrier_core.failed_sends: a retrying send's id prefix, its state, and the due index's key.
RETRY_PREFIX, RETRYING, DUE = "RQ", "retrying", "pending"
ERROR = {
    "code": "rate_limited",
    "twilio_code": WHATSAPP_RATE_LIMITED,
    "message": "WhatsApp's rate limit for the sender: sent again once, later",
    "http_status": None,
}


def requeue_id(message_sid: str) -> str:
    """The retrying send's id: `RQ` and 32 hex digits derived from the message it repeats."""
    return RETRY_PREFIX + hashlib.sha256(f"requeue|{message_sid}".encode()).hexdigest()[:32]


def rate_limited(callback: StatusCallback) -> bool:
    return callback.error_code == WHATSAPP_RATE_LIMITED and callback.status in FINAL


def requeue_rate_limited(callback: StatusCallback, settings: Settings, account: TwilioAccount) -> str | None:
    """Put the message back for the retry worker, once; the retrying send's id when this call
    stored it, None when there is nothing (more) to put back."""
    item = _read(callback.message_sid)
    reason = _not_requeued(item)
    if reason is not None or item is None:
        log.info("rate limited message not requeued", extra={"message_sid": callback.message_sid, "reason": reason})
        return None
    now = utc_now()
    at = iso(now)
    due = time.time() + REQUEUE_DELAY_SECONDS + random.uniform(0, REQUEUE_DELAY_SECONDS)  # noqa: S311 - jitter, not a secret
    retry = FailedMessageModel(
        requeue_id(item.sid),
        tenant=item.tenant,
        request=_request(item, account),
        twilio_error=ERROR,
        category=ERROR["code"],
        retryable=True,
        attempts=1,
        retry_state=DUE,
        next_attempt_at=int(due),
        state=RETRYING,
        first_attempt_at=at,
        created_at=at,
        updated_at=at,
        expires_at=expiry(settings, now),
    )
    try:
        retry.save(condition=FailedMessageModel.id.does_not_exist())
    except PutError as exc:
        if is_condition_failure(exc):
            return None  # an earlier delivery of this callback put it back
        raise storage_error(exc) from exc
    log.info(
        "rate limited message requeued",
        extra={"message_sid": item.sid, "retry_id": retry.id, "next_attempt_at": retry.next_attempt_at, "to": mask_phone(item.to_number)},
    )
    return str(retry.id)


def _read(sid: str) -> MessageModel | None:
    try:
        return MessageModel.get(sid, consistent_read=True)
    except MessageModel.DoesNotExist:
        return None
    except GetError as exc:
        raise storage_error(exc) from exc


def _not_requeued(item: MessageModel | None) -> str | None:
    """Why the message is not put back, or None when it is."""
    if item is None:
        return "unknown_message"
    if item.direction != Direction.OUTBOUND.value or item.channel != Channel.WHATSAPP.value:
        return "not_outbound_whatsapp"
    whatsapp = dict(item.whatsapp.as_dict()) if item.whatsapp is not None else {}
    if whatsapp.get("requeued_from"):
        return "requeued_already"  # the second 63018: it fails
    if not item.send_id or not (item.body or item.media or whatsapp.get("content_sid")):
        return "not_sent_here"  # created by callbacks alone, or another system's: no content to send
    return None


def _request(item: MessageModel, account: TwilioAccount) -> dict[str, Any]:
    """The send again, as the outbound service stores a request (OutboundRequest.to_dict)."""
    whatsapp = dict(item.whatsapp.as_dict()) if item.whatsapp is not None else {}
    request: dict[str, Any] = {
        "to": item.to_number,
        "from_number": item.from_number,
        "messaging_service_sid": item.messaging_service_sid,
        "body": item.body,
        "media_urls": [str(media.url) for media in item.media or []],
        # The callback reached this service, so the send named its URL (a caller's own URL
        # would have received the callback instead).
        "status_callback": with_overrides(account.status_webhook_url or ""),
        "validity_period": None,
        "max_price": None,
        "requeued_from": item.sid,
    }
    if item.tenant and item.tenant != DEFAULT_TENANT:
        request["tenant"] = item.tenant
    for name in ("content_sid", "content_variables"):
        if whatsapp.get(name):
            request[name] = str(whatsapp[name])
    return request

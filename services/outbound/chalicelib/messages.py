"""The public API's view of messages: stored ones read back, and the resources of sends
that are not (yet) messages: accepted but not yet written, or kept for a retry."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pynamodb.exceptions import GetError

from carrier_core.digits import ascii_int
from carrier_core.errors import CarrierError, InvalidMessageId, MediaNotFound, MessageNotFound
from carrier_core.media.storage import presigned_get, s3_client
from carrier_core.failed_sends import RETRY_PREFIX, FailedState, error_codes
from carrier_core.models import FailedMessageModel, HistoryEntry, MediaItem, MessageModel, expiry, iso, utc_now
from carrier_core.resource import render_message
from carrier_core.settings import DEFAULT_TENANT, Settings
from carrier_core.tenants import tenant_of
from carrier_core.status.machine import stored_rank
from carrier_core.storage import storage_error
from carrier_core.vocabulary import MediaStatus

from chalicelib.outcome import Kind, SendOutcome
from chalicelib.request import OutboundRequest
from chalicelib.twilio_client import Accepted

# What GET /messages/{id} reads: a Twilio message SID, or the RQ… id of a send being retried.
MESSAGE_ID = re.compile(r"^(SM|MM|RQ)[0-9a-fA-F]{32}$")


def get_message(sid: str, tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
    """The message resource for `sid`; MessageNotFound if none is stored for `tenant`
    (another tenant's message is answered exactly as an unknown SID).

    A retrying send's id reads the failed-messages table: `retrying` or `failed` while
    Twilio has not taken it, the message it became once the retry worker sent it.
    The id's shape is checked first, so no read is spent on it and no error echoes it.
    """
    if not MESSAGE_ID.fullmatch(sid):
        raise InvalidMessageId("a message id is SM, MM or RQ and 32 hexadecimal digits")
    if sid.startswith(RETRY_PREFIX):
        failed = tenant_item(FailedMessageModel, sid, tenant)
        if not failed.message_sid:
            return render_message(retrying_item(failed))
        sid = failed.message_sid
    return render_message(tenant_item(MessageModel, sid, tenant))


def tenant_item(model: Any, key: str, tenant: str, missing: CarrierError | None = None) -> Any:
    """The tenant's item `key`, read consistently; `missing` (MessageNotFound by default)
    when there is none, or it is another tenant's."""
    gone = missing or MessageNotFound(f"no message with sid {key}")
    try:
        item = model.get(key, consistent_read=True)
    except model.DoesNotExist as exc:
        raise gone from exc
    except GetError as exc:
        raise storage_error(exc) from exc
    if tenant_of(item.tenant) != tenant:
        raise gone
    return item


def replayed(sid: str, request: OutboundRequest, settings: Settings) -> SendOutcome:
    """The answer to a request whose Idempotency-Key an earlier request completed with `sid`.

    When Twilio accepted that send but its write failed and no status callback has created
    the item yet, the answer is rendered from this request, the same one by the key's
    fingerprint: the caller holds the SID either way, and is never told to send again.
    """
    try:
        return SendOutcome(Kind.REPLAYED, get_message(sid, request.tenant), channel=request.channel)
    except MessageNotFound:
        if sid.startswith(RETRY_PREFIX):
            raise
        return SendOutcome(
            Kind.REPLAYED, render_message(accepted_item(request, Accepted(sid, "queued", None), settings)), channel=request.channel
        )


def media_link(sid: str, index: str, settings: Settings) -> str:
    """A short-lived link to the stored copy of media item `index`; MediaNotFound when none is."""
    if not MESSAGE_ID.fullmatch(sid) or sid.startswith(RETRY_PREFIX):
        raise InvalidMessageId("a message id is SM or MM and 32 hexadecimal digits")
    # Read before the message: str.isdigit() and int() take "²" and "٣" (then int() fails
    # on "²"), and int() refuses 4,301 digits; an index that is no ASCII number is never echoed.
    n = ascii_int(index)
    if n is None:
        raise MediaNotFound(f"message {sid} has no such media item; items are numbered from 0 in ASCII digits")
    item = tenant_item(MessageModel, sid, settings.account.tenant)
    media = item.media or []
    if n >= len(media):
        raise MediaNotFound(f"message {sid} has no media item {n}")
    stored = media[n]
    if stored.status != MediaStatus.STORED.value or not stored.stored_url:
        raise MediaNotFound(f"media item {n} of message {sid} has no stored copy (status {stored.status})")
    return presigned_get(s3_client(settings.region), stored.stored_url, settings.media_link_seconds)


def accepted_item(
    request: OutboundRequest,
    accepted: Accepted,
    settings: Settings,
    at: datetime | None = None,
    send_id: str | None = None,
    media: list[MediaItem] | None = None,
) -> MessageModel:
    """The message as Twilio accepted it at `at`, in memory: the resource to render
    whether or not its write (chalicelib.accepted) lands."""
    now = at or utc_now()
    stamp = iso(now)
    item = MessageModel(
        accepted.sid,
        **request.message_fields(),
        status=accepted.status,
        status_rank=stored_rank(accepted.status),
        history=[HistoryEntry(status=accepted.status, at=stamp, source="outbound")],
        account_sid=accepted.account_sid or settings.account.account_sid,
        send_id=send_id,
        created_at=stamp,
        updated_at=stamp,
        expires_at=expiry(settings, now),
    )
    if media is not None:
        item.media = media
    return item


def retrying_item(failed: FailedMessageModel) -> MessageModel:
    """A kept failed send as a message resource: our id, status retrying, unknown or failed."""
    request = OutboundRequest.from_dict(dict(failed.request.as_dict()))
    error = dict(failed.twilio_error.as_dict()) if failed.twilio_error is not None else {}
    twilio_code = error_codes(error)[1]
    shown = failed.state if failed.state in (FailedState.RETRYING.value, FailedState.UNKNOWN.value) else "failed"
    return MessageModel(
        failed.id,
        **request.message_fields(),
        status=shown,
        status_rank=stored_rank(shown),
        error_code=twilio_code,
        history=[],
        created_at=failed.created_at,
        updated_at=failed.updated_at,
    )

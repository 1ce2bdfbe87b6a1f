"""The message resource of the public API, rendered from a stored item."""

from __future__ import annotations

from typing import Any

from carrier_core.errors import from_twilio_code
from carrier_core.models import HistoryEntry, MediaItem, MessageModel
from carrier_core.tenants import tenant_of
from carrier_core.vocabulary import Channel, Direction
from carrier_core.whatsapp import window_closes_at


def _media(item: MediaItem) -> dict[str, Any]:
    return {
        "url": item.url,
        "content_type": item.content_type,
        "stored_url": item.stored_url,
        "size": int(item.size) if item.size is not None else None,
        "sha256": item.sha256,
        "status": item.status,
        "sniffed_content_type": item.sniffed_content_type,
        "sent_content_type": item.sent_content_type,
    }


def _history(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "status": entry.status,
        "at": entry.at,
        "error_code": int(entry.error_code) if entry.error_code is not None else None,
        "source": entry.source,
        "raw_dlr_done_date": entry.raw_dlr_done_date,
        "channel_status_message": entry.channel_status_message,
    }


def _error(error_code: int | None) -> dict[str, Any] | None:
    if error_code is None:
        return None
    # The same mapping the API's errors use, so a code reads the same on a message and in
    # an error body (an unmapped Twilio code is `twilio_rejected` in both).
    error = from_twilio_code(error_code)
    return {"code": error.code, "retryable": error.retryable}


def _whatsapp(item: MessageModel) -> dict[str, Any] | None:
    """A WhatsApp message's own fields; an inbound one's also when the customer-service
    window it opened closes (a later message from the customer opens a new one)."""
    if item.channel != Channel.WHATSAPP.value:
        return None
    fields: dict[str, Any] = dict(item.whatsapp.as_dict()) if item.whatsapp is not None else {}
    if item.direction == Direction.INBOUND.value:
        fields["window_closes_at"] = window_closes_at(item.created_at)
    return fields


def render_message(item: MessageModel) -> dict[str, Any]:
    """Every field of the contract, `null` or empty where it does not apply."""
    error_code = int(item.error_code) if item.error_code is not None else None
    return {
        "sid": item.sid,
        "tenant": tenant_of(item.tenant),
        "direction": item.direction,
        "channel": item.channel,
        "from": item.from_number,
        "to": item.to_number,
        "body": item.body,
        "status": item.status,
        "error_code": error_code,
        "error": _error(error_code),
        "media": [_media(m) for m in item.media or []],
        "num_segments": int(item.num_segments) if item.num_segments is not None else None,
        "encoding": item.encoding,
        "messaging_service_sid": item.messaging_service_sid,
        "send_at": item.send_at,
        "profile_name": item.profile_name,
        "wa_id": item.wa_id,
        "geo": dict(item.geo.as_dict()) if item.geo is not None else {},
        "whatsapp": _whatsapp(item),
        "history": [_history(h) for h in item.history or []],
        "history_dropped": int(item.history_dropped or 0),
        "redaction": item.redaction,
        "redaction_requested_by": item.redaction_requested_by,
        "redaction_requested_at": item.redaction_requested_at,
        "redaction_updated_at": item.redaction_updated_at,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }

"""The WhatsApp customer-service window, checked before a free-form WhatsApp send reaches Twilio."""

from __future__ import annotations

import logging
from datetime import datetime

from pynamodb.exceptions import QueryError

from carrier_core.errors import WhatsAppSessionExpired
from carrier_core.logs import mask_phone
from carrier_core.models import MessageModel
from carrier_core.storage import storage_error
from carrier_core.vocabulary import Channel
from carrier_core.whatsapp import window_key, window_open

from chalicelib.request import OutboundRequest

log = logging.getLogger(__name__)

WHATSAPP_SESSION_EXPIRED = 63016


def needs_window(request: OutboundRequest) -> bool:
    """Whether the send is free-form WhatsApp from a known sender: the only sends that query.

    A send through a Messaging Service alone leaves the sender to Twilio, so no window can be
    read for it here; Twilio's own 63016 then reaches us in the status callback.
    """
    return request.channel is Channel.WHATSAPP and not request.is_template and request.from_number is not None


def last_inbound_at(tenant: str, sender: str, customer: str) -> str | None:
    """When the customer last wrote to the sender (as stored), or None: one Query, newest first."""
    try:
        for item in MessageModel.whatsapp_window.query(window_key(tenant, sender, customer), scan_index_forward=False, limit=1):
            return str(item.created_at)
    except QueryError as exc:
        raise storage_error(exc) from exc
    return None


def check_window(request: OutboundRequest, now: datetime) -> None:
    """Raise WhatsAppSessionExpired unless the customer wrote to the sender in the last 24 hours."""
    if not needs_window(request) or request.from_number is None:
        return
    last = last_inbound_at(request.tenant, request.from_number, request.to)
    if window_open(last, now):
        return
    log.info("whatsapp window closed", extra={"to": mask_phone(request.to), "ever_wrote": last is not None})
    raise WhatsAppSessionExpired(
        "the customer has not written to this WhatsApp sender in the last 24 hours: send an approved template (content_sid)",
        twilio_code=WHATSAPP_SESSION_EXPIRED,
    )

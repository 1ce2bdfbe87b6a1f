"""Storing an inbound message: exactly one DynamoDB request, no read before it."""

from __future__ import annotations

import logging
from typing import Any

from pynamodb.exceptions import TransactWriteError

from carrier_core.logs import mask_phone
from carrier_core.models import MessageModel, OptOutModel, expiry, iso, utc_now
from carrier_core.optout import OptOutAction
from carrier_core.settings import DEFAULT_TENANT, Settings
from carrier_core.tenants import scoped, stored_tenant
from carrier_core.status.machine import MessageStatus, stored_rank
from carrier_core.storage import REASON_CONDITION_FAILED, cancellation_codes, storage_error
from carrier_core.vocabulary import Direction, MediaStatus
from carrier_core.writes import Transaction, placeholders, put_item, values

from chalicelib.message import InboundMessage

log = logging.getLogger(__name__)

RECEIVED = MessageStatus.RECEIVED.value
RECEIVED_RANK = stored_rank(RECEIVED)


def item_fields(message: InboundMessage, settings: Settings, tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
    """The messages-table item for an inbound message, by MessageModel attribute, history
    starting at `received`."""
    now = utc_now()
    at = iso(now)
    return {
        "sid": message.message_sid,
        "tenant": stored_tenant(tenant),
        "direction": Direction.INBOUND.value,
        "channel": message.channel,
        "from_number": message.from_number,
        "to_number": message.to_number,
        "body": message.body,
        "status": RECEIVED,
        "status_rank": RECEIVED_RANK,
        # Each item is copied to the media bucket off this path (carrier_core.media.rehost).
        "media": [{"url": m.url, "content_type": m.content_type, "status": MediaStatus.PENDING.value} for m in message.media],
        "num_segments": message.num_segments,
        "history": [{"status": RECEIVED, "at": at, "source": "inbound"}],
        "account_sid": message.account_sid,
        "messaging_service_sid": message.messaging_service_sid,
        "profile_name": message.profile_name,
        "wa_id": message.wa_id,
        "geo": message.geo or None,
        "opt_out_keyword": message.keyword[0] if message.keyword else None,
        "created_at": at,
        "updated_at": at,
        "expires_at": expiry(settings, now),
    }


def opt_out_items(message: InboundMessage, at: str, tenant: str = DEFAULT_TENANT) -> list[OptOutModel]:
    """The opt-out records a STOP/START changes: one per business sender that received it.

    Twilio applies opt-outs per messaging service when the number belongs to one, so both
    the number and the service are recorded; outbound checks whichever it sends from.
    """
    keyword = message.keyword
    if keyword is None or keyword[1] is OptOutAction.HELP:
        return []
    word, action = keyword
    senders = [message.to_number] + ([message.messaging_service_sid] if message.messaging_service_sid else [])
    return [
        OptOutModel(
            message.from_number,
            scoped(tenant, sender),
            tenant=stored_tenant(tenant),
            opted_out=action is OptOutAction.STOP,
            keyword=word,
            message_sid=message.message_sid,
            updated_at=at,
        )
        for sender in senders
    ]


def store_inbound(message: InboundMessage, settings: Settings, tenant: str = DEFAULT_TENANT) -> bool:
    """Write the message once; True if it is new, False for a duplicate delivery.

    The put's condition `attribute_not_exists(sid)` admits only the first delivery of a
    MessageSid; a retry or concurrent copy fails it, writes nothing, and so adds no
    stream INSERT. An opt-out keyword goes in the same transaction, so a duplicate STOP
    changes nothing either and a failure leaves neither half written.
    """
    fields = item_fields(message, settings, tenant)
    item = values(MessageModel, fields)
    first_delivery, names = "attribute_not_exists(#sid)", placeholders(MessageModel, "sid")
    optouts = opt_out_items(message, fields["updated_at"], tenant)
    try:
        if optouts:
            with Transaction(connection=MessageModel._get_connection().connection) as tx:
                tx.put_item(MessageModel, item, first_delivery, names)
                for optout in optouts:
                    tx.save(optout)
        elif not put_item(MessageModel, item, first_delivery, names):
            log.info("inbound duplicate ignored")
            return False
    except TransactWriteError as exc:
        # The message put is the transaction's first item: its condition alone failing
        # means a duplicate; any other reason is a fault.
        if cancellation_codes(exc)[:1] == [REASON_CONDITION_FAILED]:
            log.info("inbound duplicate ignored")
            return False
        raise storage_error(exc) from exc
    log.info("inbound stored", extra={"channel": message.channel, "num_media": len(message.media)})
    if optouts:
        log.info("opt-out recorded", extra={"from": mask_phone(message.from_number), "opted_out": optouts[0].opted_out})
    return True

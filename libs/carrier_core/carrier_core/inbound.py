"""An inbound message: Twilio's inbound form as a typed value, and storing it with exactly one
DynamoDB request, no read before it.

The inbound webhook (services/inbound) and the reconciler (services/outbound's
chalicelib/reconcile.py, which finds messages Twilio holds and we do not) make the same
single conditional write, so whichever comes second is a duplicate, never a second item.

Field reference: https://www.twilio.com/docs/messaging/guides/webhook-request
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pynamodb.exceptions import TransactWriteError

from carrier_core.errors import InvalidField, InvalidMediaUrl, MediaMismatch, MissingField
from carrier_core.logs import mask_phone
from carrier_core.models import MessageModel, OptOutModel, expiry, iso, utc_now
from carrier_core.optout import OptOutAction, match_keyword
from carrier_core.settings import DEFAULT_TENANT, Settings
from carrier_core.status.machine import MessageStatus, stored_rank
from carrier_core.storage import REASON_CONDITION_FAILED, cancellation_codes, storage_error
from carrier_core.tenants import scoped, stored_tenant
from carrier_core.vocabulary import Channel, Direction, MediaStatus, channel_of
from carrier_core.webhook import message_sid, messaging_service_sid, whole_number
from carrier_core.whatsapp import whatsapp_fields, window_key
from carrier_core.writes import Transaction, placeholders, put_item, values

log = logging.getLogger(__name__)

# The history entry's source: who told us of the message.
WEBHOOK_SOURCE = "inbound"
RECONCILED_SOURCE = "reconciled"

MAX_MEDIA = 10
# Any digits, so that MediaUrl٣ or MediaUrl<4,301 digits> is seen as a media field (and
# refused as a mismatch) rather than ignored; the index is read without int().
MEDIA_FIELD = re.compile(r"^Media(Url|ContentType)(\d+)$")
MEDIA_SCHEMES = ("https", "http")
GEO_FIELDS = ("FromCity", "FromState", "FromZip", "FromCountry", "ToCity", "ToState", "ToZip", "ToCountry")


@dataclass(frozen=True)
class Media:
    url: str
    content_type: str | None


@dataclass(frozen=True)
class InboundMessage:
    """What a customer sent us, as Twilio described it."""

    message_sid: str
    account_sid: str | None
    messaging_service_sid: str | None
    from_number: str
    to_number: str
    body: str
    channel: str
    media: tuple[Media, ...] = ()
    num_segments: int | None = None
    profile_name: str | None = None
    wa_id: str | None = None
    geo: dict[str, str] = field(default_factory=dict)
    # Twilio's WhatsApp parameters, snake_case (carrier_core.whatsapp.whatsapp_fields).
    whatsapp: dict[str, str] = field(default_factory=dict)

    @property
    def keyword(self) -> tuple[str, OptOutAction] | None:
        return match_keyword(self.body)

    @classmethod
    def from_form(cls, pairs: Sequence[tuple[str, str]]) -> InboundMessage:
        """Build from the form's pairs; raises MissingField, InvalidField or MediaMismatch."""
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                raise InvalidField(f"{name} appears more than once")
            form[name] = value
        sid = message_sid(form)
        for name in ("From", "To"):
            if not form.get(name):
                raise MissingField(f"{name} is required")
        media = _media(form)
        from_number = form["From"]
        channel = channel_of(from_number, media=bool(media))
        return cls(
            message_sid=sid,
            account_sid=form.get("AccountSid") or None,
            messaging_service_sid=messaging_service_sid(form),
            from_number=from_number,
            to_number=form["To"],
            body=form.get("Body", ""),
            channel=channel.value,
            media=media,
            num_segments=whole_number(form, "NumSegments"),
            profile_name=form.get("ProfileName") or None,
            wa_id=form.get("WaId") or None,
            geo={name: form[name] for name in GEO_FIELDS if form.get(name)},
            whatsapp=whatsapp_fields(form) if channel is Channel.WHATSAPP else {},
        )


def _media(form: dict[str, str]) -> tuple[Media, ...]:
    """Media items 0..NumMedia-1; any missing or extra MediaUrlN is a mismatch."""
    declared = whole_number(form, "NumMedia") or 0
    if declared > MAX_MEDIA:
        raise InvalidField(f"NumMedia must be at most {MAX_MEDIA}")
    expected = {str(i) for i in range(declared)}
    extra = sorted(name for name in form if (m := MEDIA_FIELD.match(name)) and m.group(2) not in expected)
    if extra:
        raise MediaMismatch(f"NumMedia is {declared} but {extra[0][:40]} is present")
    missing = [i for i in range(declared) if not form.get(f"MediaUrl{i}")]
    if missing:
        raise MediaMismatch(f"NumMedia is {declared} but MediaUrl{missing[0]} is missing")
    return tuple(Media(_media_url(form, i), form.get(f"MediaContentType{i}") or None) for i in range(declared))


def _media_url(form: dict[str, str], index: int) -> str:
    """MediaUrlN when it is an absolute http(s) URL: nothing else is ever fetched or stored.

    Twilio serves media over https; a javascript:, data: or file:// URL is not from Twilio,
    and the media re-host must never be handed one.
    """
    url = form[f"MediaUrl{index}"]
    try:
        parts = urlsplit(url)
        acceptable = parts.scheme.lower() in MEDIA_SCHEMES and bool(parts.hostname)
    except ValueError:  # an unparseable netloc such as "https://[::1"
        acceptable = False
    if not acceptable:
        raise InvalidMediaUrl(f"MediaUrl{index} must be an absolute http(s) URL")
    return url


RECEIVED = MessageStatus.RECEIVED.value
RECEIVED_RANK = stored_rank(RECEIVED)


def item_fields(message: InboundMessage, settings: Settings, tenant: str = DEFAULT_TENANT, source: str = WEBHOOK_SOURCE) -> dict[str, Any]:
    """The messages-table item for an inbound message, by MessageModel attribute, history
    starting at `received`, reported by `source` (the webhook, or the reconciler)."""
    now = utc_now()
    at = iso(now)
    whatsapp = message.channel == Channel.WHATSAPP.value
    return {
        "sid": message.message_sid,
        "tenant": stored_tenant(tenant),
        "direction": Direction.INBOUND.value,
        "channel": message.channel,
        "from_number": message.from_number,
        "to_number": message.to_number,
        "customer": scoped(tenant, message.from_number),  # erasure's index (carrier_core.models)
        "body": message.body,
        "status": RECEIVED,
        "status_rank": RECEIVED_RANK,
        # Each item is copied to the media bucket off this path (carrier_core.media.rehost).
        "media": [{"url": m.url, "content_type": m.content_type, "status": MediaStatus.PENDING.value} for m in message.media],
        "num_segments": message.num_segments,
        "history": [{"status": RECEIVED, "at": at, "source": source}],
        "account_sid": message.account_sid,
        "messaging_service_sid": message.messaging_service_sid,
        "profile_name": message.profile_name,
        "wa_id": message.wa_id,
        "geo": message.geo or None,
        # The window's index key: this put writes it, so the index costs the webhook nothing.
        "wa_window": window_key(tenant, message.to_number, message.from_number) if whatsapp else None,
        "whatsapp": dict(message.whatsapp) if whatsapp else None,
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


def store_inbound(message: InboundMessage, settings: Settings, tenant: str = DEFAULT_TENANT, source: str = WEBHOOK_SOURCE) -> bool:
    """Write the message once; True if it is new, False for a duplicate delivery.

    The put's condition `attribute_not_exists(sid)` admits only the first delivery of a
    MessageSid; a retry or concurrent copy fails it, writes nothing, and so adds no
    stream INSERT. An opt-out keyword goes in the same transaction, so a duplicate STOP
    changes nothing either and a failure leaves neither half written.
    """
    fields = item_fields(message, settings, tenant, source)
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
    log.info("inbound stored", extra={"channel": message.channel, "num_media": len(message.media), "source": source})
    if optouts:
        log.info("opt-out recorded", extra={"from": mask_phone(message.from_number), "opted_out": optouts[0].opted_out})
    return True

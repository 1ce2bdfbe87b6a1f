"""The Message resource: validating a create request like Twilio and rendering the resource.

Validation follows Twilio's Messages API with test credentials
(https://www.twilio.com/docs/iam/test-credentials): the documented magic numbers answer
with their documented errors, any other well-formed number is accepted.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from devstack.sandbox.errors import invalid

API_VERSION = "2010-04-01"
MAX_BODY = 1600
MAX_MEDIA = 10
MAX_VALIDITY_PERIOD = 36000

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
# A WhatsApp business-scoped user ID, after `whatsapp:`; a Content API template's SID.
BSUID = re.compile(r"^[A-Z]{2}(\.ENT)?\.[0-9A-Za-z]{1,128}$")
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
SHORT_CODE = re.compile(r"^[0-9]{5,6}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Scheduling (https://www.twilio.com/docs/messaging/features/message-scheduling): SendAt
# from 300 seconds to 35 days ahead, ScheduleType=fixed, a Messaging Service only.
SCHEDULE_MIN_LEAD = timedelta(seconds=300)
SCHEDULE_MAX_LEAD = timedelta(days=35)
CHANNEL_PREFIXES = ("whatsapp:",)

# Twilio's magic test numbers and the error each one answers with.
MAGIC_TO: dict[str, tuple[int, str]] = {
    "+15005550001": (21211, "The 'To' number {n} is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number: {n}, is not currently reachable using the 'From' phone number via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {n}."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number {n} is not a valid mobile number"),
}
MAGIC_FROM: dict[str, tuple[int, str]] = {
    "+15005550001": (21212, "The 'From' number {n} is not a valid phone number, shortcode, or alphanumeric sender ID."),
    "+15005550007": (21606, "The 'From' phone number provided ({n}) is not a valid, message-capable Twilio phone number."),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued messages"),
}

# GSM 03.38: the basic set costs one septet, the extension table two (escape + char).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def rfc2822(moment: datetime) -> str:
    """A timestamp as Twilio writes it: `Tue, 24 Nov 2026 13:55:21 +0000`."""
    return format_datetime(moment.astimezone(timezone.utc))


def encoding(body: str) -> str:
    """GSM-7 when every character is in the GSM alphabet, else UCS-2."""
    return "GSM-7" if all(c in GSM_BASIC or c in GSM_EXTENDED for c in body) else "UCS-2"


def num_segments(body: str) -> int:
    """SMS segments for `body`: 160/153 septets for GSM-7, 70/67 UTF-16 units for UCS-2."""
    if encoding(body) == "GSM-7":
        units = sum(2 if c in GSM_EXTENDED else 1 for c in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def _address(value: str) -> str:
    """The number without a channel prefix such as `whatsapp:`."""
    for prefix in CHANNEL_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "_" not in (parts.hostname or "")


@dataclass(frozen=True)
class CreateMessage:
    """A valid POST Messages.json, the fields the sandbox acts on."""

    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    media_urls: tuple[str, ...]
    status_callback: str | None
    validity_period: int | None
    # A Content API template (HX…) and its ContentVariables JSON: WhatsApp's templates.
    content_sid: str | None = None
    content_variables: str | None = None
    send_at: datetime | None = None

    @classmethod
    def from_form(cls, form: Mapping[str, Sequence[str]], now: datetime | None = None) -> CreateMessage:
        """Validate the form as Twilio does, scheduling against `now` (the sandbox's clock);
        raises TwilioApiError with Twilio's code."""
        to = _first(form, "To")
        from_ = _first(form, "From")
        service = _first(form, "MessagingServiceSid")
        body = _first(form, "Body") or ""
        media = tuple(url for url in form.get("MediaUrl", ()) if url)
        if not to:
            raise invalid(21604, "A 'To' phone number is required.")
        if not from_ and not service:
            raise invalid(21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
        content_sid = _first(form, "ContentSid")
        if not body and not media and not content_sid:
            raise invalid(21602, "A text message body or media urls must be specified.")
        if content_sid and not CONTENT_SID.match(content_sid):
            raise invalid(21656, f"The ContentSid {content_sid} is invalid.")
        if not E164.match(_address(to)) and not (to.startswith("whatsapp:") and BSUID.match(_address(to))):
            raise invalid(21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ and not _valid_sender(_address(from_)):
            raise invalid(21212, f"The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric sender ID.")
        if service and not MESSAGING_SERVICE_SID.match(service):
            raise invalid(21701, f"The Messaging Service Sid {service} is invalid.")
        if len(body) > MAX_BODY:
            raise invalid(21617, "The concatenated message body exceeds the 1600 character limit.")
        if len(media) > MAX_MEDIA:
            raise invalid(21623, f"Number of media files exceeds allowed limit of {MAX_MEDIA}.")
        if not all(_is_http_url(url) for url in media):
            raise invalid(21620, "Invalid media URL(s).")
        callback = _first(form, "StatusCallback")
        if callback and not _is_http_url(callback):
            raise invalid(21609, f"Invalid StatusCallback url: {callback}")
        validity = _validity_period(_first(form, "ValidityPeriod"))
        send_at = _send_at(form, service, now or datetime.now(timezone.utc))
        if from_ and _address(from_) in MAGIC_FROM:
            code, text = MAGIC_FROM[_address(from_)]
            raise invalid(code, text.format(n=from_))
        if _address(to) in MAGIC_TO:
            code, text = MAGIC_TO[_address(to)]
            raise invalid(code, text.format(n=to))
        variables = _first(form, "ContentVariables") or None
        return cls(to, from_ or None, service or None, body, media, callback or None, validity, content_sid or None, variables, send_at)


def _first(form: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _valid_sender(value: str) -> bool:
    return bool(E164.match(value) or SHORT_CODE.match(value) or ALPHANUMERIC_SENDER.match(value))


def _validity_period(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_VALIDITY_PERIOD:
        raise invalid(
            90007, f"Invalid validity period value: ValidityPeriod must be a whole number of seconds from 1 to {MAX_VALIDITY_PERIOD}."
        )
    return int(raw)


def _send_at(form: Mapping[str, Sequence[str]], service: str | None, now: datetime) -> datetime | None:
    """SendAt as Twilio checks it: a Messaging Service (35118), ScheduleType=fixed (35111),
    an ISO 8601 time (35114) within the window (35114)."""
    raw = _first(form, "SendAt")
    schedule_type = _first(form, "ScheduleType")
    if not raw:
        if schedule_type:
            raise invalid(35115, "SendAt is required when ScheduleType is given.")
        return None
    if not service:
        raise invalid(35118, "MessagingServiceSid is required to schedule a message.")
    if schedule_type != "fixed":
        raise invalid(35111, "ScheduleType must be 'fixed' to schedule a message.")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise invalid(35114, "SendAt must be an ISO 8601 timestamp.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if not now + SCHEDULE_MIN_LEAD <= moment <= now + SCHEDULE_MAX_LEAD:
        raise invalid(35114, "SendAt must be between 300 seconds and 35 days in the future.")
    return moment


def new_sid(media: bool) -> str:
    """`MM` + 32 hex for a message with media, `SM` + 32 hex otherwise, as Twilio does."""
    return ("MM" if media else "SM") + secrets.token_hex(16)


@dataclass
class Message:
    """One stored message; mutable because its status moves as callbacks go out."""

    account_sid: str
    sid: str
    request: CreateMessage
    from_: str | None
    status: str
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    price: str | None = None
    segments: int = field(default=0)
    # "outbound-api" for a message created through the API; "inbound" for one a customer
    # sent (POST /_sandbox/inbound, devstack/sandbox/inbound.py).
    direction: str = "outbound-api"
    # A failure decided at the create (a template WhatsApp will not take): Twilio's code and
    # message, which the lifecycle ends the message with instead of its recipient's outcome.
    failure: tuple[int, str] | None = None

    def resource(self) -> dict[str, Any]:
        """The api.v2010.account.message resource Twilio returns for this message."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.request.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent) if self.date_sent else None,
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.request.messaging_service_sid,
            "num_media": str(len(self.request.media_urls)),
            "num_segments": str(self.segments),
            "price": self.price,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.request.to,
            "uri": f"{uri}.json",
        }


def create(account_sid: str, request: CreateMessage, now: datetime) -> Message:
    """A new message as Twilio answers the create: `queued` from a number, `accepted` from a
    Messaging Service, which picks the sender (and so the segment count) only later;
    `scheduled` with SendAt."""
    via_service = request.from_ is None
    # Scheduled until its time (Sandbox.release_due) or a cancel.
    status = "scheduled" if request.send_at is not None else "accepted" if via_service else "queued"
    return Message(
        account_sid=account_sid,
        sid=new_sid(bool(request.media_urls)),
        request=request,
        from_=request.from_,
        status=status,
        date_created=now,
        date_updated=now,
        segments=0 if via_service else segments_for(request),
    )


def segments_for(request: CreateMessage) -> int:
    """An MMS is one message whatever its text; an SMS is as many segments as its body needs."""
    return 1 if request.media_urls else num_segments(request.body)

"""InboundMessage: Twilio's inbound SMS/MMS/WhatsApp form as a typed value object.

Field reference: https://www.twilio.com/docs/messaging/guides/webhook-request
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from carrier_core.errors import InvalidField, InvalidMediaUrl, MediaMismatch, MissingField
from carrier_core.optout import OptOutAction, match_keyword
from carrier_core.vocabulary import channel_of
from carrier_core.webhook import message_sid, messaging_service_sid, whole_number

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
        return cls(
            message_sid=sid,
            account_sid=form.get("AccountSid") or None,
            messaging_service_sid=messaging_service_sid(form),
            from_number=from_number,
            to_number=form["To"],
            body=form.get("Body", ""),
            channel=channel_of(from_number, media=bool(media)).value,
            media=media,
            num_segments=whole_number(form, "NumSegments"),
            profile_name=form.get("ProfileName") or None,
            wa_id=form.get("WaId") or None,
            geo={name: form[name] for name in GEO_FIELDS if form.get(name)},
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

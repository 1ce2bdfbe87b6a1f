"""OutboundRequest: the platform's POST /messages body as a validated value object.

Everything Twilio would refuse for its shape is refused here, before any request leaves
us: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from carrier_core.errors import (
    InvalidField,
    InvalidMediaUrl,
    InvalidPhoneNumber,
    InvalidSender,
    MalformedBody,
    MessageTooLong,
    MissingField,
    TemplateWithBody,
    TooManyMedia,
)
from carrier_core.models import MediaItem
from carrier_core.phone import parse_address
from carrier_core.vocabulary import Channel, Direction, channel_of
from carrier_core.segments import Segments, count_segments
from carrier_core.settings import DEFAULT_TENANT, Settings
from carrier_core.tenants import check_sender, scoped, stored_tenant
from carrier_core.webhook import with_overrides

from chalicelib.schedule import parse_send_at

MAX_BODY_CHARS = 1600
MAX_MEDIA = 10
VALIDITY_RANGE = (1, 36000)
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
MAX_CONTENT_VARIABLES = 100
FIELDS = frozenset(
    {
        "to",
        "from",
        "messaging_service_sid",
        "body",
        "media_urls",
        "status_callback",
        "validity_period",
        "max_price",
        "content_sid",
        "content_variables",
        "send_at",
    }
)


@dataclass(frozen=True)
class OutboundRequest:
    """A send the platform asked for, every field checked and defaults applied."""

    to: str
    from_number: str | None
    messaging_service_sid: str | None
    body: str | None
    media_urls: tuple[str, ...]
    status_callback: str
    validity_period: int | None
    max_price: float | None
    tenant: str = DEFAULT_TENANT
    # A Content API template (HX…) and its variables as the JSON object string Twilio takes.
    content_sid: str | None = None
    content_variables: str | None = None

    @property
    def is_template(self) -> bool:
        return self.content_sid is not None

    @property
    def variables(self) -> dict[str, str]:
        """The template's variables by name."""
        return dict(json.loads(self.content_variables)) if self.content_variables else {}

    # When Twilio is to send it (UTC, RFC 3339), for a scheduled send; chalicelib.schedule.
    send_at: str | None = None
    # The message this send repeats: WhatsApp's rate limit (63018) failed it, and the status
    # service put it back in the failed-message store once (its chalicelib/requeue.py). Never
    # from the API.
    requeued_from: str | None = None

    @cached_property
    def channel(self) -> Channel:
        # Derived once a request: the message's attributes and the send's outcome both need it.
        return channel_of(self.to, self.from_number, media=bool(self.media_urls))

    @property
    def senders(self) -> tuple[str, ...]:
        """The business senders a recipient may have opted out of: the number and/or the service."""
        return tuple(s for s in (self.from_number, self.messaging_service_sid) if s)

    @property
    def opt_out_keys(self) -> tuple[str, ...]:
        """The senders as the opt-outs table keys them: the tenant's own (carrier_core.tenants)."""
        return tuple(scoped(self.tenant, s) for s in self.senders)

    @cached_property
    def segments(self) -> Segments:
        # Counted once a request: the resource and the accepted write both need it.
        return count_segments(self.body or "")

    def message_fields(self) -> dict[str, Any]:
        """The message attributes this request determines, whatever became of it (by
        MessageModel's Python names)."""
        segments = self.segments
        return {
            "direction": Direction.OUTBOUND.value,
            "channel": self.channel.value,
            "from_number": self.from_number,
            "to_number": self.to,
            "customer": scoped(self.tenant, self.to),  # erasure's index (carrier_core.models)
            "body": self.body,
            "media": [MediaItem(url=url) for url in self.media_urls],
            "num_segments": segments.count,
            "encoding": segments.encoding.value,
            "messaging_service_sid": self.messaging_service_sid,
            "tenant": stored_tenant(self.tenant),
            "whatsapp": self.whatsapp_fields() or None,
            "send_at": self.send_at,
            # The sparse index of a customer's scheduled messages (an opt-out cancels them).
            "scheduled_for": scoped(self.tenant, self.to) if self.send_at else None,
        }

    def whatsapp_fields(self) -> dict[str, str]:
        """What the message keeps under `whatsapp` of this send: its template and variables
        (what a re-send needs), and the message it repeats."""
        fields = {"content_sid": self.content_sid, "content_variables": self.content_variables, "requeued_from": self.requeued_from}
        return {name: value for name, value in fields.items() if value is not None}

    def fingerprint(self) -> str:
        """A stable hash of the request, to tell a replay from a different request under one key."""
        # The tenant is not part of it: Idempotency-Keys are the tenant's own already.
        # An unscheduled send hashes as it did before send_at existed: keys stay valid.
        fields = {
            name: value
            for name, value in asdict(self).items()
            if name != "tenant" and not (name in ("send_at", "requeued_from") and value is None)
        }
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The request as stored with a failed send, enough to send it again."""
        stored = {**asdict(self), "media_urls": list(self.media_urls)}
        if self.tenant == DEFAULT_TENANT:
            del stored["tenant"]
        for name in ("content_sid", "content_variables"):
            if stored[name] is None:  # a stored free-form send looks as it always did
                del stored[name]
        for name in ("send_at", "requeued_from"):
            if stored[name] is None:
                del stored[name]
        return stored

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutboundRequest:
        """Rebuild a stored request (already validated when it was accepted)."""
        validity = data.get("validity_period")
        price = data.get("max_price")
        return cls(
            to=str(data["to"]),
            from_number=data.get("from_number") or None,
            messaging_service_sid=data.get("messaging_service_sid") or None,
            body=data.get("body") or None,
            media_urls=tuple(str(u) for u in data.get("media_urls") or ()),
            status_callback=str(data["status_callback"]),
            validity_period=int(validity) if validity is not None else None,
            max_price=float(price) if price is not None else None,
            tenant=str(data.get("tenant") or DEFAULT_TENANT),
            content_sid=data.get("content_sid") or None,
            content_variables=data.get("content_variables") or None,
            send_at=str(data["send_at"]) if data.get("send_at") else None,
            requeued_from=str(data["requeued_from"]) if data.get("requeued_from") else None,
        )

    @classmethod
    def from_json(cls, raw_body: str | bytes | None, settings: Settings) -> OutboundRequest:
        """Parse and check a JSON body; raises a taxonomy error naming the first bad field."""
        data = parse_json_object(raw_body)
        unknown = sorted(set(data) - FIELDS)
        if unknown:
            raise InvalidField(f"unknown field {unknown[0]}; accepted: {', '.join(sorted(FIELDS))}")
        # A WhatsApp customer may be known by a business-scoped user ID alone (whatsapp:CC.ID).
        to = parse_address(data.get("to"), "to", InvalidPhoneNumber, bsuid=True)
        service = _messaging_service(data.get("messaging_service_sid"))
        sender = data.get("from")
        if sender is None and service is None:
            # The configured Messaging Service first: it picks a sender and applies the
            # account's opt-out and compliance rules; else the configured number.
            service = settings.account.default_messaging_service_sid
            if service is None:
                sender = _default_sender(settings, to.channel)
        from_number = str(parse_address(sender, "from", InvalidSender)) if sender is not None else None
        if from_number is not None and (from_number.startswith("whatsapp:") != (to.channel == "whatsapp")):
            raise InvalidField("to and from must both be WhatsApp addresses or neither")
        body = _body(data.get("body"))
        media = _media(data.get("media_urls"), settings.is_local)
        content_sid = _content_sid(data.get("content_sid"))
        variables = _content_variables(data.get("content_variables"), content_sid)
        if content_sid is not None and (body or media):
            # Twilio fails a template that also carries a body outside the window.
            raise TemplateWithBody("a send with content_sid takes no body or media_urls: the template holds the content")
        if not body and not media and content_sid is None:
            raise MissingField("body, media_urls or content_sid is required")
        send_at = parse_send_at(data.get("send_at"), service)
        check_sender(settings.account, (s for s in (from_number, service) if s))
        return cls(
            to=str(to),
            from_number=from_number,
            messaging_service_sid=service,
            body=body,
            media_urls=media,
            status_callback=_status_callback(data.get("status_callback"), settings),
            validity_period=_validity(data.get("validity_period")),
            max_price=_max_price(data.get("max_price")),
            tenant=settings.account.tenant,
            content_sid=content_sid,
            content_variables=variables,
            send_at=send_at,
        )


def parse_json_object(raw_body: str | bytes | None) -> dict[str, Any]:
    """A JSON object from a request body; MalformedBody or InvalidField for anything else.

    json.loads raises RecursionError on deep nesting (from ~1,000 levels on Python 3.11,
    ~1,500 on 3.12, Lambda's runtime) and ValueError on integers past 4,300 digits; and it
    happily returns lone surrogates ("\\ud800"), which no UTF-8 encoder (DynamoDB's,
    Twilio's, our logs') accepts later. All three are refused here, before any field is read.
    """
    try:
        data = json.loads(raw_body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedBody("request body is not valid JSON, or is nested too deeply") from exc
    if not isinstance(data, dict):
        raise MalformedBody("request body must be a JSON object")
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidField("request body holds a string that is not valid Unicode (a lone surrogate)") from exc
    return data


def _default_sender(settings: Settings, channel: str | None) -> str:
    if not settings.account.default_from_number:
        raise MissingField("from or messaging_service_sid is required")
    return f"{channel}:{settings.account.default_from_number}" if channel else settings.account.default_from_number


def _messaging_service(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not MESSAGING_SERVICE_SID.match(value):
        raise InvalidSender("messaging_service_sid must be MG followed by 32 hexadecimal digits")
    return value


def _content_sid(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not CONTENT_SID.match(value):
        raise InvalidField("content_sid must be HX followed by 32 hexadecimal digits")
    return value


def _content_variables(value: object, content_sid: str | None) -> str | None:
    """The variables as the JSON object string Twilio's ContentVariables takes (keys sorted,
    so one request has one fingerprint)."""
    if value is None:
        return None
    if content_sid is None:
        raise InvalidField("content_variables needs content_sid")
    if not isinstance(value, dict) or len(value) > MAX_CONTENT_VARIABLES:
        raise InvalidField(f"content_variables must be an object of at most {MAX_CONTENT_VARIABLES} names to strings")
    if not all(isinstance(v, str) for v in value.values()):
        raise InvalidField("content_variables must map each variable name to a string")
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")) if value else None


def _body(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField("body must be a string")
    if len(value) > MAX_BODY_CHARS:
        raise MessageTooLong(f"body has {len(value)} characters; at most {MAX_BODY_CHARS} are accepted")
    return value or None


def _url(value: object, allow_http: bool) -> str | None:
    """The URL when it is absolute with a host, a usable port and an accepted scheme, else None."""
    if not isinstance(value, str):
        return None
    try:
        # urlsplit raises on an unclosed or non-IPv6 bracket ("http://[::1"), and .port on
        # a port that is no ASCII number or over 65535: refused here, not a 500 at the probe.
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    schemes = ("https", "http") if allow_http else ("https",)
    # Port 0 parses, but no server listens there, and `port or 443` would quietly change it.
    return value if parts.scheme in schemes and parts.hostname and port != 0 else None


def _media(value: object, allow_http: bool) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidField("media_urls must be a list of URLs")
    if len(value) > MAX_MEDIA:
        raise TooManyMedia(f"media_urls has {len(value)} items; at most {MAX_MEDIA} are accepted")
    urls = []
    for index, item in enumerate(value):
        url = _url(item, allow_http)
        if url is None:
            scheme = "http(s)" if allow_http else "https"
            raise InvalidMediaUrl(f"media_urls[{index}] must be an absolute {scheme} URL with a host and a port from 1 to 65535")
        urls.append(url)
    return tuple(urls)


def _status_callback(value: object, settings: Settings) -> str:
    """The caller's callback URL, else the status service's public URL."""
    if value is None:
        if not settings.account.status_webhook_url:
            raise MissingField("status_callback is required: no status service URL is configured")
        # Our own status service: Twilio retries its 503s only if the URL asks it to.
        return with_overrides(settings.account.status_webhook_url)
    url = _url(value, settings.is_local)
    if url is None:
        raise InvalidField("status_callback must be an absolute https URL with a host and a port from 1 to 65535")
    return url


def _validity(value: object) -> int | None:
    if value is None:
        return None
    low, high = VALIDITY_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidField(f"validity_period must be a whole number of seconds from {low} to {high}")
    return value


def _max_price(value: object) -> float | None:
    """Still checked and kept with the request for compatibility; never sent to Twilio,
    which has ignored MaxPrice since 2024-06-03."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1000:
        raise InvalidField("max_price must be a positive number of the account's currency")
    return float(value)

"""Real-shaped Twilio webhook forms and signatures made by Twilio's own RequestValidator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC00000000000000000000000000000000"
CUSTOMER = "+15005550010"
BUSINESS = "+15005550006"

Pairs = list[tuple[str, str]]


class MultiForm:
    """Pairs with repeated names, shaped as RequestValidator expects (it calls getall)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, _ in self.pairs])

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


def new_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


def sms(sid: str | None = None, body: str = "Hello from a customer", **extra: str) -> Pairs:
    """An inbound SMS as Twilio posts it."""
    sid = sid or new_sid("SM")
    pairs = [
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("ToCity", "SAN FRANCISCO"),
        ("FromZip", "94105"),
        ("SmsSid", sid),
        ("FromState", "CA"),
        ("SmsStatus", "received"),
        ("FromCity", "SAN FRANCISCO"),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", BUSINESS),
        ("ToZip", "94105"),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", CUSTOMER),
        ("ApiVersion", "2010-04-01"),
    ]
    return replace(pairs, **extra)


def mms(count: int = 2, sid: str | None = None, body: str = "Look at these") -> Pairs:
    """An inbound MMS with `count` media items."""
    sid = sid or new_sid("MM")
    pairs = replace(sms(sid=sid, body=body), NumMedia=str(count))
    for i in range(count):
        pairs.append((f"MediaContentType{i}", "image/jpeg" if i % 2 == 0 else "image/png"))
        pairs.append(
            (f"MediaUrl{i}", f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/ME{uuid.uuid4().hex}")
        )
    return pairs


def whatsapp(sid: str | None = None, body: str = "Hola") -> Pairs:
    pairs = replace(sms(sid=sid, body=body), From="whatsapp:" + CUSTOMER, To="whatsapp:" + BUSINESS)
    return pairs + [("ProfileName", "Zoë"), ("WaId", CUSTOMER.lstrip("+"))]


def replace(pairs: Pairs, **values: str) -> Pairs:
    """`pairs` with each named field set to the given value (added if absent)."""
    out = [(k, values.get(k, v)) for k, v in pairs]
    out += [(k, v) for k, v in values.items() if k not in dict(pairs)]
    return out


def drop(pairs: Pairs, *names: str) -> Pairs:
    return [(k, v) for k, v in pairs if k not in names]


def sign(url: str, pairs: Sequence[tuple[str, str]], token: str) -> str:
    """The X-Twilio-Signature Twilio would send, computed by Twilio's RequestValidator."""
    return str(RequestValidator(token).compute_signature(url, MultiForm(pairs)))


def encode(pairs: Sequence[tuple[str, str]]) -> str:
    return urlencode(list(pairs))

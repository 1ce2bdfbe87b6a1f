"""Phone addresses: E.164 numbers, optionally behind a channel prefix such as `whatsapp:`.

Checked with libphonenumber (the `phonenumbers` package), not a regular expression: it
knows each country's number lengths. We ask whether a number is *possible* (its length
fits the country's plan), not whether it is *valid* (assigned to a known range): validity
depends on range metadata that lags new allocations, and Twilio is the authority on
whether a number can be reached. It answers 21211 for a possible-but-invalid number, which
the service maps into the taxonomy; what can never be a number (`+1555`) stops here.

`phonenumbers` is imported on the first number checked, not with this module: its import
(~12 ms) is a quarter of the outbound service's cold-start budget, and the routes that never
check a number (GET /messages/{sid}, /health, the retry worker) need not pay it. It is the
pattern `twilio.rest` follows for its own API modules. `make bench` measures the outbound cold
start through what the first send loads, this included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from carrier_core.errors import CarrierError, InvalidField

CHANNEL_PREFIXES = ("whatsapp",)
# A WhatsApp business-scoped user ID (BSUID): Meta's ID for a customer who shares no phone
# number, a country code then digits, e.g. `US.13491208655302741918` or `US.ENT.…` for an
# enterprise-scoped one. https://www.twilio.com/docs/whatsapp/business-scoped-user-ids
BSUID = re.compile(r"^[A-Z]{2}(\.ENT)?\.[0-9A-Za-z]{1,128}$")


@dataclass(frozen=True)
class PhoneAddress:
    """A channel (None for SMS/MMS) and an E.164 number."""

    channel: str | None
    number: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.number}" if self.channel else self.number


def is_bsuid(address: str) -> bool:
    """Whether `address` is a WhatsApp identity by business-scoped user ID (`whatsapp:CC.ID`)."""
    prefix, colon, identity = address.rpartition(":")
    return bool(colon) and prefix == "whatsapp" and BSUID.fullmatch(identity) is not None


def parse_address(value: object, field: str, error: type[CarrierError] = InvalidField, bsuid: bool = False) -> PhoneAddress:
    """Parse `channel:+E164` or `+E164` (and `whatsapp:CC.ID` when `bsuid`); raises `error`
    naming `field` when it is not one."""
    if not isinstance(value, str) or not value:
        raise error(f"{field} must be a phone number in E.164 format, e.g. +14155552671")
    prefix, colon, number = value.rpartition(":")
    if colon and prefix not in CHANNEL_PREFIXES:
        raise error(f"{field} has an unknown channel prefix; allowed: {', '.join(CHANNEL_PREFIXES)}")
    if bsuid and is_bsuid(value):
        return PhoneAddress(prefix, number)
    if not number.startswith("+"):
        if BSUID.fullmatch(number):
            raise error(f"{field} is a WhatsApp business-scoped user ID, accepted only as a whatsapp: recipient")
        raise error(f"{field} must start with + and the country code (E.164)")
    import phonenumbers  # deferred: see the module's docstring

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise error(f"{field} is not a phone number") from exc
    # E.164 is the canonical form: no spaces, dashes or extensions are accepted.
    if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number or parsed.extension:
        raise error(f"{field} must be in E.164 format, e.g. +14155552671")
    if not phonenumbers.is_possible_number(parsed):
        raise error(f"{field} has the wrong number of digits for its country")
    return PhoneAddress(prefix or None, number)

"""How many SMS segments a body costs, and in which encoding.

GSM 03.38: a body made only of the basic table's characters (one septet each) and the
extension table's (an escape plus one septet, so two) is sent as GSM-7, 160 septets in a
single message or 153 per part once concatenated (the user data header takes 7). Anything
else is sent as UCS-2: 70 UTF-16 code units alone, 67 per part. A part never splits an
escape pair or a surrogate pair, so packing is greedy by character, not a division.
https://www.twilio.com/docs/glossary/what-sms-character-limit
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Encoding(str, enum.Enum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# (single-message capacity, per-part capacity when concatenated), in septets or code units.
CAPACITY = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}


@dataclass(frozen=True)
class Segments:
    encoding: Encoding
    count: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2


def _cost(char: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def encoding_of(body: str) -> Encoding:
    """GSM-7 when every character is in the basic or extension table, else UCS-2."""
    allowed = GSM7_BASIC | GSM7_EXTENSION
    return Encoding.GSM7 if all(char in allowed for char in body) else Encoding.UCS2


def count_segments(body: str) -> Segments:
    """The encoding and number of parts `body` is sent as; an empty body is one message."""
    encoding = encoding_of(body)
    costs = [_cost(char, encoding) for char in body]
    units = sum(costs)
    single, per_part = CAPACITY[encoding]
    if units <= single:
        return Segments(encoding, 1, units)
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return Segments(encoding, parts, units)

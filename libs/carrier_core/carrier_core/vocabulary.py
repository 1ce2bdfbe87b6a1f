"""The words every part of the carrier shares, defined once, with no third-party import, so
that the hand-off's event code, the services and the CLI all read them from here.
"""

from __future__ import annotations

import enum

WHATSAPP_PREFIX = "whatsapp:"


class Channel(str, enum.Enum):
    """How a message travels."""

    SMS = "sms"
    MMS = "mms"
    WHATSAPP = "whatsapp"


class Direction(str, enum.Enum):
    """Whether a customer sent the message to a business, or a business to a customer."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MediaStatus(str, enum.Enum):
    """Where an inbound media item's copy stands (carrier_core.media.rehost)."""

    PENDING = "pending"
    STORED = "stored"
    FAILED = "failed"
    REDACTED = "redacted"  # its copy and addresses removed (services/outbound chalicelib/redaction.py)


class Redaction(str, enum.Enum):
    """Where a message's redaction stands (services/outbound chalicelib/redaction.py): its body
    and media are gone here from `requested` on; `done` once Twilio's copy is gone too."""

    REQUESTED = "requested"
    DONE = "done"
    FAILED = "failed"


class OptOutSource(str, enum.Enum):
    """Who changed a customer's opt-out state (stored as null for a keyword)."""

    KEYWORD = "keyword"  # the customer's STOP or START
    OPERATOR = "operator"  # omni-twilio optouts add/remove
    TWILIO = "twilio_21610"  # Twilio refused a send: the customer opted out at Twilio


def channel_of(*addresses: str | None, media: bool) -> Channel:
    """The channel of a message between `addresses`: WhatsApp when either is a WhatsApp
    address, else MMS when it carries media, else SMS."""
    if any((a or "").startswith(WHATSAPP_PREFIX) for a in addresses):
        return Channel.WHATSAPP
    return Channel.MMS if media else Channel.SMS

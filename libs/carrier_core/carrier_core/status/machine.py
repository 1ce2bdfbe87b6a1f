"""The message status state machine, as data: a rank per status and which are terminal.

Twilio's statuses: https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
Callbacks arrive late, twice and out of order, so a status is never "the next one" of
another; the stored status is the reported status with the highest rank, and a report with
a lower or equal rank only adds to the history. Because every known status has its own
rank (a total order), the stored status after any set of reports is the same whatever the
order they arrived in.

Ranks are stored on the item (`status_rank`) and compared by DynamoDB, so they are API:
never renumber one. The gaps leave room to place a new Twilio status between two others.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from carrier_core.errors import UnknownStatus


class MessageStatus(str, enum.Enum):
    """Every status Twilio reports for a message (message_enum_status in its OpenAPI spec)."""

    RECEIVING = "receiving"
    RECEIVED = "received"
    SCHEDULED = "scheduled"
    CANCELED = "canceled"
    ACCEPTED = "accepted"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    PARTIALLY_DELIVERED = "partially_delivered"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    DELIVERED = "delivered"
    READ = "read"


@dataclass(frozen=True)
class StatusRule:
    """Where a status sits: its rank, whether Twilio ends a message's life there, whether it is a failure."""

    rank: int
    terminal: bool = False
    failure: bool = False


# A status this code does not know ranks below every known one: a message first seen
# with such a status is stored with it, and any known status moves past it.
UNKNOWN_RANK = -10

RULES: dict[MessageStatus, StatusRule] = {
    # Inbound statuses sit at or below 0, the rank inbound stores `received` with; Twilio
    # sends no status callback for them, so they only order among themselves.
    MessageStatus.RECEIVING: StatusRule(-5),
    MessageStatus.RECEIVED: StatusRule(0, terminal=True),
    MessageStatus.SCHEDULED: StatusRule(10),
    # Only a scheduled message can be canceled. Any later send status means the cancel lost
    # the race and the message went out, so canceled ranks just above scheduled.
    MessageStatus.CANCELED: StatusRule(15, terminal=True),
    MessageStatus.ACCEPTED: StatusRule(20),
    MessageStatus.QUEUED: StatusRule(30),
    MessageStatus.SENDING: StatusRule(40),
    MessageStatus.SENT: StatusRule(50),
    # Some but not all parts reached the handset; a full outcome, when it comes, is more.
    MessageStatus.PARTIALLY_DELIVERED: StatusRule(60),
    # The three outcomes are peers in Twilio's lifecycle, yet each needs its own rank for
    # the stored status not to depend on arrival order. Evidence of delivery beats a report
    # of failure: `delivered` comes from the handset, while `undelivered` (a carrier's
    # report) and `failed` (Twilio could not hand it on) can be superseded by a late
    # receipt after a carrier retry. `undelivered` beats `failed` as the later-stage report.
    MessageStatus.FAILED: StatusRule(70, terminal=True, failure=True),
    MessageStatus.UNDELIVERED: StatusRule(80, terminal=True, failure=True),
    MessageStatus.DELIVERED: StatusRule(90, terminal=True),
    # WhatsApp only: the recipient opened it, which implies delivery.
    MessageStatus.READ: StatusRule(100, terminal=True),
}

ACCEPTED_STATUSES = ", ".join(s.value for s in MessageStatus)


def parse_status(value: str) -> MessageStatus:
    """The status named `value`; raises UnknownStatus listing the accepted ones."""
    try:
        return MessageStatus(value)
    except ValueError as exc:
        raise UnknownStatus(f"unknown message status {value!r}; accepted: {ACCEPTED_STATUSES}") from exc


def known_status(value: str) -> MessageStatus | None:
    """The status named `value`, or None when Twilio sent one this code does not know."""
    try:
        return MessageStatus(value)
    except ValueError:
        return None


def loggable_status(value: str | None) -> str | None:
    """A status safe to log or use as a metric dimension: a known one, else "unknown".

    A status arrives as free text from a form; one never seen before may hold anything (a
    phone number reached the logs this way), so only the enum's own values are logged.
    """
    if value is None:
        return None
    known = known_status(value)
    return known.value if known is not None else "unknown"


def rule_of(status: MessageStatus) -> StatusRule:
    """The rule of a status; every member of MessageStatus has one."""
    return RULES[status]


def rank_of(value: str) -> int | None:
    """The rank of a status name, or None for a status this code does not know."""
    status = known_status(value)
    return RULES[status].rank if status is not None else None


def stored_rank(value: str) -> int:
    """The rank a message with this status is stored with: UNKNOWN_RANK for a status this
    code does not know, so any known status moves past it."""
    rank = rank_of(value)
    return rank if rank is not None else UNKNOWN_RANK

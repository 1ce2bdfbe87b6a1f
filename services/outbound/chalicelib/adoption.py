"""Which message Twilio holds is ours after a lost answer: one SID, one send.

The search (search.py) finds every message the request could have created, and an
identical send by another request in the window matches as well. Adopting the newest match
gave two callers one SID: the customer got one text where two were asked for, and a text
another create made was tracked by no one. So each SID is owned by one send, recorded on
the message item (`send_id`): the send Twilio answered writes it with its message, and an
adopting send's message write lands only while no other send owns the SID (`claimed`).

A send adopts only a match it can tell is its own: exactly one match no other send owns.
With none (every match is another send's) or several (identical, unowned: any of them may
be another send's still being written) the outcome is unknown: the send is kept for a
reconciler and never sent again, since Twilio may have sent it already.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from carrier_core.models import MessageModel
from carrier_core.settings import Settings
from carrier_core.writes import Update

from chalicelib.request import OutboundRequest
from chalicelib.search import find_messages
from chalicelib.twilio_client import Accepted

log = logging.getLogger(__name__)


class Unmatched(Exception):
    """Twilio holds messages this send may have created, but none is certainly its own."""


def find_own(settings: Settings, request: OutboundRequest, since: datetime, send_id: str) -> Accepted | None:
    """The one match no other send owns; None when nothing matches (nothing was created).

    Raises Unmatched when matches exist but not exactly one is free, and TwilioCallFailed
    (search.py) when the search could not be completed.
    """
    matches = find_messages(settings, request, since)
    if not matches:
        return None
    free: list[Accepted] = []
    for match in matches:
        if _owner(match.sid) in (None, send_id):
            free.append(match)
            if len(free) > 1:
                break  # two already cannot be told apart: no need to read the rest
    log.info("twilio matches owned", extra={"matches": len(matches), "free": len(free)})
    if len(free) != 1:
        raise Unmatched()
    return free[0]


def _owner(sid: str) -> str | None:
    """The send that owns `sid`, None when none does (never stored, or only by a callback).

    A failed read proves nothing, and this runs after Twilio may have created the message,
    so it must not become an error the caller would retry: it counts as owned, which at
    worst leaves the outcome unknown. Caught broadly: PynamoDB 6.1 raises AttributeError
    on a botocore read timeout.
    """
    try:
        item = MessageModel.get(sid, consistent_read=True, attributes_to_get=["send_id"])
    except MessageModel.DoesNotExist:
        return None
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("message owner not read", extra={"message_sid": sid, "error_type": type(exc).__name__})
        return "unreadable"
    owner: str | None = item.send_id
    return owner


def claimed(update: Update) -> Update:
    """`update` (a message write that sets send_id) landing only while no other send owns the SID.

    Between the read in find_own and this write another send may have claimed it; then
    the write's condition fails, and the send's outcome is unknown.
    """
    condition = (
        f"({update.condition})"
        # No send owns it: no item yet, or one a status callback created, which names none.
        " AND (attribute_not_exists(#send_id)"
        # This send owns it already: its own message write tried again.
        " OR #send_id = :send_id)"
    )
    return replace(update, condition=condition)

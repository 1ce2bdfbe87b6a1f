"""Opt-outs: the keywords a customer texts, and the record of who may not be messaged.

Twilio's default keyword set, one table for every action:
https://help.twilio.com/articles/223134027
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable

from pynamodb.exceptions import PutError

from carrier_core.storage import storage_error
from carrier_core.logs import mask_phone
from carrier_core.models import OptOutModel, iso, utc_now
from carrier_core.settings import DEFAULT_TENANT
from carrier_core.tenants import scoped, stored_tenant
from carrier_core.vocabulary import OptOutSource

log = logging.getLogger(__name__)

# What Twilio's error 21610 ("Attempt to send to unsubscribed recipient") records.
TWILIO_OPTED_OUT = 21610


class OptOutAction(str, enum.Enum):
    """What an inbound keyword does to the sender's opt-out state."""

    STOP = "stop"
    START = "start"
    HELP = "help"


KEYWORDS: dict[str, OptOutAction] = {
    **{word: OptOutAction.STOP for word in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT")},
    **{word: OptOutAction.START for word in ("START", "UNSTOP", "YES")},
    **{word: OptOutAction.HELP for word in ("HELP", "INFO")},
}


def match_keyword(body: str | None) -> tuple[str, OptOutAction] | None:
    """The keyword and its action when the whole body is one, ignoring case and spaces."""
    if not body:
        return None
    word = body.strip().strip(".!").upper()
    action = KEYWORDS.get(word)
    return (word, action) if action else None


def set_by(
    phone: str, sender: str, tenant: str, opted_out: bool, source: OptOutSource, message_sid: str | None = None, at: str | None = None
) -> None:
    """Put the (customer, tenant's sender) record as `source` says, unconditionally: what Twilio
    or an operator says is the newest state there is. The table's stream publishes the change."""
    OptOutModel(
        phone,
        scoped(tenant, sender),
        tenant=stored_tenant(tenant),
        opted_out=opted_out,
        keyword=None,
        message_sid=message_sid,
        source=source.value,
        updated_at=at or iso(utc_now()),
    ).save()


def record_twilio_opt_out(phone: str, senders: Iterable[str], message_sid: str | None = None, tenant: str = DEFAULT_TENANT) -> None:
    """Record that Twilio refused `phone` for each of `senders` with 21610.

    Twilio only answers 21610 when the recipient opted out at Twilio (a STOP we may never
    have seen, sent before this carrier existed or to another webhook), so our own table
    learns it and the next send is refused before it reaches Twilio. An unconditional put:
    Twilio's word is the newest state there is. A later START through the inbound webhook
    lifts it, as Twilio does.
    """
    at = iso(utc_now())
    try:
        for sender in dict.fromkeys(s for s in senders if s):
            set_by(phone, sender, tenant, True, OptOutSource.TWILIO, message_sid, at)
    except PutError as exc:
        raise storage_error(exc) from exc
    log.info("opt-out recorded from twilio", extra={"to": mask_phone(phone), "twilio_code": TWILIO_OPTED_OUT})

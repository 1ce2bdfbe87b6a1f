"""The accepted send's one write: the message as Twilio took it, through the status machine."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import TransactWriteError

from carrier_core.models import MediaItem, MessageModel, expiry
from carrier_core.settings import Settings
from carrier_core.status.store import StatusReport, planned_updates, record_status
from carrier_core.storage import storage_error
from carrier_core.writes import update_item

from chalicelib.adoption import claimed
from chalicelib.request import OutboundRequest
from chalicelib.transaction import Companion, failed_conditions, transaction
from chalicelib.twilio_client import Accepted


def write_accepted(
    request: OutboundRequest,
    accepted: Accepted,
    at: datetime,
    settings: Settings,
    send_id: str | None,
    media: list[MediaItem] | None = None,
    companion: Companion | None = None,
    claim: bool = False,
) -> bool:
    """Record the accepted send at `at`; False when a `claim` (an adopted SID) found the SID
    owned by another send, and nothing was written. `media`: what was sent, when the media
    were converted; else the caller's URLs.

    Twilio may call the status service before this write lands, and that callback creates
    the item. `record_status` merges either way round: one UpdateItem when our status is
    further than what is stored, a second (history only) when a callback won the race; the
    fields only we know (body, sender, segments, the owning send) are set in both. With a
    companion, each of those updates is a TransactWriteItems with the companion's write, so
    the happy path is still one request.
    """
    fields = {name: value for name, value in request.message_fields().items() if name != "direction"}
    if media is not None:
        fields["media"] = media
    fields.update(account_sid=accepted.account_sid or settings.account.account_sid, send_id=send_id)
    report = StatusReport(accepted.status, at, source="outbound")
    expires_at = expiry(settings, at)
    if companion is None and not claim:
        record_status(accepted.sid, report, expires_at, fields, authoritative=True)
        return True
    for _, update in planned_updates(accepted.sid, report, expires_at, fields, authoritative=True):
        update = claimed(update) if claim else update
        if companion is None:
            if update_item(MessageModel, update) is not None:
                return True
            continue
        try:
            with transaction() as tx:
                tx.update_item(MessageModel, update)
                companion.add_to(tx)
        except TransactWriteError as exc:
            failed = failed_conditions(exc)
            if failed is not None and failed[:1] == [True] and not any(failed[1:]):
                continue  # the message's own condition: try the next way of writing it
            raise storage_error(exc) from exc
        companion.landed()
        return True
    # Already recorded, or, for a claim, owned by another send. The companion is left for
    # its owner to write alone.
    return not claim

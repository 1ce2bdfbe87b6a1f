"""An opt-out cancels the customer's scheduled messages from that sender, off the webhook's
path: a consumer of the optouts table's stream (a STOP stored by the inbound service, or a
21610 learned on a send), run by its own Lambda (infra/modules/service) and locally by the
stack's poller.

Twilio does not cancel scheduled messages on a STOP
(https://www.twilio.com/docs/messaging/features/message-scheduling), so without this a
customer who opted out would still be texted at the scheduled time.

The customer's scheduled messages come from the messages table's sparse `scheduled`
index (`<tenant>/<customer>`); each still `scheduled` whose number or Messaging Service
is the opt-out's sender is canceled through the API's own core (chalicelib.cancel), which
records the cancel in its history. One that left `scheduled` meanwhile is not_cancelable
and passed over; a failure worth another try fails the record, so the stream brings it
(and those after it) again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import QueryError

from carrier_core.errors import CarrierError, MessageNotFound, NotCancelable, TenantNotFound
from carrier_core.models import MessageModel
from carrier_core.settings import Settings
from carrier_core.status.machine import MessageStatus
from carrier_core.storage import storage_error
from carrier_core.stream.batch import BatchOutcome
from carrier_core.tenants import scoped, tenant_of, unscoped

from chalicelib.cancel import OPT_OUT_CANCEL, cancel_scheduled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptedOut:
    """A customer who opted out of one of a tenant's senders (a number or a Messaging Service)."""

    tenant: str
    customer: str
    sender: str

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> OptedOut | None:
        """The opt-out a stream record stores, or None for a record that is none (a START, a removal)."""
        if record.get("eventName") not in ("INSERT", "MODIFY"):
            return None
        image = record.get("dynamodb", {}).get("NewImage", {})
        if not image.get("opted_out", {}).get("BOOL"):
            return None
        tenant = tenant_of(image.get("tenant", {}).get("S"))
        return cls(tenant, image["phone"]["S"], unscoped(tenant, image["sender"]["S"]))


def scheduled_for(optout: OptedOut) -> Iterator[MessageModel]:
    """The customer's messages still scheduled from the opt-out's sender, by send time."""
    try:
        for item in MessageModel.scheduled.query(scoped(optout.tenant, optout.customer)):
            if item.status == MessageStatus.SCHEDULED.value and optout.sender in (item.from_number, item.messaging_service_sid):
                yield item
    except QueryError as exc:
        raise storage_error(exc) from exc


class OptOutCancels:
    """The optouts stream's consumer that cancels scheduled messages; `settings_for(tenant)`
    is the tenant's settings (its own Twilio account)."""

    def __init__(self, settings_for: Callable[[str], Settings]) -> None:
        self.settings_for = settings_for

    def handle(self, records: Sequence[dict[str, Any]]) -> BatchOutcome:
        outcome = BatchOutcome(records=len(records))
        for record in records:
            try:
                self.cancel_for(record)
            except CarrierError as exc:
                log.warning("opt-out cancels failed", extra={"error_code": exc.code})
                outcome.fail(record["dynamodb"]["SequenceNumber"], f"cancel_failed:{exc.code}")
                return outcome
        return outcome

    def cancel_for(self, record: dict[str, Any]) -> int:
        """Cancel what the record's opt-out covers; how many were canceled."""
        optout = OptedOut.from_record(record)
        if optout is None:
            return 0
        try:
            settings = self.settings_for(optout.tenant)
        except TenantNotFound:
            return 0  # the tenant is gone, and its messages with it
        canceled = 0
        for item in scheduled_for(optout):
            try:
                cancel_scheduled(item.sid, settings, source=OPT_OUT_CANCEL)
            except (NotCancelable, MessageNotFound):
                continue  # its time came first, or it is gone: nothing left to cancel
            canceled += 1
        if canceled:
            log.info("scheduled messages canceled on opt-out", extra={"canceled": canceled, "tenant": optout.tenant})
        return canceled

"""The consumer as the status service's Lambda and the local poller both run it."""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from carrier_core.handoff.consumer import BatchOutcome, process_batch
from carrier_core.handoff.events import derive
from carrier_core.handoff.publish import EventBridgePublisher, Publisher, events_client
from carrier_core.settings import Settings


class Handoff:
    """Derive and publish a batch's events; the EventBridge client is built on first use."""

    def __init__(self, settings: Settings, publish: Publisher | None = None) -> None:
        self.settings = settings
        self._publish = publish
        self._derive = partial(derive, messages_table=settings.messages_table, optouts_table=settings.optouts_table)

    @property
    def publish(self) -> Publisher:
        if self._publish is None:
            self._publish = EventBridgePublisher(events_client(self.settings.region), self.settings.event_bus_name)
        return self._publish

    def handle(self, records: Sequence[dict[str, Any]]) -> BatchOutcome:
        """Process one batch of Lambda-shaped stream records."""
        return process_batch(records, self._derive, self.publish)

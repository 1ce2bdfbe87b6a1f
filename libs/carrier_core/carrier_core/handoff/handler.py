"""The consumer as the status service's Lambda, the local poller and replay all run it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from carrier_core.handoff.consumer import process_batch
from carrier_core.stream.batch import BatchOutcome
from carrier_core.handoff.events import derive
from carrier_core.handoff.publish import EventBridgePublisher, Publisher, events_client
from carrier_core.settings import Settings


@dataclass(frozen=True)
class HandoffConfig:
    """The names the hand-off needs: the tables whose streams it reads, the bus, the DLQ."""

    messages_table: str
    optouts_table: str
    event_bus_name: str
    events_dlq_name: str
    region: str

    @classmethod
    def from_settings(cls, settings: Settings) -> HandoffConfig:
        return cls(settings.messages_table, settings.optouts_table, settings.event_bus_name, settings.events_dlq_name, settings.region)

    @classmethod
    def for_stage(cls, stage: str, environ: Mapping[str, str]) -> HandoffConfig:
        """The stage's names, overridden by the variables Settings reads; no Twilio secret needed."""
        prefix = f"omni-twilio-{stage}"
        return cls(
            environ.get("MESSAGES_TABLE") or f"{prefix}-messages",
            environ.get("OPTOUTS_TABLE") or f"{prefix}-optouts",
            environ.get("EVENT_BUS_NAME") or f"{prefix}-events",
            environ.get("EVENTS_DLQ_NAME") or f"{prefix}-events-dlq",
            environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        )


class Handoff:
    """Derive and publish a batch's events; the EventBridge client is built on first use."""

    def __init__(self, config: HandoffConfig, publish: Publisher | None = None) -> None:
        self.config = config
        self._publish = publish
        self._derive = partial(derive, messages_table=config.messages_table, optouts_table=config.optouts_table)

    @property
    def publish(self) -> Publisher:
        if self._publish is None:
            self._publish = EventBridgePublisher(events_client(self.config.region), self.config.event_bus_name)
        return self._publish

    def handle(self, records: Sequence[dict[str, Any]]) -> BatchOutcome:
        """Process one batch of Lambda-shaped stream records."""
        return process_batch(records, self._derive, self.publish)

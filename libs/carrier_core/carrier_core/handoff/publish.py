"""Putting events on the EventBridge bus: one PutEvents per chunk, a result per entry."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from carrier_core.handoff.events import SOURCE, Event

# PutEvents takes at most 10 entries per call.
MAX_ENTRIES = 10


class Publisher(Protocol):
    def __call__(self, events: Sequence[Event]) -> list[str | None]:
        """Put `events` in one call; per event None when accepted, else the error code."""
        ...


def entry(event: Event, bus_name: str) -> dict[str, Any]:
    """The PutEvents entry of an event."""
    return {
        "Source": SOURCE,
        "DetailType": event.type.value,
        "Detail": json.dumps(event.detail, separators=(",", ":"), sort_keys=True),
        "EventBusName": bus_name,
    }


class EventBridgePublisher:
    """Publishes to one bus through a botocore `events` client, built by the caller."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def __call__(self, events: Sequence[Event]) -> list[str | None]:
        if not events:
            return []
        if len(events) > MAX_ENTRIES:
            raise ValueError(f"at most {MAX_ENTRIES} events per PutEvents call")
        response = self.client.put_events(Entries=[entry(e, self.bus_name) for e in events])
        # Entries come back in the order sent; a failed one has ErrorCode instead of EventId.
        return [r.get("ErrorCode") or None if "EventId" not in r else None for r in response["Entries"]]


def events_client(region: str) -> Any:
    """A botocore EventBridge client (botocore ships with Lambda; boto3 is not needed).

    Locally AWS_ENDPOINT_URL_EVENTBRIDGE points it at the stack's moto server.
    """
    import botocore.config
    import botocore.session

    config = botocore.config.Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
    return botocore.session.get_session().create_client("events", region_name=region, config=config)

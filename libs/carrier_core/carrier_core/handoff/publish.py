"""Putting events on the EventBridge bus: one PutEvents per chunk, a result per entry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from carrier_core.handoff.events import SOURCE, Event

# PutEvents takes at most 10 entries per call, whose sizes add up to less than 256 KB:
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
MAX_ENTRIES = 10
MAX_CALL_BYTES = 256 * 1024 - 1


class Publisher(Protocol):
    def __call__(self, events: Sequence[Event]) -> list[str | None]:
        """Put `events` in one call; per event None when accepted, else the error code."""
        ...


def entry(event: Event, bus_name: str) -> dict[str, Any]:
    """The PutEvents entry of an event."""
    return {"Source": SOURCE, "DetailType": event.type.value, "Detail": event.detail_json, "EventBusName": bus_name}


def entry_size(event: Event) -> int:
    """What the entry counts against MAX_CALL_BYTES, as EventBridge reckons it: the UTF-8
    bytes of Source, DetailType and Detail (no Time, no Resources; the bus name is free)."""
    return len(SOURCE.encode()) + len(event.type.value.encode()) + len(event.detail_json.encode())


class EventBridgePublisher:
    """Publishes to one bus through a botocore `events` client, built by the caller."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def __call__(self, events: Sequence[Event]) -> list[str | None]:
        if not events:
            return []
        if len(events) > MAX_ENTRIES or sum(map(entry_size, events)) > MAX_CALL_BYTES:
            raise ValueError(f"at most {MAX_ENTRIES} events and {MAX_CALL_BYTES} bytes per PutEvents call")
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

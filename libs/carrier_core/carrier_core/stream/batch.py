"""A batch of stream records: what a consumer did with it, and the protocol every consumer
(the hand-off, the media re-host) offers the Lambda, the local poller and the DLQ replay.

Lambda's DynamoDB event source keeps a shard's records in order and, with
ReportBatchItemFailures, restarts the next try at the sequence number reported: every
record before it counts as done, it and everything after it come again, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from carrier_core.handoff.events import Event


@dataclass
class BatchOutcome:
    """What a batch did: events published, the first failed record and why."""

    records: int = 0
    published: list[Event] = field(default_factory=list)
    failed_sequence: str | None = None
    error: str | None = None

    def fail(self, sequence: str, error: str) -> None:
        """Report `sequence` as the first record to try again, for `error` (a short code)."""
        self.failed_sequence, self.error = sequence, error

    def response(self) -> dict[str, Any]:
        """The ReportBatchItemFailures answer Lambda reads."""
        failures = [{"itemIdentifier": self.failed_sequence}] if self.failed_sequence else []
        return {"batchItemFailures": failures}


class Consumer(Protocol):
    """A stream consumer: one batch of Lambda-shaped records in, its outcome out."""

    def handle(self, records: Sequence[dict[str, Any]]) -> BatchOutcome: ...

"""One batch of stream records in, events out, with the first failure reported.

Lambda's DynamoDB event source keeps a shard's records in order and, with
ReportBatchItemFailures, restarts the next try at the sequence number we report. So the
batch stops at its first failure: records before it are done (checkpointed), the failed
one and everything after it come again, in order. Continuing past a failure would publish
a later status of the same message before an earlier one. AWS Lambda Powertools' batch
processor was measured (~115 ms of cold start) and rejected for that reason too: it goes on
after a failed record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from carrier_core.handoff.events import Event
from carrier_core.handoff.publish import MAX_CALL_BYTES, MAX_ENTRIES, Publisher, entry_size
from carrier_core.stream.batch import BatchOutcome
from carrier_core.stream.records import StreamRecord

log = logging.getLogger(__name__)

Derive = Callable[[StreamRecord], list[Event]]


@dataclass
class _Pending:
    events: list[tuple[int, Event]] = field(default_factory=list)
    size: int = 0

    def admits(self, event: Event) -> bool:
        # One chunk never holds two events of one key, so they are put in separate calls,
        # in order, and a failed put never leaves a later event of that key published.
        # Ten long WhatsApp bodies (48 KB each for 4,096 emoji) outgrow a call before its count.
        return (
            len(self.events) < MAX_ENTRIES
            and self.size + entry_size(event) <= MAX_CALL_BYTES
            and all(e.key != event.key for _, e in self.events)
        )

    def add(self, index: int, event: Event) -> None:
        self.events.append((index, event))
        self.size += entry_size(event)

    def take(self) -> list[tuple[int, Event]]:
        chunk, self.events, self.size = self.events, [], 0
        return chunk


def process_batch(raw_records: Sequence[dict[str, Any]], derive: Derive, publish: Publisher) -> BatchOutcome:
    """Publish the events of `raw_records` in order; stop at the first record that fails."""
    outcome = BatchOutcome(records=len(raw_records))
    sequences = [r.get("dynamodb", {}).get("SequenceNumber", "") for r in raw_records]
    pending = _Pending()
    for index, raw in enumerate(raw_records):
        try:
            events = derive(StreamRecord.from_lambda(raw))
        except Exception as exc:  # noqa: BLE001 - a record we cannot read must not hide the ones before it
            if _flush(pending, publish, outcome, sequences):
                outcome.fail(sequences[index], f"unreadable_record:{type(exc).__name__}")
            break
        failed = False
        for event in events:
            if entry_size(event) > MAX_CALL_BYTES:
                # No call can carry it: fail the record (its retries, then the DLQ and its alarm)
                # rather than put a chunk that can only be refused.
                if _flush(pending, publish, outcome, sequences):
                    outcome.fail(sequences[index], "entry_too_large")
                failed = True
                break
            if not pending.admits(event) and not _flush(pending, publish, outcome, sequences):
                failed = True
                break
            pending.add(index, event)
        if failed:
            break
    else:
        _flush(pending, publish, outcome, sequences)
    log.info(
        "hand-off batch",
        extra={
            "records": outcome.records,
            "published": len(outcome.published),
            "failed_sequence": outcome.failed_sequence,
            "error": outcome.error,
        },
    )
    return outcome


def _flush(pending: _Pending, publish: Publisher, outcome: BatchOutcome, sequences: list[str]) -> bool:
    """Put the pending chunk; False (and the failure noted) when any entry was refused."""
    chunk = pending.take()
    if not chunk:
        return True
    try:
        errors = publish([event for _, event in chunk])
    except Exception as exc:  # noqa: BLE001 - the bus or the network: retried by the event source
        outcome.fail(sequences[chunk[0][0]], f"publish_failed:{type(exc).__name__}")
        return False
    for (index, event), error in zip(chunk, errors):
        if error is not None:
            outcome.fail(sequences[index], f"entry_refused:{error}")
            return False
        outcome.published.append(event)
    return True

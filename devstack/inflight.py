"""The media re-host's poller: several batches of a shard in flight at once.

The deployed re-host's mapping runs up to ten batches of a shard side by side
(parallelization_factor), so a media server that takes its item's whole deadline holds up
that batch only. The base poller handles one batch at a time, and a message whose record
came in the next batch would wait for the slow one. Here each batch goes to a thread as
soon as it is read; the checkpoint still advances over finished batches in the order they
were read, so a kill loses nothing (the re-host's conditional update makes a batch run
twice write once). A failed batch stops the shard as in the base: the batches after it
are let finish, then reading starts again from the failed record.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from carrier_core.stream.batch import BatchOutcome
from devstack.poller import Poller

IN_FLIGHT = 8


@dataclass
class _Batch:
    records: list[dict[str, Any]]
    following: str | None
    outcome: Future[BatchOutcome]


class InFlightPoller(Poller):
    """A Poller whose batches run side by side, up to IN_FLIGHT per shard."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="batch")
        self.flights: dict[tuple[str, str], deque[_Batch]] = {}

    def forget(self) -> None:
        # Started batches finish first: reading again from the checkpoint must not hand a
        # batch that is still running to a second thread.
        self._drain_all()
        super().forget()

    def poll_shard(self, arn: str, shard: dict[str, Any]) -> int:
        state = self.checkpoints.shard(arn, shard["ShardId"])
        if state["done"]:
            return 0
        key = (arn, shard["ShardId"])
        flight = self.flights.setdefault(key, deque())
        settled = self._settle_finished(arn, shard["ShardId"], state, flight)
        # Reading on needs the iterator after the last batch sent; without one (a failure
        # reset the shard, or it closed) only an empty flight may read from the checkpoint.
        if len(flight) >= IN_FLIGHT or (flight and key not in self.iterators):
            return settled
        records, following = self.read_page(arn, shard["ShardId"], state)
        if not records:
            if flight and following is None:
                return settled  # closed: done once what is in flight is settled
            self.note_empty(arn, shard["ShardId"], state, following)
            return settled
        self.batches += 1
        flight.append(_Batch(records, following, self.pool.submit(self.handoff.handle, records)))
        if following is not None:
            self.iterators[key] = following
        return settled + len(records)

    def _settle_finished(self, arn: str, shard_id: str, state: dict[str, Any], flight: deque[_Batch]) -> int:
        """Checkpoint the finished batches at the head of the flight, in order; on a failed
        one, wait for the rest, drop them and the iterator: the shard starts again there."""
        settled = 0
        while flight and flight[0].outcome.done():
            batch = flight.popleft()
            outcome = batch.outcome.result()
            settled += len(batch.records)
            if outcome.failed_sequence is None:
                # The iterator kept for reading on stays; `done` only once the last batch is in.
                state["sequence"] = batch.records[-1]["dynamodb"]["SequenceNumber"]
                state["done"] = batch.following is None and not flight
                self.checkpoints.save()
                continue
            wait([b.outcome for b in flight])
            flight.clear()
            self.settle(arn, shard_id, state, batch.records, outcome, batch.following)
            break
        return settled

    def _drain_all(self) -> None:
        for flight in self.flights.values():
            wait([b.outcome for b in flight])
            flight.clear()

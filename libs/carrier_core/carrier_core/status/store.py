"""Storing a status report: one conditional UpdateItem on the in-order path, no read first.

A report is a Twilio status callback or, for the outbound service, Twilio's answer to a
send. Both go through `record_status`, so a message written by either merges with what the
other wrote, whichever came first. services/status/README.md explains the writes.
"""
from __future__ import annotations

import enum
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action

from carrier_core.errors import CarrierError
from carrier_core.models import HistoryEntry, MessageModel, iso
from carrier_core.status.machine import UNKNOWN_RANK, MessageStatus, known_status, rule_of
from carrier_core.storage import is_condition_failure, storage_error

log = logging.getLogger(__name__)

OUTBOUND = "outbound"

# DynamoDB refuses an item over 400 KB, and a message refused further callbacks at ~240 KB
# once Twilio (or a loop) reported enough of them. Once the history passes HISTORY_TRIM_AT
# entries it is cut back to the first and the latest HISTORY_KEEP - 1, the count of the rest
# kept in `history_dropped`. A message's whole life is under ten callbacks, so 25 entries
# lose nothing on an ordinary message; the gap between the two numbers means one extra
# write every five callbacks past 30, never below. With each entry's free text capped at
# MAX_DETAIL_CHARS an item stays under about 30 KB.
HISTORY_KEEP = 25
HISTORY_TRIM_AT = 30
MAX_DETAIL_CHARS = 512


class Outcome(str, enum.Enum):
    """What recording a report did to the stored message."""

    ADVANCED = "advanced"  # moved the status forward and added to the history
    RECORDED = "recorded"  # added to the history only: a late, repeated-rank or unknown status
    DUPLICATE = "duplicate"  # already in the history: nothing written


@dataclass(frozen=True)
class StatusReport:
    """One report of a message's status, as received; `status` is Twilio's word, known or not."""

    status: str
    at: datetime
    source: str
    error_code: int | None = None
    raw_dlr_done_date: str | None = None
    channel_status_message: str | None = None

    @property
    def known(self) -> MessageStatus | None:
        return known_status(self.status)

    @property
    def rank(self) -> int | None:
        known = self.known
        return rule_of(known).rank if known is not None else None

    @property
    def event_id(self) -> str:
        """A stable id of what was reported, the same for every delivery of one callback.

        When it arrived is left out, so a redelivery has the same id; where it came from is
        in, so the outbound service's own record of `queued` never hides Twilio's callback.
        """
        fields = [self.source, self.status, self.error_code, self.raw_dlr_done_date, self.channel_status_message]
        return hashlib.sha256(json.dumps(fields).encode("utf-8")).hexdigest()[:32]

    def history_entry(self) -> HistoryEntry:
        # MapAttribute's constructor is untyped in PynamoDB; the fields are checked by name.
        return HistoryEntry(  # type: ignore[no-untyped-call]
            status=self.status,
            at=iso(self.at),
            error_code=self.error_code,
            source=self.source,
            event_id=self.event_id,
            raw_dlr_done_date=_capped(self.raw_dlr_done_date),
            channel_status_message=_capped(self.channel_status_message),
        )


def _capped(text: str | None) -> str | None:
    """Free text as kept in the history: at most MAX_DETAIL_CHARS (the event id hashes it whole)."""
    return text[:MAX_DETAIL_CHARS] if text is not None else None


@dataclass(frozen=True)
class Recorded:
    """The result of `record_status`: the outcome, whether the write created the message, and its status after."""

    outcome: Outcome
    created: bool = False
    status: str | None = None
    error_code: int | None = None
    requests: int = 1


def record_status(
    sid: str,
    report: StatusReport,
    expires_at: datetime,
    fields: Mapping[str, Any] | None = None,
    authoritative: bool = False,
) -> Recorded:
    """Add `report` to the message `sid`, moving its status if the report's rank is higher.

    `fields` are other MessageModel attributes (by Python name: from_number, body, ...)
    the reporter knows: set only where the item has none, unless `authoritative` (the
    outbound service, which knows what it sent). One UpdateItem when the status moves; a
    second, history only, when it does not. Raises carrier_core.storage's error when DynamoDB fails.
    """
    item = MessageModel(sid)
    rank = report.rank
    requests = 0
    if rank is not None:
        requests += 1
        if _update(item, _advance_actions(report, rank, expires_at, fields, authoritative), _advance_condition(report, rank)):
            return _recorded(Outcome.ADVANCED, item, requests + trim_history(item))
    requests += 1
    if _update(item, _append_actions(report, expires_at, fields, authoritative), _append_condition(report)):
        return _recorded(Outcome.RECORDED, item, requests + trim_history(item))
    return Recorded(Outcome.DUPLICATE, requests=requests)


def trim_history(item: MessageModel) -> int:
    """Cut a long history back to its first and latest entries; the requests it took (0 or 1).

    `item` is the message as the write just returned it. The cut is conditioned on the
    history still having that length, so a callback appended meanwhile is never lost: the
    cut is skipped and the next write makes it. Event ids of dropped entries are forgotten
    with them, so a redelivery older than the kept window can be recorded once more; the
    status cannot regress, since the rank condition does not depend on the history.
    """
    history = list(item.history or [])
    if len(history) <= HISTORY_TRIM_AT:
        return 0
    kept = [history[0], *history[len(history) - (HISTORY_KEEP - 1):]]
    event_ids = {entry.event_id for entry in kept if entry.event_id}
    M = MessageModel
    actions: list[Action] = [
        M.history.set(kept),
        M.history_dropped.set((M.history_dropped | 0) + (len(history) - len(kept))),
        M.event_ids.set(event_ids) if event_ids else M.event_ids.remove(),
    ]
    unchanged: Condition = size(M.history) == len(history)  # type: ignore[no-untyped-call]  # PynamoDB leaves size() unannotated
    try:
        # False (the condition failed) means a concurrent write got there first and will trim.
        _update(item, actions, unchanged)
    except CarrierError as exc:
        # The report is already stored; a failed cut is retried by the next write, so it
        # must not turn into an error that makes Twilio send the callback again.
        log.warning("history not trimmed", extra={"message_sid": item.sid, "error_code": exc.code})
    return 1


def planned_updates(
    report: StatusReport,
    expires_at: datetime,
    fields: Mapping[str, Any] | None = None,
    authoritative: bool = False,
) -> list[tuple[list[Action], Condition]]:
    """The conditional UpdateItems `record_status` tries, in order: advance (for a known
    status), then history only. The first whose condition holds is the write; a caller
    that must land it in a transaction with another item tries them the same way."""
    rank = report.rank
    plans: list[tuple[list[Action], Condition]] = []
    if rank is not None:
        plans.append((_advance_actions(report, rank, expires_at, fields, authoritative), _advance_condition(report, rank)))
    plans.append((_append_actions(report, expires_at, fields, authoritative), _append_condition(report)))
    return plans


def _update(item: MessageModel, actions: list[Action], condition: Condition) -> bool:
    """Run one UpdateItem; False when its condition failed, the classified storage error otherwise."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise storage_error(exc) from exc
    return True


def _recorded(outcome: Outcome, item: MessageModel, requests: int) -> Recorded:
    # The update returned the item as written. Whichever write creates a message writes a
    # single history entry, and every later write adds one, so a history of one entry
    # means this write created it: the SID was unknown until now. No extra read needed.
    history = item.history or []
    error_code = int(item.error_code) if item.error_code is not None else None
    return Recorded(outcome, created=len(history) == 1, status=item.status, error_code=error_code, requests=requests)


def _advance_condition(report: StatusReport, rank: int) -> Condition:
    M = MessageModel
    moves = (
        M.sid.does_not_exist()  # the first report of a SID we never stored: create it
        | M.status_rank.does_not_exist()  # an item written without a rank: any known status is more
        | (M.status_rank < rank)  # strictly further than stored: never a regression, never a tie
    )
    # Implied while ranks only rise (a recorded report left status_rank >= its rank), kept
    # so that a writer breaking that rule still cannot add a report twice.
    condition: Condition = moves & ~M.event_ids.contains(report.event_id)
    return condition


def _append_condition(report: StatusReport) -> Condition:
    # The only reason to refuse a history entry is that it is already there. No
    # attribute_exists(sid): if the item is gone or never was, this write creates it.
    condition: Condition = ~MessageModel.event_ids.contains(report.event_id)
    return condition


def _advance_actions(
    report: StatusReport, rank: int, expires_at: datetime, fields: Mapping[str, Any] | None, authoritative: bool
) -> list[Action]:
    M = MessageModel
    return [
        M.status.set(report.status),
        M.status_rank.set(rank),
        # The error belongs to the status it came with: a delivered report clears it.
        M.error_code.set(report.error_code) if report.error_code is not None else M.error_code.remove(),
        *_common_actions(report, expires_at, fields, authoritative),
    ]


def _append_actions(
    report: StatusReport, expires_at: datetime, fields: Mapping[str, Any] | None, authoritative: bool
) -> list[Action]:
    M = MessageModel
    rank = report.rank
    return [
        # Only on an item this write creates (a SID first seen with an unknown status, or
        # an item deleted meanwhile): an existing status is never touched here.
        M.status.set(M.status | report.status),
        M.status_rank.set(M.status_rank | (rank if rank is not None else UNKNOWN_RANK)),
        *_common_actions(report, expires_at, fields, authoritative),
    ]


def _common_actions(
    report: StatusReport, expires_at: datetime, fields: Mapping[str, Any] | None, authoritative: bool
) -> list[Action]:
    M = MessageModel
    at = iso(report.at)
    actions: list[Action] = [
        M.history.set((M.history | []).append([report.history_entry()])),
        M.event_ids.add({report.event_id}),
        M.updated_at.set(at),
        M.created_at.set(M.created_at | at),
        M.expires_at.set(M.expires_at | expires_at),
    ]
    merged = {"direction": OUTBOUND, **(fields or {})}
    for name, value in merged.items():
        if value is None:
            continue
        attribute = getattr(M, name)
        actions.append(attribute.set(value) if authoritative else attribute.set(attribute | value))
    return actions

"""Storing a status report: one conditional UpdateItem on the in-order path, no read first.

A report is a Twilio status callback or, for the outbound service, Twilio's answer to a
send. Both go through `record_status`, so a message written by either merges with what the
other wrote, whichever came first. services/status/README.md explains the writes.
"""
from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from carrier_core.errors import StorageUnavailable
from carrier_core.models import HistoryEntry, MessageModel, iso
from carrier_core.status.machine import UNKNOWN_RANK, MessageStatus, known_status, rule_of
from carrier_core.storage import condition_failed

OUTBOUND = "outbound"


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
            raw_dlr_done_date=self.raw_dlr_done_date,
            channel_status_message=self.channel_status_message,
        )


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
    second, history only, when it does not. Raises StorageUnavailable when DynamoDB fails.
    """
    item = MessageModel(sid)
    rank = report.rank
    requests = 0
    if rank is not None:
        requests += 1
        if _update(item, _advance_actions(report, rank, expires_at, fields, authoritative), _advance_condition(report, rank)):
            return _recorded(Outcome.ADVANCED, item, requests)
    requests += 1
    if _update(item, _append_actions(report, expires_at, fields, authoritative), _append_condition(report)):
        return _recorded(Outcome.RECORDED, item, requests)
    return Recorded(Outcome.DUPLICATE, requests=requests)


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
    """Run one UpdateItem; False when its condition failed, StorageUnavailable on any other failure."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise StorageUnavailable() from exc
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

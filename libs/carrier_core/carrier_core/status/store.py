"""Storing a status report: one conditional UpdateItem on the in-order path, no read first.

A report is a Twilio status callback or, for the outbound service, Twilio's answer to a
send. Both go through `record_status`, so a message written by either merges with what the
other wrote, whichever came first. services/status/README.md explains the writes.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carrier_core.errors import CarrierError
from carrier_core.models import HistoryEntry, MessageModel, iso
from carrier_core.status.machine import UNKNOWN_RANK, MessageStatus, known_status, rule_of
from carrier_core.writes import Raw, Update, placeholders, stored_name, update_item, value, values

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

    @functools.cached_property
    def event_id(self) -> str:
        """A stable id of what was reported, the same for every delivery of one callback.

        When it arrived is left out, so a redelivery has the same id; where it came from is
        in, so the outbound service's own record of `queued` never hides Twilio's callback.
        """
        fields = [self.source, self.status, self.error_code, self.raw_dlr_done_date, self.channel_status_message]
        return hashlib.sha256(json.dumps(fields).encode("utf-8")).hexdigest()[:32]

    def history_fields(self) -> dict[str, Any]:
        """The report's history entry, by HistoryEntry attribute."""
        return {
            "status": self.status,
            "at": iso(self.at),
            "error_code": self.error_code,
            "source": self.source,
            "event_id": self.event_id,
            "raw_dlr_done_date": _capped(self.raw_dlr_done_date),
            "channel_status_message": _capped(self.channel_status_message),
        }


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
    requests = 0
    for outcome, update in planned_updates(sid, report, expires_at, fields, authoritative):
        requests += 1
        item = update_item(MessageModel, update)
        if item is not None:
            return _recorded(outcome, item, requests + trim_history(sid, item))
    return Recorded(Outcome.DUPLICATE, requests=requests)


def trim_history(sid: str, item: Mapping[str, Raw]) -> int:
    """Cut a long history back to its first and latest entries; the requests it took (0 or 1).

    `item` is the message as the write just returned it. The cut is conditioned on the
    history still having that length, so a callback appended meanwhile is never lost: the
    cut is skipped and the next write makes it. Event ids of dropped entries are forgotten
    with them, so a redelivery older than the kept window can be recorded once more; the
    status cannot regress, since the rank condition does not depend on the history.
    """
    history = item.get(_HISTORY, {}).get("L", [])
    if len(history) <= HISTORY_TRIM_AT:
        return 0
    kept = [history[0], *history[len(history) - (HISTORY_KEEP - 1) :]]
    event_ids = {entry["M"][_EVENT_ID]["S"] for entry in kept if _EVENT_ID in entry.get("M", {})}
    names = placeholders(MessageModel, "history", "history_dropped", "event_ids")
    expression = "SET #history = :kept, #history_dropped = if_not_exists(#history_dropped, :none) + :dropped"
    expression += ", #event_ids = :event_ids" if event_ids else " REMOVE #event_ids"
    trim_values: dict[str, Raw] = {
        ":kept": {"L": kept},
        ":none": {"N": "0"},
        ":dropped": {"N": str(len(history) - len(kept))},
        ":length": {"N": str(len(history))},
    }
    if event_ids:
        trim_values[":event_ids"] = value(MessageModel, "event_ids", event_ids)
    unchanged = "size(#history) = :length"
    try:
        # None (the condition failed) means a concurrent write got there first and will trim.
        update_item(MessageModel, Update(_key(sid), expression, unchanged, names, trim_values))
    except CarrierError as exc:
        # The report is already stored; a failed cut is retried by the next write, so it
        # must not turn into an error that makes Twilio send the callback again.
        log.warning("history not trimmed", extra={"message_sid": sid, "error_code": exc.code})
    return 1


def planned_updates(
    sid: str,
    report: StatusReport,
    expires_at: datetime,
    fields: Mapping[str, Any] | None = None,
    authoritative: bool = False,
) -> Iterator[tuple[Outcome, Update]]:
    """The conditional UpdateItems `record_status` tries, in order, each with the outcome it
    means: advance (for a known status), then history only. The first whose condition
    holds is the write; a caller that must land it in a transaction with another item tries
    them the same way. Each is built only when asked for: the in-order path needs one."""
    rank = report.rank
    if rank is not None:
        yield Outcome.ADVANCED, _update(sid, report, rank, True, expires_at, fields, authoritative)
    yield Outcome.RECORDED, _update(sid, report, rank, False, expires_at, fields, authoritative)


def _stored(name: str) -> str:
    return stored_name(MessageModel, name)


_HISTORY = _stored("history")
_EVENT_ID = stored_name(HistoryEntry, "event_id")


def _key(sid: str) -> dict[str, Raw]:
    return values(MessageModel, {"sid": sid})


def _recorded(outcome: Outcome, item: Mapping[str, Raw], requests: int) -> Recorded:
    # The update returned the item as written. Whichever write creates a message writes a
    # single history entry, and every later write adds one, so a history of one entry
    # means this write created it: the SID was unknown until now. No extra read needed.
    history = item.get(_HISTORY, {}).get("L", [])
    status = item.get(_stored("status"), {}).get("S")
    error_code = item.get(_stored("error_code"), {}).get("N")
    return Recorded(
        outcome, created=len(history) == 1, status=status, error_code=int(error_code) if error_code is not None else None, requests=requests
    )


def _update(
    sid: str,
    report: StatusReport,
    rank: int | None,
    advance: bool,
    expires_at: datetime,
    fields: Mapping[str, Any] | None,
    authoritative: bool,
) -> Update:
    """One of the two writes of a report: its expression (one per shape), and its values."""
    M = MessageModel  # noqa: N806 - short, as in the expressions it spells
    given = {name: item for name, item in {"direction": OUTBOUND, **(fields or {})}.items() if item is not None}
    sets_error = advance and report.error_code is not None
    expression, condition, names = _expression(advance, sets_error, tuple(given), authoritative)
    update_values = {
        ":status": value(M, "status", report.status),
        ":rank": value(M, "status_rank", rank if rank is not None else UNKNOWN_RANK),
        ":event_id": {"S": report.event_id},
        ":event_ids": value(M, "event_ids", {report.event_id}),
        ":entry": value(M, "history", [report.history_fields()]),
        ":no_history": {"L": []},
        ":at": value(M, "updated_at", iso(report.at)),
        ":expires_at": value(M, "expires_at", expires_at),
        **{":" + name: value(M, name, item) for name, item in given.items()},
    }
    if sets_error:
        update_values[":error_code"] = value(M, "error_code", report.error_code)
    return Update(_key(sid), expression, condition, dict(names), update_values)


_WRITTEN_BY_EVERY_REPORT = {"sid", "status", "status_rank", "error_code", "history", "event_ids", "updated_at", "created_at", "expires_at"}


@functools.lru_cache(maxsize=128)
def _expression(advance: bool, sets_error: bool, fields: tuple[str, ...], authoritative: bool) -> tuple[str, str, dict[str, str]]:
    """The update, the condition and the names of a write of this shape.

    Advance, for a known status: set status, rank and error, if the stored rank is lower
    (or there is none, or no item) and the report is not in the history yet. History only:
    add the report unless it is already there, and set status and rank only on an item this
    write creates (a SID first seen with an unknown status, or an item deleted meanwhile):
    an existing status is never touched there. Both add the history entry and its event id,
    stamp the times, and set `fields`: only where unset, unless `authoritative`.
    """
    if clash := set(fields) & _WRITTEN_BY_EVERY_REPORT:
        raise ValueError(f"{sorted(clash)} are the report's own to write, not fields")
    names = placeholders(MessageModel, "status", "status_rank", "event_ids", "history", "updated_at", "created_at", "expires_at", *fields)
    removes = ""
    if advance:
        sets = ["#status = :status", "#status_rank = :rank"]
        # The error belongs to the status it came with: a delivered report clears it.
        names.update(placeholders(MessageModel, "error_code", "sid"))
        if sets_error:
            sets.append("#error_code = :error_code")
        else:
            removes = " REMOVE #error_code"
        # Strictly further than stored: never a regression, never a tie. The first report of
        # a SID we never stored creates it; an item written without a rank takes any status.
        # The event id test is implied while ranks only rise (a recorded report left
        # status_rank >= its rank), kept so that a writer breaking that rule still cannot
        # add a report twice.
        condition = (
            "(attribute_not_exists(#sid) OR attribute_not_exists(#status_rank) OR #status_rank < :rank)"
            " AND NOT contains(#event_ids, :event_id)"
        )
    else:
        sets = ["#status = if_not_exists(#status, :status)", "#status_rank = if_not_exists(#status_rank, :rank)"]
        # The only reason to refuse a history entry is that it is already there. No
        # attribute_exists(sid): if the item is gone or never was, this write creates it.
        condition = "NOT contains(#event_ids, :event_id)"
    sets += [
        "#history = list_append(if_not_exists(#history, :no_history), :entry)",
        "#updated_at = :at",
        "#created_at = if_not_exists(#created_at, :at)",
        "#expires_at = if_not_exists(#expires_at, :expires_at)",
    ]
    for name in fields:
        stored = "#" + _stored(name)
        sets.append(f"{stored} = :{name}" if authoritative else f"{stored} = if_not_exists({stored}, :{name})")
    return f"SET {', '.join(sets)}{removes} ADD #event_ids :event_ids", condition, names

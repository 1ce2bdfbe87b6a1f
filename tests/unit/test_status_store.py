"""Recording status reports against DynamoDB (moto, in process): every pair of statuses, both orders."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from carrier_core.errors import StorageUnavailable
from carrier_core.models import MediaItem, MessageModel, bind_models
from carrier_core.settings import Settings
from carrier_core.status.machine import UNKNOWN_RANK, MessageStatus, rank_of
from carrier_core.status.store import Outcome, Recorded, StatusReport, record_status
from tests.support.callbacks import moto_messages_table
from tests.support.forms import BUSINESS, CUSTOMER, new_sid

NEW_STATUS = "carrier_accepted"  # one Twilio might add tomorrow
STATUSES = [s.value for s in MessageStatus] + [NEW_STATUS]
ERRORS = {"failed": 30007, "undelivered": 30003}
T0 = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)
EXPIRES = T0 + timedelta(days=400)


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    with moto_messages_table():
        yield


def report(status: str, seconds: int = 0, source: str = "callback", **extra: str) -> StatusReport:
    return StatusReport(status, T0 + timedelta(seconds=seconds), source, error_code=ERRORS.get(status), **extra)


def record(sid: str, status: str, seconds: int = 0) -> Recorded:
    return record_status(sid, report(status, seconds), EXPIRES, {"from_number": BUSINESS, "to_number": CUSTOMER})


def effective_rank(status: str) -> int:
    rank = rank_of(status)
    return UNKNOWN_RANK if rank is None else rank


@pytest.mark.parametrize(("first", "second"), list(itertools.product(STATUSES, repeat=2)), ids="{0[0]}-then-{0[1]}".format)
def test_every_pair_of_statuses_in_either_order(first: str, second: str) -> None:
    sid = new_sid()
    one = record(sid, first)
    two = record(sid, second, seconds=1)

    # The stored status is the further of the two; on a tie (two unknown statuses) the first stays.
    winner = second if effective_rank(second) > effective_rank(first) else first
    item = MessageModel.get(sid, consistent_read=True)
    assert (item.status, item.error_code) == (winner, ERRORS.get(winner) if rank_of(winner) is not None else None)
    assert item.status_rank == effective_rank(winner)
    assert item.direction == "outbound" and (item.from_number, item.to_number) == (BUSINESS, CUSTOMER)

    # Both are in the history in arrival order, each with its own error code, unless the
    # second is the same callback again.
    expected_history = [first] if first == second else [first, second]
    assert [h.status for h in item.history] == expected_history
    assert [h.error_code for h in item.history] == [ERRORS.get(s) for s in expected_history]
    assert item.event_ids == {h.event_id for h in item.history}
    assert item.created_at == "2026-11-24T14:00:00.000Z"
    assert item.updated_at == ("2026-11-24T14:00:00.000Z" if first == second else "2026-11-24T14:00:01.000Z")

    assert one.created and one.outcome is (Outcome.ADVANCED if rank_of(first) is not None else Outcome.RECORDED)
    assert one.requests == 1
    if first == second:
        assert two == Recorded(Outcome.DUPLICATE, requests=2 if rank_of(second) is not None else 1)
    elif winner == second and first != second:
        assert (two.outcome, two.created, two.requests) == (Outcome.ADVANCED, False, 1)
    else:
        assert (two.outcome, two.created) == (Outcome.RECORDED, False)
        assert two.requests == (2 if rank_of(second) is not None else 1)


@dataclass(frozen=True)
class Case:
    label: str
    statuses: list[str]
    status: str
    error_code: int | None = None


# The rules the issue names, written out rather than derived from the ranks.
CASES = [
    Case("late sent never overwrites delivered", ["delivered", "sent"], "delivered"),
    Case("delivered, sent, queued", ["delivered", "sent", "queued"], "delivered"),
    Case("read follows delivered", ["sent", "delivered", "read"], "read"),
    Case("delivered after read changes nothing", ["read", "delivered"], "read"),
    Case("undelivered keeps its error through a late sent", ["sent", "undelivered", "sent"], "undelivered", 30003),
    Case("failed keeps its error", ["queued", "failed", "sending"], "failed", 30007),
    Case("a late receipt beats undelivered and clears its error", ["undelivered", "delivered"], "delivered"),
    Case("undelivered after delivered changes nothing", ["delivered", "undelivered"], "delivered"),
    Case("a scheduled message canceled", ["scheduled", "canceled"], "canceled"),
    Case("sent after canceled: the cancel lost the race", ["canceled", "sent"], "sent"),
    Case("unknown status does not move a known one", ["sent", NEW_STATUS], "sent"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_named_rules(case: Case) -> None:
    sid = new_sid()
    for i, status in enumerate(case.statuses):
        record(sid, status, seconds=i)
    item = MessageModel.get(sid, consistent_read=True)
    assert (item.status, item.error_code) == (case.status, case.error_code)
    assert [h.status for h in item.history] == [s for i, s in enumerate(case.statuses) if s not in case.statuses[:i]]


def test_callback_details_are_kept_in_the_history() -> None:
    sid = new_sid()
    detailed = report("undelivered", raw_dlr_done_date="2611241407", channel_status_message="Recipient is unreachable")
    record_status(sid, detailed, EXPIRES)
    entry = MessageModel.get(sid).history[0]
    assert (entry.raw_dlr_done_date, entry.channel_status_message, entry.source) == ("2611241407", "Recipient is unreachable", "callback")
    assert (entry.at, entry.error_code, entry.event_id) == ("2026-11-24T14:00:00.000Z", 30003, detailed.event_id)


def test_same_status_with_other_details_is_another_callback() -> None:
    sid = new_sid()
    assert record_status(sid, report("sent"), EXPIRES).outcome is Outcome.ADVANCED
    again = record_status(sid, report("sent", seconds=5, channel_status_message="resent by the carrier"), EXPIRES)
    assert again.outcome is Outcome.RECORDED
    assert [h.channel_status_message for h in MessageModel.get(sid).history] == [None, "resent by the carrier"]


def test_event_id_ignores_arrival_time_but_not_source() -> None:
    assert report("sent").event_id == report("sent", seconds=60).event_id
    assert report("sent").event_id != report("sent", source="api").event_id
    assert report("sent").event_id != report("sending").event_id


def test_callback_fields_never_overwrite_what_is_stored() -> None:
    sid = new_sid()
    record_status(sid, report("queued"), EXPIRES, {"from_number": BUSINESS, "channel": "sms"})
    record_status(sid, report("sent", seconds=1), EXPIRES, {"from_number": "+15005550099", "channel": "mms"})
    item = MessageModel.get(sid)
    assert (item.from_number, item.channel, item.status) == (BUSINESS, "sms", "sent")


# ---- the outbound service's write: the same function, authoritative about what it sent ----


MEDIA_URL = "https://media.example.com/receipt.jpg"


def outbound_write(sid: str, seconds: int = 0) -> Recorded:
    fields = {
        "body": "Your order shipped",
        "from_number": BUSINESS,
        "to_number": CUSTOMER,
        "channel": "mms",
        "num_segments": 1,
        "media": [MediaItem(url=MEDIA_URL, content_type="image/jpeg")],
    }
    return record_status(sid, report("queued", seconds, source="api"), EXPIRES, fields, authoritative=True)


def test_outbound_write_after_callbacks_merges_without_regressing() -> None:
    sid = new_sid()
    record(sid, "sent")
    record(sid, "delivered", seconds=1)
    merged = outbound_write(sid, seconds=2)
    assert (merged.outcome, merged.created, merged.status) == (Outcome.RECORDED, False, "delivered")
    item = MessageModel.get(sid)
    assert (item.status, item.body, item.num_segments, item.created_at) == (
        "delivered",
        "Your order shipped",
        1,
        "2026-11-24T14:00:00.000Z",
    )
    # The outbound service knows what it sent: its channel replaces the one the callback guessed.
    assert (item.channel, [m.url for m in item.media]) == ("mms", [MEDIA_URL])
    assert [(h.status, h.source) for h in item.history] == [("sent", "callback"), ("delivered", "callback"), ("queued", "api")]


def test_outbound_write_first_then_queued_callback_keeps_both() -> None:
    sid = new_sid()
    first = outbound_write(sid)
    assert (first.outcome, first.created, first.requests) == (Outcome.ADVANCED, True, 1)
    queued = record(sid, "queued", seconds=1)
    assert queued.outcome is Outcome.RECORDED
    assert record(sid, "sent", seconds=2).requests == 1
    item = MessageModel.get(sid)
    assert [(h.status, h.source) for h in item.history] == [("queued", "api"), ("queued", "callback"), ("sent", "callback")]


def test_outbound_write_retried_is_a_duplicate() -> None:
    sid = new_sid()
    outbound_write(sid)
    assert outbound_write(sid, seconds=3).outcome is Outcome.DUPLICATE
    assert len(MessageModel.get(sid).history) == 1


def test_outbound_write_moves_a_status_nobody_knows() -> None:
    sid = new_sid()
    record(sid, NEW_STATUS)
    assert outbound_write(sid, seconds=1).outcome is Outcome.ADVANCED
    assert MessageModel.get(sid).status == "queued"


def test_unreachable_dynamodb_is_storage_unavailable() -> None:
    environ = {
        "STAGE": "local",
        "DYNAMODB_ENDPOINT": "http://127.0.0.1:9",
        "STATUS_WEBHOOK_URL": "https://status.example.com/twilio/status",
    }
    bind_models(Settings.from_env("status", environ=environ))
    try:
        with pytest.raises(StorageUnavailable) as raised:
            record(new_sid(), "sent")
        assert raised.value.http_status == 503 and raised.value.retryable
    finally:
        from tests.support.callbacks import MOTO_ENDPOINT

        bind_models(Settings.from_env("status", environ={**environ, "DYNAMODB_ENDPOINT": MOTO_ENDPOINT}))

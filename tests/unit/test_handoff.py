"""The hand-off: which stored changes are events, their ids and schema, and batch failures.

Images come from real writes (carrier_core.status.store against in-process moto): each
write's item before and after is what a NEW_AND_OLD_IMAGES stream record carries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws

from carrier_core.handoff.consumer import process_batch
from carrier_core.handoff.events import Event, EventType, derive
from carrier_core.handoff.publish import EventBridgePublisher, entry, entry_size
from carrier_core.stream.records import StreamRecord
from carrier_core.models import MessageModel
from carrier_core.status.store import StatusReport, record_status
from tests.support.callbacks import moto_messages_table
from tests.support.forms import BUSINESS, CUSTOMER, new_sid
from tests.support.handoff import OPTOUTS_ARN, stream_record, validate_event

T0 = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)
MESSAGES, OPTOUTS = "omni-twilio-dev-messages", "omni-twilio-dev-optouts"


def events_of(record: dict[str, Any]) -> list[Event]:
    events = derive(StreamRecord.from_lambda(record), MESSAGES, OPTOUTS)
    for event in events:
        validate_event({"source": "omni.twilio", "detail-type": event.type.value, "detail": json.loads(entry(event, "bus")["Detail"])})
    return events


@pytest.fixture(scope="module")
def table() -> Iterator[Any]:
    with moto_messages_table():
        yield boto3.resource("dynamodb", region_name="us-east-1").Table(MessageModel.Meta.table_name)


def write(table: Any, sid: str, status: str, seconds: int = 0, source: str = "callback", **fields: Any) -> list[Event]:
    """Record a status report and return the events its stream record means."""
    old = table.get_item(Key={"sid": sid}).get("Item")
    error = {"undelivered": 30003, "failed": 30007}.get(status)
    report = StatusReport(status, T0 + timedelta(seconds=seconds), source, error_code=error)
    record_status(sid, report, T0 + timedelta(days=400), {"from_number": BUSINESS, "to_number": CUSTOMER, **fields})
    new = table.get_item(Key={"sid": sid})["Item"]
    return events_of(stream_record(new, old))


def moves(events: list[Event]) -> list[tuple[str | None, str]]:
    assert all(e.type is EventType.MESSAGE_STATUS_CHANGED for e in events)
    return [(e.detail["previous_status"], e.detail["status"]) for e in events]


def test_each_forward_move_is_one_event_and_history_only_writes_are_none(table: Any) -> None:
    sid = new_sid()
    seen: list[Event] = []
    for status, seconds in [("sent", 2), ("queued", 1), ("sent", 2), ("delivered", 3), ("sending", 1), ("delivered", 3)]:
        seen += write(table, sid, status, seconds)
    assert moves(seen) == [(None, "sent"), ("sent", "delivered")]
    delivered = seen[-1].detail
    assert delivered["terminal"] is True and delivered["error"] is None
    assert delivered["from"] == BUSINESS and delivered["to"] == CUSTOMER and delivered["direction"] == "outbound"


def test_unknown_sid_created_by_a_callback_then_the_send_record(table: Any) -> None:
    sid = new_sid()
    first = write(table, sid, "undelivered", 5)
    later = write(table, sid, "queued", 0, source="outbound", body="Your code is 1234")
    assert moves(first) == [(None, "undelivered")] and later == []
    assert first[0].detail["error"] == {"code": "carrier_unreachable", "twilio_code": 30003, "retryable": False}


def test_a_status_nobody_knows_then_a_known_one(table: Any) -> None:
    sid = new_sid()
    assert moves(write(table, sid, "carrier_accepted", 1) + write(table, sid, "sent", 2)) == [
        (None, "carrier_accepted"),
        ("carrier_accepted", "sent"),
    ]


def test_event_id_is_the_same_for_the_same_change_only(table: Any) -> None:
    sid = new_sid()
    old = None
    write(table, sid, "sent")
    new = table.get_item(Key={"sid": sid})["Item"]
    once, again = events_of(stream_record(new, old, sequence=7)), events_of(stream_record(new, old, sequence=9))
    assert once[0].event_id == again[0].event_id
    delivered = write(table, sid, "delivered", 3)
    assert delivered[0].event_id != once[0].event_id


def inbound_item(sid: str, **extra: Any) -> dict[str, Any]:
    """The item services/inbound writes (chalicelib/store.py item_fields), as stored."""
    at = "2026-11-24T14:00:00.000Z"
    return {
        "sid": sid,
        "direction": "inbound",
        "channel": "mms",
        "from": CUSTOMER,
        "to": BUSINESS,
        "body": "Look",
        "status": "received",
        "status_rank": 0,
        "num_segments": 1,
        "created_at": at,
        "updated_at": at,
        "media": [{"url": "https://api.twilio.com/media/ME1", "content_type": "image/jpeg"}],
        "history": [{"status": "received", "at": at, "source": "inbound"}],
        "expires_at": 1800000000,
        **extra,
    }


def test_inbound_insert_is_received_and_nothing_else_is() -> None:
    sid = new_sid("MM")
    item = inbound_item(sid)
    [received] = events_of(stream_record(item))
    assert received.type is EventType.MESSAGE_RECEIVED and received.key == sid
    assert received.detail["body"] == "Look" and received.detail["media"][0]["content_type"] == "image/jpeg"
    rehosted = inbound_item(sid, media=[{"url": "https://api.twilio.com/media/ME1", "stored_url": "s3://m/1", "size": 10}])
    assert events_of(stream_record(rehosted, item)) == []  # a later change to an inbound item
    assert events_of(stream_record({"sid": sid})) == []  # a key-only INSERT some emulators write first
    assert events_of(stream_record(None, item)) == []  # TTL expiry


def redacted(item: dict[str, Any], state: str = "requested") -> dict[str, Any]:
    """`item` after services/outbound chalicelib/redaction.py's update, in state `state`."""
    at = "2026-11-24T15:00:00.000Z"
    media = [{"url": "", "content_type": m.get("content_type"), "status": "redacted"} for m in item.get("media") or []]
    kept = {k: v for k, v in item.items() if k != "body"}
    return {**kept, "media": media, "redaction": state, "redaction_requested_by": "privacy-desk",
            "redaction_requested_at": at, "redaction_updated_at": at}  # fmt: skip


def test_the_update_that_sets_redaction_is_message_redacted_and_nothing_else_is() -> None:
    sid = new_sid("MM")
    item = inbound_item(sid)
    pending = inbound_item(sid, media=[{"url": "https://api.twilio.com/media/ME1", "status": "pending"}])
    for before in (item, pending):  # a redaction before the media copy finished is no arrival
        [event] = events_of(stream_record(redacted(before), before))  # validated against the schema
        assert event.type is EventType.MESSAGE_REDACTED and event.key == sid
        assert (event.detail["requested_by"], event.detail["direction"], event.detail["tenant"]) == ("privacy-desk", "inbound", "default")
        assert "body" not in event.detail and "media" not in event.detail
    again = events_of(stream_record(redacted(item), item))[0]
    assert again.event_id == event.event_id  # the same change, whichever record carries it
    outbound = {**inbound_item(new_sid()), "direction": "outbound", "status": "delivered", "status_rank": 4}
    [out] = events_of(stream_record(redacted(outbound), outbound))
    assert out.type is EventType.MESSAGE_REDACTED and out.event_id != event.event_id
    # Twilio's part finishing (requested -> done) is no second event.
    assert events_of(stream_record(redacted(item, "done"), redacted(item))) == []


def test_an_inbound_whatsapp_message_is_received_with_its_whatsapp_fields() -> None:
    sid = new_sid("SM")
    fields = {"profile_name": "Zoë", "wa_id": "15005550010", "button_payload": "confirm-42", "referral_ctwa_clid": "ARAk"}
    item = inbound_item(
        sid, channel="whatsapp", media=[], whatsapp=fields, **{"from": "whatsapp:" + CUSTOMER, "to": "whatsapp:" + BUSINESS}
    )
    [received] = events_of(stream_record(item))  # validated against events.v1.json on the way
    assert received.type is EventType.MESSAGE_RECEIVED
    assert received.detail["schema_version"] == "1.5"
    # The message resource's own object: the webhook's fields and when the window closes.
    assert received.detail["whatsapp"] == {**fields, "window_closes_at": "2026-11-25T14:00:00.000Z"}


def test_an_sms_carries_no_whatsapp_object_and_an_outbound_template_its_template(table: Any) -> None:
    [sms] = events_of(stream_record(inbound_item(new_sid("MM"))))
    assert sms.detail["whatsapp"] is None
    sid = new_sid()
    content_sid = "HX" + "4" * 32
    fields: dict[str, Any] = {"channel": "whatsapp", "whatsapp": {"content_sid": content_sid, "content_variables": '{"1":"Ada"}'}}
    [queued] = write(table, sid, "queued", source="api", **fields)
    assert queued.detail["whatsapp"] == {"content_sid": content_sid, "content_variables": '{"1":"Ada"}'}


def optout(opted_out: bool, keyword: str, message_sid: str) -> dict[str, Any]:
    return {
        "phone": CUSTOMER,
        "sender": BUSINESS,
        "opted_out": opted_out,
        "keyword": keyword,
        "message_sid": message_sid,
        "updated_at": "2026-11-24T14:00:00.000Z",
    }


def optout_events(new: dict[str, Any] | None, old: dict[str, Any] | None) -> list[EventType]:
    return [e.type for e in events_of(stream_record(new, old, arn=OPTOUTS_ARN, keys=("phone", "sender")))]


def test_optout_events_only_when_the_state_flips() -> None:
    stop, stop2, start = optout(True, "STOP", new_sid()), optout(True, "QUIT", new_sid()), optout(False, "START", new_sid())
    assert optout_events(stop, None) == [EventType.CONTACT_OPTED_OUT]
    assert optout_events(stop2, stop) == []
    assert optout_events(start, stop2) == [EventType.CONTACT_OPTED_IN]
    assert optout_events(start, None) == []  # START from a number that never stopped


def without_message(opted_out: bool, source: str, at: str) -> dict[str, Any]:
    """An opt-out change no inbound message carried: an operator's, or Twilio's 21610."""
    return {
        "phone": CUSTOMER,
        "sender": BUSINESS,
        "opted_out": opted_out,
        "keyword": None,
        "message_sid": None,
        "source": source,
        "updated_at": at,
    }


def optout_record(new: dict[str, Any], old: dict[str, Any] | None, sequence: int = 1) -> dict[str, Any]:
    return stream_record(new, old, sequence=sequence, arn=OPTOUTS_ARN, keys=("phone", "sender"))


def test_each_opt_out_without_a_message_has_an_id_of_its_own() -> None:
    # add; remove; add by an operator: two opt-outs a consumer dropping seen ids must both keep.
    add = without_message(True, "operator", "2026-11-24T14:00:00.000Z")
    remove = without_message(False, "operator", "2026-11-24T14:00:05.000Z")
    add_again = without_message(True, "operator", "2026-11-24T14:00:09.000Z")
    [first] = events_of(optout_record(add, None))
    [lifted] = events_of(optout_record(remove, add, sequence=2))
    [second] = events_of(optout_record(add_again, remove, sequence=3))
    assert (first.type, lifted.type, second.type) == (EventType.CONTACT_OPTED_OUT, EventType.CONTACT_OPTED_IN, EventType.CONTACT_OPTED_OUT)
    assert len({first.event_id, lifted.event_id, second.event_id}) == 3
    # The same change, carried by another record (a retry, a replay), keeps its id.
    [again] = events_of(optout_record(add_again, remove, sequence=9))
    assert again.event_id == second.event_id


def test_opt_outs_from_twilio_and_operators_fit_the_schema() -> None:
    learned = without_message(True, "twilio_21610", "2026-11-24T14:00:00.000Z")
    [event] = events_of(optout_record(learned, None))  # events_of validates against the schema
    assert (event.detail["keyword"], event.detail["message_sid"], event.detail["source"]) == (None, None, "twilio_21610")
    [by_operator] = events_of(optout_record(without_message(False, "operator", "2026-11-24T14:01:00.000Z"), learned))
    assert by_operator.detail["source"] == "operator"
    [by_keyword] = events_of(optout_record(optout(True, "STOP", new_sid()), None))
    assert by_keyword.detail["source"] == "keyword"


# ---------------------------------------------------------------------------------------
# Batches: per-record failures, order per key
# ---------------------------------------------------------------------------------------


def inbound_records(count: int) -> list[dict[str, Any]]:
    return [stream_record(inbound_item(new_sid("MM")), sequence=i + 1) for i in range(count)]


class FakeBus:
    def __init__(self, refuse: set[str] = frozenset(), raise_on_call: int | None = None) -> None:  # type: ignore[assignment]
        self.calls: list[list[Event]] = []
        self.refuse = refuse
        self.raise_on_call = raise_on_call

    def __call__(self, events: Sequence[Event]) -> list[str | None]:
        self.calls.append(list(events))
        if self.raise_on_call == len(self.calls):
            raise ConnectionError("bus unreachable")
        return ["InternalFailure" if e.key in self.refuse else None for e in events]


def test_batch_is_published_in_chunks_of_ten() -> None:
    bus = FakeBus()
    outcome = process_batch(inbound_records(23), lambda r: derive(r, MESSAGES, OPTOUTS), bus)
    assert [len(c) for c in bus.calls] == [10, 10, 3]
    assert outcome.response() == {"batchItemFailures": []} and len(outcome.published) == 23


class SizedBus(FakeBus):
    """Refuses a call as EventBridge does when its entries add up to 256 KB or more
    (moto does not enforce the limit)."""

    def __call__(self, events: Sequence[Event]) -> list[str | None]:
        size = sum(
            len(put["Source"].encode()) + len(put["DetailType"].encode()) + len(put["Detail"].encode())
            for put in (entry(e, "bus") for e in events)
        )
        assert size < 256 * 1024, f"a call of {size} bytes"
        return super().__call__(events)


def test_batches_are_cut_by_size_as_well_as_by_count() -> None:
    # 4,096 emoji, WhatsApp's longest body: each event is about 48 KB of escaped JSON.
    records = [stream_record(inbound_item(new_sid(), body="\U0001f600" * 4096), sequence=i + 1) for i in range(10)]
    bus = SizedBus()
    outcome = process_batch(records, lambda r: derive(r, MESSAGES, OPTOUTS), bus)
    assert outcome.failed_sequence is None and len(outcome.published) == 10
    assert [len(c) for c in bus.calls] == [5, 5]
    sizes = [sum(entry_size(e) for e in call) for call in bus.calls]
    assert all(240_000 < size < 256 * 1024 for size in sizes), sizes


def test_an_event_no_call_can_carry_fails_its_record_after_the_ones_before_it() -> None:
    records = inbound_records(2) + [stream_record(inbound_item(new_sid(), body="x" * 270_000), sequence=3)]
    bus = SizedBus()
    outcome = process_batch(records, lambda r: derive(r, MESSAGES, OPTOUTS), bus)
    assert len(outcome.published) == 2 and bus.calls == [outcome.published]
    assert (outcome.failed_sequence, outcome.error) == (records[2]["dynamodb"]["SequenceNumber"], "entry_too_large")


def test_a_refused_entry_stops_the_batch_there() -> None:
    records = inbound_records(5)
    poison = StreamRecord.from_lambda(records[2]).keys["sid"]
    outcome = process_batch(records, lambda r: derive(r, MESSAGES, OPTOUTS), FakeBus(refuse={poison}))
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}
    assert outcome.error == "entry_refused:InternalFailure"


def test_an_unreadable_record_fails_after_the_ones_before_it_are_published() -> None:
    records = inbound_records(3)
    records[1]["dynamodb"]["NewImage"]["status_rank"] = {"X": "?"}
    bus = FakeBus()
    outcome = process_batch(records, lambda r: derive(r, MESSAGES, OPTOUTS), bus)
    assert [e.key for e in outcome.published] == [StreamRecord.from_lambda(records[0]).keys["sid"]]
    assert outcome.failed_sequence == records[1]["dynamodb"]["SequenceNumber"]


def test_two_events_of_one_message_never_share_a_put(table: Any) -> None:
    sid = new_sid()
    old = None
    records = []
    for i, status in enumerate(["queued", "sent", "delivered"]):
        write(table, sid, status, i)
        new = table.get_item(Key={"sid": sid})["Item"]
        records.append(stream_record(new, old, sequence=i + 1))
        old = new
    bus = FakeBus(raise_on_call=2)
    outcome = process_batch(records, lambda r: derive(r, MESSAGES, OPTOUTS), bus)
    assert [len(c) for c in bus.calls] == [1, 1]
    assert [e.detail["status"] for e in outcome.published] == ["queued"]
    assert outcome.failed_sequence == records[1]["dynamodb"]["SequenceNumber"]
    assert outcome.error == "publish_failed:ConnectionError"


# ---------------------------------------------------------------------------------------
# EventBridge (moto in process) and the status service's Lambda
# ---------------------------------------------------------------------------------------


def test_published_event_reaches_a_queue_as_eventbridge_delivers_it() -> None:
    with mock_aws():
        sqs, events = boto3.client("sqs", region_name="us-east-1"), boto3.client("events", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.create_event_bus(Name="omni-twilio-dev-events")
        events.put_rule(Name="all", EventBusName="omni-twilio-dev-events", EventPattern=json.dumps({"source": ["omni.twilio"]}))
        events.put_targets(Rule="all", EventBusName="omni-twilio-dev-events", Targets=[{"Id": "q", "Arn": arn}])
        record = inbound_records(1)[0]
        [event] = derive(StreamRecord.from_lambda(record), MESSAGES, OPTOUTS)
        assert EventBridgePublisher(events, "omni-twilio-dev-events")([event]) == [None]
        [message] = sqs.receive_message(QueueUrl=url)["Messages"]
        body = json.loads(message["Body"])
        validate_event(body)
        assert body["detail-type"] == "message.received" and body["detail"]["event_id"] == event.event_id


def test_status_service_lambda_reports_the_failed_record(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from chalice.test import Client

    from tests.support.apps import load_app, project_dir

    for name, value in {
        "STAGE": "dev",
        "STATUS_WEBHOOK_URL": "https://s.example.com/twilio/status",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "t" * 32,
        "MESSAGES_TABLE": MESSAGES,
        "OPTOUTS_TABLE": OPTOUTS,
        "EVENT_BUS_NAME": "lambda-test-events",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        app = load_app("status")
        boto3.client("events", region_name="us-east-1").create_event_bus(Name="lambda-test-events")
        records = inbound_records(3)
        records[2]["dynamodb"]["NewImage"]["status_rank"] = {"X": "?"}  # unreadable: fails here
        with Client(app.app, stage_name="dev", project_dir=project_dir("status")) as client:
            response = client.lambda_.invoke("handoff", {"Records": records})
    assert response.payload == {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}
    out = capsys.readouterr().out
    assert '"HandoffPublished":2.0' in out and '"event_type":"message.received"' in out and '"HandoffFailed":1.0' in out
    assert CUSTOMER not in out and "Look" not in out  # numbers and bodies go to the bus, never to logs


def test_the_schema_names_every_opt_out_source() -> None:
    from carrier_core.vocabulary import OptOutSource
    from tests.support.handoff import SCHEMA_PATH

    contact = json.loads(SCHEMA_PATH.read_text())["$defs"]["contact"]["properties"]
    assert set(contact["source"]["enum"]) == {s.value for s in OptOutSource}

"""The hand-off end to end: webhooks and sends in, events read from the local events queue.

The stack's poller runs the status service's consumer on the tables' streams; the bus
forwards every omni.twilio event to the queue. Every event read is checked against the
schema file. Other tests share the stack, so each test picks its own events by key.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devstack import aws
from tests.support.callbacks import status_callback
from tests.support.forms import mms, new_sid, replace, sms
from tests.support.handoff import Event, Queue
from tests.support.outbound_stack import post_message
from tests.support.stack import RunningStack, replay_dlq, wait_for


@pytest.fixture(scope="module")
def queue(stack: RunningStack) -> Queue:
    return Queue(stack)


@pytest.fixture
def faults(stack: RunningStack) -> Iterator[Path]:
    path = stack.layout.data_dir / "poller" / "faults.json"
    yield path
    path.unlink(missing_ok=True)


def test_one_inbound_webhook_delivered_eight_times_at_once_is_one_event(stack: RunningStack, queue: Queue) -> None:
    sid = new_sid()
    form = sms(sid=sid, body="Is the shop open today?")
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: stack.post_webhook("inbound", form).status_code, range(8)))
    assert statuses == [200] * 8
    queue.settle(stack)
    [event] = queue.of_sid(sid)
    assert event["detail-type"] == "message.received" and event["source"] == "omni.twilio"
    # The body is the event as EventBridge hands it to a target (moto leaves out `account`).
    assert {"version", "id", "time", "region", "resources", "detail"} <= set(event)
    detail = event["detail"]
    assert (detail["body"], detail["from"], detail["direction"], detail["status"]) == (
        "Is the shop open today?",
        "+15005550010",
        "inbound",
        "received",
    )
    assert "+15005550010" not in stack.log_text().replace('"from":"***0010"', "")  # logs mask numbers


def test_status_changes_of_a_send_are_published_once_each_in_order(stack: RunningStack, queue: Queue) -> None:
    response = post_message(stack, {"to": "+15005550010", "body": "Your order shipped"})
    assert response.status_code == 202
    sid = response.json()["sid"]
    assert wait_for(lambda: stack.get_message(sid).json()["status"] == "delivered", timeout=20)
    # Twilio redelivers: the same callbacks again, late, out of order, twice.
    for status in ["delivered", "queued", "sent", "delivered", "sent", "queued"]:
        assert stack.post_webhook("status", status_callback(status, sid=sid)).status_code == 204
    queue.settle(stack)
    events = queue.of_sid(sid)
    assert {e["detail-type"] for e in events} == {"message.status_changed"}
    moves = [(e["detail"]["previous_status"], e["detail"]["status"]) for e in events]
    assert moves == [(None, "queued"), ("queued", "sent"), ("sent", "delivered")]
    assert len({e["detail"]["event_id"] for e in events}) == 3
    assert [e["detail"]["terminal"] for e in events] == [False, False, True]
    assert events[-1]["detail"]["body"] == "Your order shipped"


def test_callback_for_an_unknown_sid_is_its_first_status_and_late_ones_are_none(stack: RunningStack, queue: Queue) -> None:
    sid = new_sid()
    for status in ["undelivered", "sent", "queued", "undelivered"]:
        form = status_callback(status, sid=sid, error_code=30003 if status == "undelivered" else None)
        assert stack.post_webhook("status", form).status_code == 204
    queue.settle(stack)
    [event] = queue.of_sid(sid)
    detail = event["detail"]
    assert (detail["previous_status"], detail["status"], detail["terminal"]) == (None, "undelivered", True)
    assert detail["error"] == {"code": "carrier_unreachable", "twilio_code": 30003, "retryable": False}


def test_stop_then_start_is_opted_out_then_opted_in(stack: RunningStack, queue: Queue) -> None:
    sender = f"+1415555{random.randrange(10000):04d}"
    for word in ["STOP", "STOP", "START"]:
        assert stack.post_webhook("inbound", sms(body=word, To=sender)).status_code == 200
    queue.settle(stack)
    events = queue.matching(lambda e: e["detail"].get("sender") == sender)
    assert [e["detail-type"] for e in events] == ["contact.opted_out", "contact.opted_in"]
    assert [e["detail"]["keyword"] for e in events] == ["STOP", "START"]
    assert events[0]["detail"]["phone"] == "+15005550010"


def test_operator_add_remove_add_is_two_opt_outs_with_ids_of_their_own(stack: RunningStack, queue: Queue) -> None:
    customer, sender = "+15005550031", f"+1415777{random.randrange(10000):04d}"
    cli = Path(sys.executable).parent / "omni-twilio"
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base)}
    for verb in ["add", "remove", "add"]:
        done = subprocess.run(
            [str(cli), "optouts", verb, customer, "--sender", sender], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    queue.settle(stack)
    events = queue.matching(lambda e: e["detail"].get("sender") == sender)
    assert [e["detail-type"] for e in events] == ["contact.opted_out", "contact.opted_in", "contact.opted_out"]
    assert len({e["detail"]["event_id"] for e in events}) == 3
    assert {(e["detail"]["source"], e["detail"]["keyword"], e["detail"]["message_sid"]) for e in events} == {("operator", None, None)}


def test_poison_record_goes_to_the_dlq_and_replays_once(stack: RunningStack, queue: Queue, faults: Path) -> None:
    before, poison, after = new_sid(), new_sid(), new_sid()
    faults.write_text(json.dumps({"refuse_sids": [poison]}))
    for sid in (before, poison, after):
        assert stack.post_webhook("inbound", sms(sid=sid)).status_code == 200
    sqs = stack.aws_client("sqs")
    dlq = sqs.get_queue_url(QueueName=aws.DLQ)["QueueUrl"]

    def dlq_depth() -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    assert wait_for(lambda: dlq_depth() == 1, timeout=20)
    queue.settle(stack)
    assert dlq_depth() == 1
    # The neighbours are published; one put with the poison may already have carried the
    # later one, so it can come again on the retry: with the same event_id.
    assert [len({e["detail"]["event_id"] for e in queue.of_sid(sid)}) for sid in (before, after)] == [1, 1]
    assert queue.of_sid(poison) == []
    faults.unlink()  # the fault is cleared; an operator runs `make replay-dlq STAGE=local`
    assert replay_dlq(stack) == {"replayed": 1, "failed": 0, "expired": 0, "published": 1, "unrouted": 0}
    assert replay_dlq(stack)["replayed"] == 0  # the message was deleted
    assert dlq_depth() == 0
    queue.settle(stack)
    [event] = queue.of_sid(poison)
    assert event["detail-type"] == "message.received"


def test_a_media_job_in_the_dlq_is_replayed_by_the_re_host_not_deleted_by_the_hand_off(
    stack: RunningStack, queue: Queue, faults: Path
) -> None:
    sid = new_sid("MM")
    faults.write_text(json.dumps({"fail_media_sids": [sid]}))  # as a failing S3 would
    hosted = stack.http.post(
        stack.url("sandbox", f"/_sandbox/media?message_sid={sid}"),
        data=b"%PDF-1.4\n%%EOF\n",
        headers={"Content-Type": "application/pdf"},
        timeout=10,
    )
    assert hosted.status_code == 201, hosted.text
    form = replace(mms(count=1, sid=sid), MediaUrl0=hosted.json()["url"], MediaContentType0="application/pdf")
    assert stack.post_webhook("inbound", form).status_code == 200
    sqs = stack.aws_client("sqs")
    dlq = sqs.get_queue_url(QueueName=aws.DLQ)["QueueUrl"]

    def dlq_bodies() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    [job] = wait_for(dlq_bodies, timeout=30)
    assert job["requestContext"]["functionArn"].endswith(":function:omni-twilio-local-inbound-rehost-media")
    # Still failing: replay runs the re-host, which fails again, and the job stays.
    assert replay_dlq(stack) == {"replayed": 0, "failed": 1, "expired": 0, "published": 0, "unrouted": 0}
    assert stack.get_message(sid).json()["media"][0]["status"] == "pending"
    faults.unlink()  # the cause is fixed; the operator's command runs the same replay
    cli = Path(sys.executable).parent / "omni-twilio"
    done = subprocess.run(
        [str(cli), "events", "replay-dlq"],
        env={**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == {"replayed": 1, "failed": 0, "expired": 0, "published": 0, "unrouted": 0}
    assert dlq_bodies() == []
    assert stack.get_message(sid).json()["media"][0]["status"] == "stored"
    queue.settle(stack)
    [event] = queue.of_sid(sid)  # the re-host's update on the stream is the message's arrival
    assert event["detail-type"] == "message.received" and event["detail"]["media"][0]["status"] == "stored"


def test_poller_killed_mid_batch_loses_nothing(stack: RunningStack, queue: Queue, faults: Path) -> None:
    stack.stack.stop_part("poller", kill=True)
    sids = [new_sid() for _ in range(30)]
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda sid: stack.post_webhook("inbound", sms(sid=sid)).status_code, sids)) == {200}
    # One batch of 30 records, put in three calls; a slow bus lets the kill land after the
    # first call and before the checkpoint.
    faults.write_text(json.dumps({"delay_seconds": 0.5}))
    stack.stack.start_part("poller")
    assert wait_for(lambda: any(queue.of_sid(sid) for sid in sids), timeout=20)
    stack.stack.stop_part("poller", kill=True)
    assert sum(len(queue.of_sid(sid)) for sid in sids) < len(sids), "the batch finished before the kill"
    faults.unlink()
    stack.stack.start_part("poller")
    queue.settle(stack)
    by_sid = {sid: queue.of_sid(sid) for sid in sids}
    assert all(by_sid.values()), "an event was lost"
    assert any(len(events) == 2 for events in by_sid.values()), "the unfinished batch was not published again"
    for events in by_sid.values():
        assert len({e["detail"]["event_id"] for e in events}) == 1  # a duplicate is the same event

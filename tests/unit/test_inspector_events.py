"""The inspector's events (devstack/inspector/sources.py): read from its own queue, kept in a
file under the stack's data folder and read back, so a restart keeps what its page showed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from devstack import aws
from devstack.inspector import sources
from devstack.inspector.sources import Events

ENDPOINT = "https://sqs.us-east-1.amazonaws.com"


@pytest.fixture
def queue() -> Iterator[str]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        yield sqs.create_queue(QueueName=aws.INSPECTOR_QUEUE)["QueueUrl"]


def publish(url: str, *sids: str) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    for n, sid in enumerate(sids):
        event = {
            "detail-type": "message.received",
            "time": f"2026-12-01T20:23:5{n}Z",
            "detail": {"sid": sid, "event_id": f"e{n}", "body": "secret"},
        }
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))


def test_events_read_are_there_after_a_restart_without_bodies(queue: str, tmp_path: Path) -> None:
    keep = tmp_path / "inspector" / "events.jsonl"
    publish(queue, "MM1", "MM1", "MM2")
    Events(ENDPOINT, keep).drain()
    again = Events(ENDPOINT, keep)  # the inspector after a restart: its queue is empty now
    again.drain()
    assert [e["event_id"] for e in again.by_sid()["MM1"]] == ["e0", "e1"] and len(again.by_sid()["MM2"]) == 1
    assert "secret" not in keep.read_text()


def test_without_a_file_nothing_is_kept(queue: str) -> None:
    publish(queue, "MM1")
    Events(ENDPOINT).drain()
    assert Events(ENDPOINT).by_sid() == {}


def test_a_line_cut_short_is_skipped_and_the_file_stays_bounded(queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keep = tmp_path / "events.jsonl"
    keep.write_text(
        json.dumps({"type": "message.received", "sid": "MM0", "status": None, "event_id": "x", "time": None}) + '\n{"type": "mes'
    )
    monkeypatch.setattr(sources, "EVENTS_KEPT", 3)
    events = Events(ENDPOINT, keep)
    assert list(events.by_sid()) == ["MM0"]
    publish(queue, "MM1")
    events.drain()  # appended after the cut line without joining it
    assert list(Events(ENDPOINT, keep).by_sid()) == ["MM0", "MM1"]
    publish(queue, *(f"MM{n}" for n in range(2, 8)))
    events.drain()
    lines = keep.read_text().splitlines()
    assert [json.loads(line)["sid"] for line in lines] == ["MM5", "MM6", "MM7"]
    assert list(Events(ENDPOINT, keep).by_sid()) == ["MM5", "MM6", "MM7"]

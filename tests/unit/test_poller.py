"""The local stream poller against a fake Streams API: shard order, checkpoints, retries, DLQ."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from carrier_core.handoff.events import Event
from carrier_core.handoff.handler import Handoff, HandoffConfig
from devstack.poller import MAX_RETRIES, Checkpoints, Poller
from tests.support.forms import new_sid
from tests.support.handoff import stream_record

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/omni-twilio-local-messages/stream/label"
CONFIG = HandoffConfig.for_stage("local", {})


def inbound(sid: str, sequence: int) -> dict[str, Any]:
    item = {"sid": sid, "direction": "inbound", "status": "received", "status_rank": 0, "channel": "sms", "created_at": "2026-11-24T14:00:00.000Z", "updated_at": "2026-11-24T14:00:00.000Z"}
    record = stream_record(item, sequence=sequence, arn=ARN)
    del record["eventSourceARN"]  # GetRecords does not carry it
    return record


class FakeStreams:
    """Two shards: a closed parent and its open child, listed child first."""

    def __init__(self, parent: list[dict[str, Any]], child: list[dict[str, Any]]) -> None:
        self.records = {"parent": parent, "child": child}
        self.closed = {"parent": True, "child": False}

    def list_streams(self, TableName: str) -> dict[str, Any]:
        return {"Streams": [{"StreamArn": ARN}] if TableName.endswith("messages") else []}

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "child", "ParentShardId": "parent"}, {"ShardId": "parent"}]}}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str, SequenceNumber: str | None = None) -> dict[str, Any]:
        records = self.records[ShardId]
        after = {"TRIM_HORIZON": None, "AT_SEQUENCE_NUMBER": 0, "AFTER_SEQUENCE_NUMBER": 1}[ShardIteratorType]
        start = 0 if after is None else next(i + after for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == SequenceNumber)
        return {"ShardIterator": json.dumps([ShardId, start])}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard, start = json.loads(ShardIterator)
        page = self.records[shard][start : start + Limit]
        end = start + len(page)
        done = self.closed[shard] and end >= len(self.records[shard])
        return {"Records": page, **({} if done else {"NextShardIterator": json.dumps([shard, end])})}


class Bus:
    def __init__(self, refuse: str | None = None) -> None:
        self.published: list[str] = []
        self.refuse = refuse

    def __call__(self, events: Sequence[Event]) -> list[str | None]:
        results: list[str | None] = []
        for event in events:
            refused = event.key == self.refuse
            results.append("InternalFailure" if refused else None)
            if not refused:
                self.published.append(event.key)
        return results


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def get_queue_url(self, QueueName: str) -> dict[str, str]:
        return {"QueueUrl": f"http://sqs/{QueueName}"}

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:
        self.sent.append(json.loads(MessageBody))


def poller(streams: FakeStreams, bus: Bus, sqs: FakeSqs, tmp_path: Path) -> Poller:
    return Poller(Handoff(CONFIG, bus), streams, sqs, Checkpoints(tmp_path / "checkpoints.json"), (CONFIG.messages_table, CONFIG.optouts_table))


def drain(p: Poller) -> None:
    for _ in range(20):
        p.poll_once()


def test_parent_shard_before_child_and_a_restart_resumes(tmp_path: Path) -> None:
    sids = [new_sid() for _ in range(5)]
    streams = FakeStreams([inbound(s, i) for i, s in enumerate(sids[:3], 1)], [inbound(s, i) for i, s in enumerate(sids[3:], 4)])
    stale = ARN.replace("label", "a-stream-gone-with-its-emulator")
    (tmp_path / "checkpoints.json").write_text(json.dumps({stale: {"shard": {"sequence": "1", "done": False}}}))
    bus = Bus()
    drain(poller(streams, bus, FakeSqs(), tmp_path))
    assert bus.published == sids
    assert stale not in json.loads((tmp_path / "checkpoints.json").read_text())
    saved = json.loads((tmp_path / "checkpoints.json").read_text())[ARN]
    assert saved["parent"] == {"sequence": f"{3:021d}", "done": True}
    assert saved["child"]["done"] is False
    later = new_sid()
    streams.records["child"].append(inbound(later, 6))
    restarted = Bus()
    drain(poller(streams, restarted, FakeSqs(), tmp_path))
    assert restarted.published == [later]  # neither replayed nor skipped


def test_a_record_failing_every_retry_goes_to_the_dlq_and_the_shard_moves_on(tmp_path: Path) -> None:
    sids = [new_sid() for _ in range(3)]
    streams = FakeStreams([inbound(s, i) for i, s in enumerate(sids, 1)], [])
    bus, sqs = Bus(refuse=sids[1]), FakeSqs()
    drain(poller(streams, bus, sqs, tmp_path))
    # The later neighbour shared a put with the poison, so each retry publishes it again.
    assert list(dict.fromkeys(bus.published)) == [sids[0], sids[2]]
    [message] = sqs.sent
    info = message["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["shardId"], info["streamArn"]) == (f"{2:021d}", f"{2:021d}", "parent", ARN)
    assert message["requestContext"]["approximateInvokeCount"] == MAX_RETRIES + 1


class Trimmed(Exception):
    pass


class TrimmedStreams:
    """A stream whose records are older than its 24 hours."""

    class exceptions:  # noqa: N801 (botocore's shape)
        TrimmedDataAccessException = Trimmed
        ResourceNotFoundException = KeyError

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        raise Trimmed()


def test_replay_keeps_a_message_whose_records_left_the_stream_and_deletes_a_published_one() -> None:
    import boto3
    from moto import mock_aws

    from carrier_core.handoff.replay import replay

    sid = new_sid()
    info = {"shardId": "parent", "startSequenceNumber": f"{1:021d}", "endSequenceNumber": f"{1:021d}", "streamArn": ARN}
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")

        def queue_with_one_message(name: str) -> str:
            url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"DDBStreamBatchInfo": info}))
            return url

        def left(url: str) -> int:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

        trimmed_url = queue_with_one_message("trimmed")
        expired = replay(sqs, TrimmedStreams(), trimmed_url, Handoff(CONFIG, Bus()))
        assert (expired.expired, expired.replayed, left(trimmed_url)) == (1, 0, 1)

        url, bus = queue_with_one_message("dlq"), Bus()
        done = replay(sqs, FakeStreams([inbound(sid, 1)], []), url, Handoff(CONFIG, bus))
        assert (done.replayed, done.published, bus.published, left(url)) == (1, 1, [sid], 0)

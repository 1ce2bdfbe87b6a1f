"""The local stream poller against a fake Streams API: shard order, checkpoints, retries, DLQ."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from carrier_core.stream.batch import BatchOutcome
from carrier_core.handoff.events import Event
from carrier_core.handoff.handler import Handoff, HandoffConfig
from carrier_core.handoff.replay import Origin
from devstack.checkpoints import Checkpoints
from devstack.poller import MAX_RETRIES, Poller
from tests.support.forms import new_sid
from tests.support.handoff import stream_record

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/omni-twilio-local-messages/stream/label"
CONFIG = HandoffConfig.for_stage("local", {})


def inbound(sid: str, sequence: int) -> dict[str, Any]:
    item = {
        "sid": sid,
        "direction": "inbound",
        "status": "received",
        "status_rank": 0,
        "channel": "sms",
        "created_at": "2026-11-24T14:00:00.000Z",
        "updated_at": "2026-11-24T14:00:00.000Z",
    }
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
    return Poller(
        Handoff(CONFIG, bus), streams, sqs, Checkpoints(tmp_path / "checkpoints.json"), (CONFIG.messages_table, CONFIG.optouts_table)
    )


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
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["shardId"], info["streamArn"]) == (
        f"{2:021d}",
        f"{2:021d}",
        "parent",
        ARN,
    )
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


def dlq_body(origin: Origin, sequence: int = 1) -> dict[str, Any]:
    """What the poller (as Lambda) sends the DLQ for one record of `origin`."""
    streams, sqs = FakeStreams([inbound(new_sid(), sequence)], []), FakeSqs()
    failing = Poller(Handoff(CONFIG, Bus()), streams, sqs, Checkpoints(Path("/nonexistent/x.json")), (CONFIG.messages_table,), origin)
    failing.send_to_dlq(ARN, "parent", streams.records["parent"][0], MAX_RETRIES + 1)
    [body] = sqs.sent
    return body


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
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({**dlq_body(Origin.HANDOFF), "DDBStreamBatchInfo": info}))
            return url

        def left(url: str) -> int:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

        trimmed_url = queue_with_one_message("trimmed")
        handoff = Handoff(CONFIG, Bus())
        expired = replay(sqs, TrimmedStreams(), trimmed_url, lambda origin, arn: handoff)
        assert (expired.expired, expired.replayed, left(trimmed_url)) == (1, 0, 1)

        url, bus = queue_with_one_message("dlq"), Bus()
        handoff = Handoff(CONFIG, bus)
        done = replay(sqs, FakeStreams([inbound(sid, 1)], []), url, lambda origin, arn: handoff)
        assert (done.replayed, done.published, bus.published, left(url)) == (1, 1, [sid], 0)


class MediaJobs:
    """A stand-in media re-host: fails while `broken`, and notes the records it finished."""

    def __init__(self) -> None:
        self.broken = True
        self.finished: list[str] = []

    def handle(self, records: Sequence[dict[str, Any]]) -> BatchOutcome:
        outcome = BatchOutcome(records=len(records))
        if self.broken:
            outcome.failed_sequence, outcome.error = records[0]["dynamodb"]["SequenceNumber"], "rehost_failed:ConnectionError"
        else:
            self.finished.extend(r["dynamodb"]["Keys"]["sid"]["S"] for r in records)
        return outcome


def test_replay_hands_each_message_to_the_consumer_it_failed_in_and_deletes_only_what_it_handled() -> None:
    import boto3
    from moto import mock_aws

    from carrier_core.handoff.replay import replay

    media_sid, event_sid = new_sid("MM"), new_sid()
    streams = FakeStreams([inbound(media_sid, 1), inbound(event_sid, 2)], [])
    unknown = {**dlq_body(Origin.HANDOFF, 2), "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:1:function:someone-elses"}}
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        for body in (dlq_body(Origin.MEDIA_REHOST, 1), dlq_body(Origin.HANDOFF, 2), unknown):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
        bus, media = Bus(), MediaJobs()
        routed: list[tuple[Origin, str]] = []
        handoff = Handoff(CONFIG, bus)

        def route(origin: Origin, arn: str) -> Any:
            routed.append((origin, arn))
            return handoff if origin is Origin.HANDOFF else media

        first = replay(sqs, streams, url, route)
        # The media job failed again: its message stays, beside the one nobody knows.
        assert (first.replayed, first.failed, first.unrouted, first.published) == (1, 1, 1, 1)
        assert bus.published == [event_sid] and media.finished == []
        assert [o for o, _ in routed] == [Origin.MEDIA_REHOST, Origin.HANDOFF]
        assert routed[0][1].endswith(":function:omni-twilio-local-inbound-rehost-media")

        media.broken = False  # the cause is fixed; what replay left is visible again at once
        second = replay(sqs, streams, url, route)
        assert (second.replayed, second.failed, second.unrouted) == (1, 0, 1)
        assert media.finished == [media_sid] and bus.published == [event_sid]
        [left] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert json.loads(left["Body"])["requestContext"]["functionArn"].endswith("someone-elses")


class Invoked:
    """A botocore Lambda client's `invoke`, answering as the function would."""

    def __init__(self, answer: Any, function_error: str | None = None) -> None:
        self.answer, self.function_error = answer, function_error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        import io

        self.calls.append({"FunctionName": FunctionName, "Payload": json.loads(Payload)})
        return {
            "StatusCode": 200,
            "Payload": io.BytesIO(json.dumps(self.answer).encode()),
            **({"FunctionError": self.function_error} if self.function_error else {}),
        }


def test_a_deployed_media_job_is_replayed_by_invoking_its_own_function() -> None:
    from carrier_core.handoff.replay import InvokeFunction

    records = [inbound(new_sid("MM"), 1), inbound(new_sid("MM"), 2)]
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:omni-twilio-prod-inbound-rehost-media"
    ok = Invoked({"batchItemFailures": []})
    assert InvokeFunction(ok, arn).handle(records).failed_sequence is None
    assert ok.calls == [{"FunctionName": arn, "Payload": {"Records": records}}]
    again = InvokeFunction(Invoked({"batchItemFailures": [{"itemIdentifier": f"{2:021d}"}]}), arn).handle(records)
    assert (again.failed_sequence, again.error) == (f"{2:021d}", "function_reported_failure")
    crashed = InvokeFunction(Invoked({"errorMessage": "boom"}, "Unhandled"), arn).handle(records)
    assert (crashed.failed_sequence, crashed.error) == (f"{1:021d}", "invoke_failed:Unhandled")


# What a power cut or a full disk can leave: an empty file, zeroed blocks, half a write;
# and JSON of the wrong shape, which would fail later in the middle of a pass.
UNREADABLE = {
    "empty": b"",
    "zeroed": b"\0" * 64,
    "truncated": b'{"arn": {"parent": {"seq',
    "not utf-8": b"\xff\xfe{",
    "a list": b"[]",
    "a number for a stream": b'{"arn": 1}',
    "a string for a shard": b'{"arn": {"parent": "x"}}',
    "a sequence that is no string": b'{"arn": {"parent": {"sequence": 5, "done": false}}}',
}


def test_unreadable_checkpoints_replay_from_the_start_and_say_so(tmp_path: Path, caplog: Any) -> None:
    sids = [new_sid() for _ in range(3)]
    for label, content in UNREADABLE.items():
        (tmp_path / "checkpoints.json").write_bytes(content)
        caplog.clear()
        bus = Bus()
        drain(poller(FakeStreams([inbound(s, i) for i, s in enumerate(sids, 1)], []), bus, FakeSqs(), tmp_path))
        assert bus.published == sids, label  # every record again: consumers drop the repeated event ids
        warnings = [r for r in caplog.records if r.levelname == "WARNING"]
        assert [r.getMessage() for r in warnings] == ["checkpoints unreadable, replaying from TRIM_HORIZON"], label
        assert warnings[0].__dict__["checkpoints"] == "checkpoints.json"
        assert json.loads((tmp_path / "checkpoints.json").read_text())[ARN]["parent"]["done"] is True, label


class SlowJobs:
    """A stand-in media re-host: a held SID's batch waits for `release`; `failing` SIDs fail."""

    def __init__(self, held: str, failing: set[str] | None = None) -> None:
        self.held, self.failing = held, failing or set()
        self.release = threading.Event()
        self.finished: list[str] = []
        self.config = CONFIG

    def handle(self, records: Sequence[dict[str, Any]]) -> BatchOutcome:
        outcome = BatchOutcome(records=len(records))
        for record in records:
            sid = record["dynamodb"]["Keys"]["sid"]["S"]
            if sid == self.held:
                assert self.release.wait(10), "never released"
            if sid in self.failing:
                outcome.fail(record["dynamodb"]["SequenceNumber"], "rehost_failed:ConnectionError")
                return outcome
            self.finished.append(sid)
        return outcome


def in_flight(streams: FakeStreams, jobs: SlowJobs, sqs: FakeSqs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from devstack import poller as poller_module
    from devstack.inflight import InFlightPoller

    monkeypatch.setattr(poller_module, "BATCH_SIZE", 1)  # one record a batch: each its own flight
    return InFlightPoller(jobs, streams, sqs, Checkpoints(tmp_path / "media.json"), (CONFIG.messages_table,), Origin.MEDIA_REHOST)


def test_a_slow_batch_holds_up_no_later_message_and_the_checkpoint_waits_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slow, *quick = [new_sid("MM") for _ in range(4)]
    streams = FakeStreams([], [inbound(sid, i) for i, sid in enumerate([slow, *quick], 1)])
    jobs = SlowJobs(held=slow)
    media = in_flight(streams, jobs, FakeSqs(), tmp_path, monkeypatch)
    checkpoint = media.checkpoints.shard(ARN, "child")
    deadline = time.monotonic() + 5
    while len(jobs.finished) < 3 and time.monotonic() < deadline:
        media.poll_once()
    assert jobs.finished == quick  # the three after the slow one, while it still runs
    assert checkpoint["sequence"] is None  # nothing passed the slow batch
    jobs.release.set()
    while checkpoint["sequence"] != f"{4:021d}" and time.monotonic() < deadline + 5:
        media.poll_once()
    assert checkpoint["sequence"] == f"{4:021d}" and jobs.finished == [*quick, slow]


def test_a_failed_batch_in_flight_is_tried_again_then_sent_to_the_dlq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, poison, last = (new_sid("MM") for _ in range(3))
    streams = FakeStreams([], [inbound(sid, i) for i, sid in enumerate([first, poison, last], 1)])
    jobs, sqs = SlowJobs(held="", failing={poison}), FakeSqs()
    jobs.release.set()
    media = in_flight(streams, jobs, sqs, tmp_path, monkeypatch)
    for _ in range(60):
        media.poll_once()
        time.sleep(0.01)
    [message] = sqs.sent
    assert message["DDBStreamBatchInfo"]["startSequenceNumber"] == f"{2:021d}"
    assert message["requestContext"]["functionArn"].endswith("-rehost-media")
    assert media.checkpoints.shard(ARN, "child")["sequence"] == f"{3:021d}"
    assert poison not in jobs.finished and {first, last} <= set(jobs.finished)


def test_the_local_opt_out_consumer_posts_each_batch_and_reads_the_functions_answer() -> None:
    """The stand-in for the outbound opt-out function that the poller and a local replay
    both use: the batch to POST /_local/optout-cancels, Lambda's batchItemFailures back."""
    import http.server

    from carrier_core.handoff.replay import LocalOptOutCancels

    records = [inbound(new_sid(), 1), inbound(new_sid(), 2)]
    first, second = (r["dynamodb"]["SequenceNumber"] for r in records)
    answers = [(200, {"batchItemFailures": []}), (200, {"batchItemFailures": [{"itemIdentifier": second}]}), (500, {})]
    received: list[tuple[str, list[str]]] = []

    class Outbound(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, [r["dynamodb"]["SequenceNumber"] for r in body["Records"]]))
            status, answer = answers.pop(0)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Outbound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    consumer = LocalOptOutCancels(url, CONFIG)
    try:
        outcomes = [consumer.handle(records) for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()
    assert received == [("/_local/optout-cancels", [first, second])] * 3
    assert [(o.records, o.failed_sequence, o.error) for o in outcomes] == [
        (2, None, None),
        (2, second, "cancel_failed"),
        (2, first, "cancel_failed:outbound_unreachable"),
    ]
    # Nobody listening: the whole batch fails, to be retried.
    gone = LocalOptOutCancels(url, CONFIG).handle(records)
    assert (gone.failed_sequence, gone.error) == (first, "cancel_failed:outbound_unreachable")


def test_a_local_replay_hands_each_origin_to_its_local_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    """replay.main's routing: the hand-off to itself, an origin given a local consumer to that
    consumer (opt-out cancels included), any other to its deployed function."""
    from carrier_core.handoff import replay

    seen: dict[str, Any] = {}

    def capture(sqs: Any, streams: Any, queue_url: str, route: Any) -> replay.ReplayReport:
        seen["route"] = route
        return replay.ReplayReport()

    class Client:
        def get_queue_url(self, QueueName: str) -> dict[str, str]:  # noqa: N803 (botocore's shape)
            return {"QueueUrl": "http://queue"}

    monkeypatch.setattr(replay, "replay", capture)
    monkeypatch.setattr("botocore.session.Session.create_client", lambda self, name, **kwargs: Client())
    cancels, media = object(), object()
    local = {Origin.OPTOUT_CANCELS: lambda arn: cancels, Origin.MEDIA_REHOST: lambda arn: media}
    assert replay.main(["--stage", "local"], local=local) == 0  # type: ignore[arg-type]
    route = seen["route"]
    assert route(Origin.OPTOUT_CANCELS, "arn:x") is cancels and route(Origin.MEDIA_REHOST, "arn:y") is media
    assert isinstance(route(Origin.HANDOFF, "arn:z"), Handoff)

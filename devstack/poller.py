"""The local stand-in for Lambda's DynamoDB event sources: poll the tables' streams and run
the status service's hand-off consumer on each batch, as the deployed function does, and,
beside it with checkpoints of its own, the inbound service's media re-host
(carrier_core.media.rehost) on the messages stream, and the outbound service's opt-out
consumer (scheduled messages canceled on a STOP) on the optouts stream, through that
service's local-only route.

Only the DynamoDB Streams API: ListStreams, DescribeStream, GetShardIterator
(TRIM_HORIZON, AFTER_SEQUENCE_NUMBER) and GetRecords, so it runs against any emulator.
Like the event source mapping it keeps a shard's records in order, retries a batch from
the record the consumer reports failed, and after MAX_RETRIES sends that record's place
(DDBStreamBatchInfo, the on-failure destination's format) to the DLQ and moves past it.

Checkpoints (the last sequence number handled per shard, and which closed shards are
finished) live in <data dir>/poller/checkpoints.json, written after every batch: a
restarted poller resumes after the last batch it finished. A batch cut short by a kill is
published again; its events carry the same event_id. An unreadable file (a power cut can
leave it empty) is logged and the shards are read again from TRIM_HORIZON
(devstack/checkpoints.py says why that is safe).

For the end-to-end tests, <data dir>/poller/faults.json may name SIDs whose events the
bus "refuses" (a stand-in for a poison record), SIDs whose media re-host fails, and a
delay before each PutEvents call. Each consumer's DLQ messages name its function, as
Lambda's do, so that replay hands them back to the consumer they failed in.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from carrier_core.stream import batch as stream
from carrier_core.stream.batch import BatchOutcome
from carrier_core.handoff.events import Event
from carrier_core.handoff.handler import Handoff, HandoffConfig
from carrier_core.handoff.publish import EventBridgePublisher, Publisher, events_client
from carrier_core.stream.records import lambda_record
from carrier_core.handoff.replay import LocalOptOutCancels, Origin, rehost_in_process
from carrier_core.logs import configure_logging
from devstack.checkpoints import Checkpoints

BATCH_SIZE = 100
MAX_RETRIES = 2
IDLE_SECONDS = 0.3
LAYOUT_SECONDS = 5.0


class FaultyBus:
    """The real publisher, refusing the events of SIDs listed in faults.json (tests only)."""

    def __init__(self, publish: Publisher, faults: Path) -> None:
        self.inner = publish
        self.faults = faults

    def __call__(self, events: Sequence[Event]) -> list[str | None]:
        faults = json.loads(self.faults.read_text()) if self.faults.exists() else {}
        time.sleep(float(faults.get("delay_seconds", 0)))
        refused = set(faults.get("refuse_sids", []))
        results: list[str | None] = ["InjectedFault" if e.detail.get("sid") in refused else None for e in events]
        passed = [e for e, r in zip(events, results) if r is None]
        published = iter(self.inner(passed))
        return [r if r is not None else next(published) for r in results]


class Consumer(stream.Consumer, Protocol):
    """What runs on a batch: the hand-off, or the media re-host, with the names it reads
    (the poller sends a failed record's place to the DLQ they name)."""

    @property
    def config(self) -> HandoffConfig: ...


class FaultyRehost:
    """The media re-host, failing the records of SIDs listed in faults.json under
    `fail_media_sids` as a failing S3 or DynamoDB would (tests only)."""

    def __init__(self, inner: Consumer, faults: Path) -> None:
        self.inner = inner
        self.faults = faults

    @property
    def config(self) -> HandoffConfig:
        return self.inner.config

    def handle(self, records: Sequence[dict[str, Any]]) -> BatchOutcome:
        faults = json.loads(self.faults.read_text()) if self.faults.exists() else {}
        failing = set(faults.get("fail_media_sids", []))
        for index, record in enumerate(records):
            if record["dynamodb"].get("Keys", {}).get("sid", {}).get("S") in failing:
                outcome = self.inner.handle(records[:index])
                if outcome.failed_sequence is None:
                    outcome.records = len(records)
                    outcome.fail(record["dynamodb"]["SequenceNumber"], "rehost_failed:InjectedFault")
                return outcome
        return self.inner.handle(records)


def function_arn(origin: Origin) -> str:
    """The ARN the deployed function of `origin` would have in the local stage, which DLQ
    messages name so that replay finds the consumer (carrier_core.handoff.replay)."""
    service = {Origin.HANDOFF: "status", Origin.MEDIA_REHOST: "inbound", Origin.OPTOUT_CANCELS: "outbound"}[origin]
    return f"arn:aws:lambda:us-east-1:000000000000:function:omni-twilio-local-{service}-{origin.value}"


class Poller:
    def __init__(
        self, handoff: Consumer, streams: Any, sqs: Any, checkpoints: Checkpoints, tables: Sequence[str], origin: Origin = Origin.HANDOFF
    ) -> None:
        self.handoff = handoff
        self.origin = origin
        self.streams = streams
        self.sqs = sqs
        self.checkpoints = checkpoints
        self.tables = tables
        self.attempts: dict[str, int] = {}
        self.dlq_url: str | None = None
        self.batches = 0
        # Kept between passes so that an idle pass costs one GetRecords per open shard:
        # DynamoDB Local serves the streams beside the services' own requests.
        self.iterators: dict[tuple[str, str], str] = {}
        self.layout: list[tuple[str, list[dict[str, Any]]]] = []
        self.layout_at = 0.0

    def forget(self) -> None:
        """Drop cached iterators and shards (after an error): the next pass starts from the checkpoints."""
        self.iterators.clear()
        self.layout_at = 0.0

    def stream_arns(self) -> list[str]:
        arns: list[str] = []
        for table in self.tables:
            listed = self.streams.list_streams(TableName=table).get("Streams", [])
            arns.extend(s["StreamArn"] for s in listed)
        return arns

    def shards(self, stream_arn: str) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        start: dict[str, str] = {}
        while True:
            description = self.streams.describe_stream(StreamArn=stream_arn, **start)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            start = {"ExclusiveStartShardId": last}

    def streams_and_shards(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Every stream's shards, described again every few seconds (new shards, new streams)."""
        if time.monotonic() - self.layout_at > LAYOUT_SECONDS:
            self.layout = [(arn, self.shards(arn)) for arn in self.stream_arns()]
            self.layout_at = time.monotonic()
            # Checkpoints of streams that no longer exist (an emulator that kept nothing
            # across a restart makes new ones) only grow the file.
            self.checkpoints.keep({arn for arn, _ in self.layout})
        return self.layout

    def poll_once(self) -> int:
        """One pass over every ready shard; returns how many records were handled."""
        handled = 0
        for arn, shards in self.streams_and_shards():
            known = {s["ShardId"] for s in shards}
            for shard in shards:
                parent = shard.get("ParentShardId")
                # A child shard waits until its parent is read to the end (order per key).
                if parent is not None and parent in known and not self.checkpoints.shard(arn, str(parent))["done"]:
                    continue
                handled += self.poll_shard(arn, shard)
        return handled

    def poll_shard(self, arn: str, shard: dict[str, Any]) -> int:
        state = self.checkpoints.shard(arn, shard["ShardId"])
        if state["done"]:
            return 0
        records, following = self.read_page(arn, shard["ShardId"], state)
        if not records:
            self.note_empty(arn, shard["ShardId"], state, following)
            return 0
        self.batches += 1
        self.settle(arn, shard["ShardId"], state, records, self.handoff.handle(records), following)
        return len(records)

    def read_page(self, arn: str, shard_id: str, state: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        """The next page of the shard, Lambda-shaped, and the iterator after it (None: closed)."""
        iterator = self.iterators.pop((arn, shard_id), None)
        if iterator is None:
            iterator = self.iterator_after_checkpoint(arn, shard_id, state)
        try:
            page = self.streams.get_records(ShardIterator=iterator, Limit=BATCH_SIZE)
        except self.streams.exceptions.TrimmedDataAccessException:
            # DynamoDB Local fails a kept iterator that was taken while its shard was empty once
            # the first record arrives (aws/aws-sdk-java#2923); one taken now, from the
            # checkpoint, reads it. Where records really were trimmed, this fails again.
            iterator = self.iterator_after_checkpoint(arn, shard_id, state)
            page = self.streams.get_records(ShardIterator=iterator, Limit=BATCH_SIZE)
        return [lambda_record(r, arn) for r in page["Records"]], page.get("NextShardIterator")

    def note_empty(self, arn: str, shard_id: str, state: dict[str, Any], following: str | None) -> None:
        """Nothing new: a closed shard is finished, an open one is read again from here."""
        if following is None:
            state["done"] = True
            self.checkpoints.save()
            self.layout_at = 0.0  # a shard ended: its children may be listed now
        else:
            self.iterators[(arn, shard_id)] = following

    def settle(
        self, arn: str, shard_id: str, state: dict[str, Any], records: list[dict[str, Any]], outcome: BatchOutcome, following: str | None
    ) -> None:
        """Checkpoint a handled batch, or retry it from its failed record (the DLQ after MAX_RETRIES)."""
        sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
        if outcome.failed_sequence is None:
            state["sequence"] = sequences[-1]
            state["done"] = following is None
            if following is not None:
                self.iterators[(arn, shard_id)] = following
        else:
            # No iterator kept: the next pass starts again after the checkpoint.
            self.iterators.pop((arn, shard_id), None)
            failed = sequences.index(outcome.failed_sequence)
            if failed:
                state["sequence"] = sequences[failed - 1]
            tries = self.attempts[outcome.failed_sequence] = self.attempts.get(outcome.failed_sequence, 0) + 1
            if tries > MAX_RETRIES:
                self.send_to_dlq(arn, shard_id, records[failed], tries)
                state["sequence"] = outcome.failed_sequence
                del self.attempts[outcome.failed_sequence]
        self.checkpoints.save()

    def iterator_after_checkpoint(self, arn: str, shard_id: str, state: dict[str, Any]) -> str:
        """An iterator at the first record after the shard's checkpoint (its start when none)."""
        where = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": state["sequence"]}
            if state["sequence"]
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator: str = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, **where)["ShardIterator"]
        return iterator

    def send_to_dlq(self, arn: str, shard_id: str, record: dict[str, Any], tries: int) -> None:
        """What Lambda sends its on-failure destination when a record's retries run out."""
        if self.dlq_url is None:
            self.dlq_url = self.sqs.get_queue_url(QueueName=self.handoff.config.events_dlq_name)["QueueUrl"]
        sequence = record["dynamodb"]["SequenceNumber"]
        arrived = datetime.fromtimestamp(record["dynamodb"].get("ApproximateCreationDateTime", time.time()), timezone.utc).isoformat()
        body = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": function_arn(self.origin),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": tries,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None},
            "version": "1.0",
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": sequence,
                "endSequenceNumber": sequence,
                "approximateArrivalOfFirstRecord": arrived,
                "approximateArrivalOfLastRecord": arrived,
                "batchSize": 1,
                "streamArn": arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(body))


class _Health(BaseHTTPRequestHandler):
    poller: Poller

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps({"status": "ok", "batches": self.poller.batches}).encode()
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(poller: Poller) -> None:
    """Poll for ever; an error (the emulator restarting, a table not there yet) is tried again."""
    while True:
        try:
            handled = poller.poll_once()
        except Exception as exc:  # noqa: BLE001 - the emulator restarting, a table not there yet: tried again
            poller.forget()
            print(json.dumps({"level": "WARNING", "message": "poll failed", "error_type": type(exc).__name__}), flush=True)
            handled = 0
        if not handled:
            time.sleep(IDLE_SECONDS)


def optout_cancels_poller(directory: Path, config: HandoffConfig, outbound_url: str) -> Poller:
    """The outbound service's opt-out consumer on the optouts stream, with its own checkpoints."""
    import boto3

    checkpoints = Checkpoints(directory / "optout-cancels-checkpoints.json")
    return Poller(
        LocalOptOutCancels(outbound_url, config),
        boto3.client("dynamodbstreams"),
        boto3.client("sqs"),
        checkpoints,
        (config.optouts_table,),
        Origin.OPTOUT_CANCELS,
    )


def media_poller(directory: Path, config: HandoffConfig) -> Poller:
    """The inbound service's media re-host on the messages stream, as its Lambda runs it."""
    import boto3

    rehost = FaultyRehost(rehost_in_process(os.environ)(function_arn(Origin.MEDIA_REHOST)), directory / "faults.json")
    checkpoints = Checkpoints(directory / "media-checkpoints.json")
    # Batches side by side, as the deployed mapping runs them: a slow media server holds up
    # its own batch only (devstack.inflight).
    from devstack.inflight import InFlightPoller

    return InFlightPoller(
        rehost, boto3.client("dynamodbstreams"), boto3.client("sqs"), checkpoints, (config.messages_table,), Origin.MEDIA_REHOST
    )


def main(argv: list[str] | None = None) -> None:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="health endpoint")
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    # Marks this process's DynamoDB requests as the stream functions' (devstack/dynamodb.py).
    os.environ["AWS_SDK_UA_APP_ID"] = "devstack-worker"
    config = HandoffConfig.for_stage("local", os.environ)
    configure_logging("poller", "local")
    directory = args.data_dir / "poller"
    directory.mkdir(parents=True, exist_ok=True)
    publish = FaultyBus(EventBridgePublisher(events_client(config.region), config.event_bus_name), directory / "faults.json")
    # The streams endpoint is DynamoDB Local's (AWS_ENDPOINT_URL_DYNAMODB_STREAMS).
    poller = Poller(
        Handoff(config, publish),
        boto3.client("dynamodbstreams"),
        boto3.client("sqs"),
        Checkpoints(directory / "checkpoints.json"),
        (config.messages_table, config.optouts_table),
    )
    # Its own thread: a media item waiting out Twilio's "not ready" 404 holds up no event.
    threading.Thread(target=run, args=(media_poller(directory, config),), name="media", daemon=True).start()
    outbound_url = os.environ.get("DEVSTACK_OUTBOUND_URL")
    if outbound_url:
        cancels = optout_cancels_poller(directory, config, outbound_url)
        threading.Thread(target=run, args=(cancels,), name="optout-cancels", daemon=True).start()
    _Health.poller = poller
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    run(poller)


if __name__ == "__main__":
    main()

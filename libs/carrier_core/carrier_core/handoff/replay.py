"""Replay what the hand-off's dead-letter queue holds: `make replay-dlq STAGE=...`.

A DLQ message is what Lambda's event source mapping sends to its on-failure destination
once a record has failed every retry: not the record, but where it is (stream ARN, shard,
first and last sequence number, in DDBStreamBatchInfo). Replay reads those records back
from the stream and runs them through the same consumer; a message is deleted only when
all its records were published. Streams keep records for 24 hours: replay within a day
(the DLQ depth alarm fires on the first message). Published events keep their event_id,
so a record replayed twice is one event to a consumer that drops duplicates.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from carrier_core.handoff.handler import Handoff, HandoffConfig
from carrier_core.handoff.records import lambda_record

log = logging.getLogger(__name__)


@dataclass
class ReplayReport:
    """What one replay run did with the DLQ's messages."""

    replayed: int = 0
    failed: int = 0
    expired: int = 0
    published: int = 0


def read_range(streams: Any, info: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of one shard from startSequenceNumber to endSequenceNumber, Lambda-shaped."""
    arn, last = info["streamArn"], int(info["endSequenceNumber"])
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=info["shardId"], ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=info["startSequenceNumber"]
        )["ShardIterator"]
    except streams.exceptions.TrimmedDataAccessException:
        return []
    except streams.exceptions.ResourceNotFoundException:
        return []
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page["Records"]:
            if int(record["dynamodb"]["SequenceNumber"]) > last:
                return records
            records.append(lambda_record(record, arn))
        if not page["Records"]:
            break
        iterator = page.get("NextShardIterator")
    return records


def replay(sqs: Any, streams: Any, queue_url: str, handoff: Handoff) -> ReplayReport:
    """Publish the records each DLQ message points at; delete the message when all were."""
    report = ReplayReport()
    seen: set[str] = set()
    while True:
        # Messages left on the queue stay invisible for the rest of the run.
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return report
        for message in fresh:
            seen.add(message["MessageId"])
            info = json.loads(message["Body"])["DDBStreamBatchInfo"]
            records = read_range(streams, info)
            if not records:
                report.expired += 1  # trimmed from the stream, or the table is gone
                log.warning("dlq records no longer on the stream", extra={"shard": info["shardId"], "start": info["startSequenceNumber"]})
                continue
            outcome = handoff.handle(records)
            if outcome.failed_sequence is not None:
                report.failed += 1
                continue
            report.published += len(outcome.published)
            report.replayed += 1
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def main(argv: list[str] | None = None) -> int:
    """Replay the stage's DLQ with the credentials and endpoints of the environment."""
    import botocore.session

    from carrier_core.logs import configure_logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", required=True)
    args = parser.parse_args(argv)
    config = HandoffConfig.for_stage(args.stage, os.environ)
    configure_logging("replay", args.stage)
    session = botocore.session.get_session()
    sqs = session.create_client("sqs", region_name=config.region)
    # Locally AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_DYNAMODB_STREAMS point at the stack.
    streams = session.create_client("dynamodbstreams", region_name=config.region)
    queue_url = sqs.get_queue_url(QueueName=config.events_dlq_name)["QueueUrl"]
    report = replay(sqs, streams, queue_url, Handoff(config))
    print(json.dumps(vars(report)), file=sys.stderr)
    return 1 if report.failed or report.expired else 0


if __name__ == "__main__":
    raise SystemExit(main())

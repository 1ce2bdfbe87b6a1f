"""The stack's other AWS services on a second moto server: EventBridge, SQS and S3.

DynamoDB is AWS's DynamoDB Local (devstack.dynamodb); this server holds what the
hand-off publishes to. `make dev` creates, idempotently, the bus, a rule that forwards
every omni.twilio event to the queue the workflow engine would read, two more rules and
queues that `omni-twilio events tail` and the inspector read (so neither takes anything from
the engine), the dead-letter queue of the stream consumer, and the media bucket. With
`--data-dir` the buckets and queues, their objects and unread messages, outlive a restart
(devstack/awsstate.py).
"""

from __future__ import annotations

import contextlib
import argparse
import json
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

STAGE = "local"
PREFIX = f"omni-twilio-{STAGE}"
BUS = f"{PREFIX}-events"
EVENTS_QUEUE = f"{PREFIX}-events"
DLQ = f"{PREFIX}-events-dlq"
MEDIA_BUCKET = f"{PREFIX}-media"
RULE = f"{PREFIX}-events-to-queue"
# The CLI's own copy of every event: `events tail` deletes what it reads, from this queue.
CLI_QUEUE = f"{PREFIX}-events-cli"
CLI_RULE = f"{PREFIX}-events-to-cli"
# The inspector's own copy of every event (devstack/inspector): it reads and deletes from
# this queue, never from the one the workflow engine reads.
INSPECTOR_QUEUE = f"{PREFIX}-events-inspector"
INSPECTOR_RULE = f"{PREFIX}-events-to-inspector"
HEALTH_PATH = "/moto-api/"


@dataclass(frozen=True)
class EventResources:
    """Where the local stage's events go."""

    events_queue_url: str
    dlq_url: str


def client(service: str, endpoint: str) -> Any:
    import boto3  # devstack runs with the development requirements installed

    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def create_event_resources(endpoint: str) -> EventResources:
    """Create the bus, the rules to the events queue, the CLI's and the inspector's queues, the
    DLQ and the media bucket; idempotent."""
    sqs, events, s3 = client("sqs", endpoint), client("events", endpoint), client("s3", endpoint)
    queue_url = sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
    # 14 days, the longest SQS keeps a message: an operator has that long to replay.
    dlq_url = sqs.create_queue(QueueName=DLQ, Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
        events.create_event_bus(Name=BUS)
    events.put_rule(Name=RULE, EventBusName=BUS, EventPattern=json.dumps({"source": ["omni.twilio"]}), State="ENABLED")
    events.put_targets(Rule=RULE, EventBusName=BUS, Targets=[{"Id": "events-queue", "Arn": queue_arn}])
    forward(sqs, events, CLI_QUEUE, CLI_RULE)
    forward(sqs, events, INSPECTOR_QUEUE, INSPECTOR_RULE)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=MEDIA_BUCKET)
    return EventResources(queue_url, dlq_url)


def forward(sqs: Any, events: Any, queue: str, rule: str) -> str:
    """A queue of its own that a rule fills with every omni.twilio event on the bus; its URL."""
    url: str = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=rule, EventBusName=BUS, EventPattern=json.dumps({"source": ["omni.twilio"]}), State="ENABLED")
    events.put_targets(Rule=rule, EventBusName=BUS, Targets=[{"Id": queue, "Arn": arn}])
    return url


def main(argv: list[str] | None = None) -> None:
    from moto.moto_server.threaded_moto_server import MotoRequestHandler  # type: ignore[attr-defined]
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8005)
    parser.add_argument("--data-dir", type=Path, default=None, help="keep S3 and SQS here across restarts (devstack/awsstate.py)")
    args = parser.parse_args(argv)
    app = DomainDispatcherApplication(create_backend_app)
    if args.data_dir is not None:
        keep(args.data_dir)
    # One access line per SQS poll and PutEvents is noise on `make dev`'s console; the
    # poller logs each batch it publishes.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


def keep(folder: Path) -> None:
    """Read the kept S3 and SQS state back before serving, write it as it changes, and once
    more on SIGTERM (how the stack stops its parts)."""
    from devstack.awsstate import Keeper

    keeper = Keeper(folder)
    keeper.load()
    keeper.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        keeper.stop()
        keeper.save()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":
    main()

"""The hand-off's schema and Lambda-shaped stream records, for unit and end-to-end tests."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from boto3.dynamodb.types import TypeSerializer

import carrier_core.handoff
from devstack import aws
from tests.support.forms import new_sid, sms
from tests.support.stack import RunningStack, wait_for

SCHEMA_PATH = Path(carrier_core.handoff.__file__).parent / "schema" / "events.v1.json"
MESSAGES_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/omni-twilio-dev-messages/stream/2026-11-24T00:00:00.000"
OPTOUTS_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/omni-twilio-dev-optouts/stream/2026-11-24T00:00:00.000"

_serializer = TypeSerializer()


@cache
def schema_validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def validate_event(event: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `event` (as a bus target receives it) fits the schema."""
    schema_validator().validate(event)


def typed(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: _serializer.serialize(v) for k, v in item.items()}


def stream_record(
    new: dict[str, Any] | None,
    old: dict[str, Any] | None = None,
    sequence: int = 1,
    arn: str = MESSAGES_ARN,
    keys: tuple[str, ...] = ("sid",),
) -> dict[str, Any]:
    """A record as Lambda's DynamoDB event source delivers it (NEW_AND_OLD_IMAGES)."""
    image = new if new is not None else old
    assert image is not None
    name = "REMOVE" if new is None else ("MODIFY" if old is not None else "INSERT")
    data: dict[str, Any] = {
        "ApproximateCreationDateTime": 1764000000,
        "Keys": typed({k: image[k] for k in keys}),
        "SequenceNumber": f"{sequence:021d}",
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        data["NewImage"] = typed(new)
    if old is not None:
        data["OldImage"] = typed(old)
    return {
        "eventID": f"e{sequence}",
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "eventSourceARN": arn,
        "awsRegion": "us-east-1",
        "dynamodb": data,
    }


class PublishedEvents:
    """Every event the local bus carries, from a queue of its own, so the tests' reads of the
    engine's queue take nothing from it; each event read is checked against the schema.

    Read as the run goes (`read()`), not only at its end: moto's receive slows with the
    queue's length (600 messages took six times as long to read as 300), so a whole run's
    events read at once took about a minute."""

    QUEUE = "omni-twilio-local-events-audit"
    RULE = "omni-twilio-local-events-to-audit"

    def __init__(self, sqs: Any, events: Any, bus: str) -> None:
        self.sqs = sqs
        self.url = sqs.create_queue(QueueName=self.QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=self.RULE, EventBusName=bus, EventPattern=json.dumps({"source": ["omni.twilio"]}), State="ENABLED")
        events.put_targets(Rule=self.RULE, EventBusName=bus, Targets=[{"Id": "audit", "Arn": arn}])
        self.seen = 0
        self.failures: list[tuple[str, str]] = []

    def read(self) -> int:
        """Check and delete what the queue holds now; how many events that was."""
        read = 0
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return read
            for message in messages:
                event = json.loads(message["Body"])
                try:
                    validate_event(event)
                except jsonschema.ValidationError as exc:
                    self.failures.append((str(event.get("detail-type")), f"{'/'.join(map(str, exc.absolute_path))}: {exc.message}"))
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
            read += len(messages)
            self.seen += len(messages)

    def invalid(self, quiet_seconds: float = 2.0) -> list[tuple[str, str]]:
        """(detail-type, reason) of each event of the run that failed the schema, once the
        queue has been quiet for `quiet_seconds` (the poller may still be publishing the last
        writes)."""
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_seconds:
            if self.read():
                quiet_since = time.monotonic()
            else:
                time.sleep(0.2)
        return self.failures


Event = dict[str, Any]


class Queue:
    """Everything the events queue delivered so far, each event validated on arrival."""

    def __init__(self, stack: RunningStack) -> None:
        self.sqs = stack.aws_client("sqs")
        self.url = self.sqs.get_queue_url(QueueName=aws.EVENTS_QUEUE)["QueueUrl"]
        self.events: list[Event] = []

    def drain(self) -> None:
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return
            for message in messages:
                event = json.loads(message["Body"])
                validate_event(event)
                self.events.append(event)
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def matching(self, predicate: Callable[[Event], bool]) -> list[Event]:
        self.drain()
        return [e for e in self.events if predicate(e)]

    def of_sid(self, sid: str) -> list[Event]:
        return self.matching(lambda e: e["detail"].get("sid") == sid)

    def settle(self, stack: RunningStack) -> None:
        """Wait until the poller has handled every record written so far on both streams: a
        marker STOP, written last, is a message and an opt-out of a sender of its own, and
        each comes out of its stream after what was written there before it."""
        marker, sender = new_sid(), f"+1415666{random.randrange(10000):04d}"
        assert stack.post_webhook("inbound", sms(sid=marker, body="STOP", To=sender)).status_code == 200

        def both_out() -> bool:
            return bool(self.of_sid(marker)) and bool(self.matching(lambda e: e["detail"].get("sender") == sender))

        assert wait_for(both_out, timeout=30), "the poller did not publish the markers"

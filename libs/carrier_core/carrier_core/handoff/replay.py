"""Replay what the hand-off's dead-letter queue holds: `make replay-dlq STAGE=...`.

A DLQ message is what Lambda's event source mapping sends to its on-failure destination
once a record has failed every retry: not the record, but where it is (stream ARN, shard,
first and last sequence number, in DDBStreamBatchInfo). Replay reads those records back
from the stream and runs them through the same consumer; a message is deleted only when
all its records were published. Streams keep records for 24 hours: replay within a day
(the DLQ depth alarm fires on the first message). Published events keep their event_id,
so a record replayed twice is one event to a consumer that drops duplicates.

Two consumers share the DLQ: the hand-off and the inbound media re-host, both on the
messages stream. A message names the function whose retries ran out (requestContext's
functionArn), and replay hands its records to that consumer: the hand-off's would find no
event in a media record, report success, and so delete the only trace of a media job that
never finished. A message from a function replay does not know is left on the queue.
"""

from __future__ import annotations

import argparse
import enum
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from carrier_core.stream.batch import BatchOutcome, Consumer
from carrier_core.handoff.handler import Handoff, HandoffConfig
from carrier_core.stream.records import lambda_record

if TYPE_CHECKING:
    from carrier_core.media.rehost import MediaRehost

log = logging.getLogger(__name__)


class Origin(str, enum.Enum):
    """A stream consumer whose records can reach the DLQ: the end of its function's name
    (infra/modules/service: `<prefix>-handoff`, `<prefix>-rehost-media`,
    `<prefix>-optout-cancels`)."""

    HANDOFF = "handoff"
    MEDIA_REHOST = "rehost-media"
    OPTOUT_CANCELS = "optout-cancels"


# The consumer that replays an origin's records, given the function ARN the message names.
Route = Callable[[Origin, str], Consumer]


@dataclass
class ReplayReport:
    """What one replay run did with the DLQ's messages."""

    replayed: int = 0
    failed: int = 0
    expired: int = 0
    published: int = 0
    unrouted: int = 0


def origin_of(body: dict[str, Any]) -> tuple[Origin | None, str]:
    """The consumer a DLQ message came from, and its function ARN (None: not one of ours)."""
    arn = str((body.get("requestContext") or {}).get("functionArn") or "")
    # arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
    name = arn.rsplit(":function:", 1)[-1].split(":", 1)[0]
    return next((o for o in Origin if name.endswith(f"-{o.value}")), None), arn


class InvokeFunction:
    """Replays a batch by invoking the function whose retries ran out, with its own role and
    secrets (the media re-host needs the Twilio credentials an operator should not hold)."""

    def __init__(self, client: Any, function_arn: str) -> None:
        self.client = client
        self.function_arn = function_arn

    def handle(self, records: Sequence[dict[str, Any]]) -> BatchOutcome:
        outcome = BatchOutcome(records=len(records))
        response = self.client.invoke(FunctionName=self.function_arn, Payload=json.dumps({"Records": list(records)}).encode())
        answer = json.loads(response["Payload"].read() or b"null")
        failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
        if (response.get("FunctionError") or failures is None) and records:
            outcome.fail(records[0]["dynamodb"]["SequenceNumber"], f"invoke_failed:{response.get('FunctionError') or 'unexpected_answer'}")
        elif failures:
            outcome.fail(str(failures[0]["itemIdentifier"]), "function_reported_failure")
        return outcome


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


def replay(sqs: Any, streams: Any, queue_url: str, route: Route) -> ReplayReport:
    """Run the records each DLQ message points at through the consumer they failed in;
    delete the message only when that consumer handled all of them."""
    report = ReplayReport()
    seen: set[str] = set()
    left: list[str] = []
    while True:
        # Messages left on the queue stay invisible for the rest of the run.
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300).get(
            "Messages", []
        )
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            if _replay_one(json.loads(message["Body"]), streams, route, report):
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                left.append(message["ReceiptHandle"])
    # What is left is visible again at once: the operator who fixed its cause reruns now.
    for receipt in left:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return report


def _replay_one(body: dict[str, Any], streams: Any, route: Route, report: ReplayReport) -> bool:
    """Replay one DLQ message's records; True when its consumer handled every one."""
    origin, function_arn = origin_of(body)
    info = body["DDBStreamBatchInfo"]
    where = {"shard": info["shardId"], "start": info["startSequenceNumber"]}
    if origin is None:
        report.unrouted += 1
        log.warning("dlq message from an unknown consumer left on the queue", extra=where)
        return False
    records = read_range(streams, info)
    if not records:
        report.expired += 1  # trimmed from the stream, or the table is gone
        log.warning("dlq records no longer on the stream", extra=where)
        return False
    outcome = route(origin, function_arn).handle(records)
    if outcome.failed_sequence is not None:
        report.failed += 1
        log.warning("dlq records failed again", extra={**where, "origin": origin.value, "error": outcome.error})
        return False
    report.published += len(outcome.published)
    report.replayed += 1
    return True


def rehost_in_process(environ: Mapping[str, str]) -> Callable[[str], MediaRehost]:
    """The local stage's media re-host, in this process with the inbound service's settings:
    the stack's poller runs it, and so does a local replay (there is no Lambda to invoke)."""

    @cache
    def build(function_arn: str) -> MediaRehost:
        from carrier_core.media.rehost import MediaRehost
        from carrier_core.models import bind_models
        from carrier_core.settings import Settings

        settings = Settings.from_env("inbound", {**environ, "STAGE": "local"})
        bind_models(settings)
        return MediaRehost(settings)

    return build


class LocalOptOutCancels:
    """The local stage's stand-in for the outbound service's opt-out function
    (services/outbound chalicelib/optout_cancels.py): each batch POSTed to the service's
    local-only route, which answers as the function does, with `batchItemFailures`. The
    stack's poller runs it on the optouts stream, and a local replay hands it the records the
    poller sent to the DLQ. A service that does not answer fails the whole batch."""

    def __init__(self, outbound_url: str, config: HandoffConfig) -> None:
        self.url = outbound_url.rstrip("/") + "/_local/optout-cancels"
        self.config = config

    def handle(self, records: Sequence[dict[str, Any]]) -> BatchOutcome:
        import urllib.request

        outcome = BatchOutcome(records=len(records))
        body = json.dumps({"Records": list(records)}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            # The local stack's own http:// URL, never one from outside.
            with urllib.request.urlopen(request, timeout=60) as answer:  # nosec B310  # noqa: S310
                failures = json.loads(answer.read())["batchItemFailures"]
        except (OSError, ValueError, KeyError):  # refused, a 4xx/5xx (HTTPError), or not its answer
            failures = None
        if failures is None:
            outcome.fail(records[0]["dynamodb"]["SequenceNumber"], "cancel_failed:outbound_unreachable")
        elif failures:
            outcome.fail(failures[0]["itemIdentifier"], "cancel_failed")
        return outcome


def main(argv: list[str] | None = None, local: Mapping[Origin, Callable[[str], Consumer]] | None = None) -> int:
    """Replay the stage's DLQ with the credentials and endpoints of the environment. An
    origin other than the hand-off goes to `local[origin](function_arn)` when given (the
    local stage has no Lambda: the media re-host in this process, the opt-out cancels through
    the outbound service's local route), else to the deployed function itself."""
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
    handoff = Handoff(config)
    if local is None and args.stage == "local":
        local = {Origin.MEDIA_REHOST: rehost_in_process(os.environ)}
    # One Lambda client for the run, made only if a media job needs it.
    lambda_client = cache(lambda: session.create_client("lambda", region_name=config.region))

    def route(origin: Origin, function_arn: str) -> Consumer:
        if origin is Origin.HANDOFF:
            return handoff
        if local is not None and origin in local:
            return local[origin](function_arn)
        return InvokeFunction(lambda_client(), function_arn)

    report = replay(sqs, streams, queue_url, route)
    print(json.dumps(vars(report)), file=sys.stderr)
    return 1 if report.failed or report.expired or report.unrouted else 0


if __name__ == "__main__":
    raise SystemExit(main())

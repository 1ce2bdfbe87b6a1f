"""`events`: the workflow events as the CLI's own events queue receives them, and the DLQ replay."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import typer

from omni_cli.context import CliFailure, Profile, timed_out, unreachable

app = typer.Typer(help="The workflow events the hand-off publishes.", no_args_is_help=True, rich_markup_mode=None)


def sqs_client(profile: Profile) -> Any:
    return profile.aws_client("sqs")


def subject(detail: dict[str, Any], profile: Profile) -> str:
    """What an event is about: a message's SID, or a contact's masked number and sender."""
    if detail.get("sid"):
        return str(detail["sid"])
    return f"{profile.number(detail.get('phone'))} {profile.number(detail.get('sender'))}".strip()


def queue_failure(name: str, exc: Exception, profile: Profile) -> CliFailure:
    down = unreachable(exc, profile)
    if down is not None:
        return CliFailure(down)
    if timed_out(exc):
        return CliFailure(f"the events queue {name} did not answer in time: is the stack running (make dev)?")
    return CliFailure(f"cannot read the events queue {name}: {type(exc).__name__}")


@app.command()
def tail(
    ctx: typer.Context,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep reading until Ctrl-C."),
    queue: str | None = typer.Option(
        None, "--queue", help="The queue to read; default: the CLI's own, omni-twilio-<stage>-events-cli (never the engine's)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print each event whole, one JSON object a line."),
) -> None:
    """Read the CLI's events queue (each event once) and print each event; the engine's queue is left alone."""
    profile: Profile = ctx.obj
    sqs = sqs_client(profile)
    # Its own queue, fed by its own rule: what it deletes, the workflow engine still gets.
    name = queue or f"omni-twilio-{profile.stage}-events-cli"
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except Exception as exc:  # botocore's errors: no such queue, no endpoint, no credentials
        raise queue_failure(name, exc, profile) from exc
    while True:
        try:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1 if follow else 0).get("Messages", [])
        except Exception as exc:
            raise queue_failure(name, exc, profile) from exc
        for message in messages:
            event = json.loads(message["Body"])
            detail = event.get("detail") or {}
            if as_json:
                print(json.dumps(profile.masked(event)), flush=True)
            else:
                status = detail.get("status") or ""
                line = f"{event.get('time', '')} {event.get('detail-type')} {subject(detail, profile)} {status}"
                profile.console.print(f"{line} event_id={detail.get('event_id')}")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if not messages and not follow:
            return
        if not messages:
            time.sleep(0.2)


@app.command("replay-dlq")
def replay_dlq(ctx: typer.Context) -> None:
    """Replay what the stream consumers' dead-letter queue holds (as `make replay-dlq`)."""
    from carrier_core.handoff import replay
    from carrier_core.handoff.handler import HandoffConfig
    from carrier_core.stream.batch import Consumer

    profile: Profile = ctx.obj
    profile.use_aws()
    local: dict[replay.Origin, Callable[[str], Consumer]] | None = None
    if profile.is_local:
        config = HandoffConfig.for_stage("local", profile.environ())
        outbound = profile.url("outbound")
        local = {
            replay.Origin.MEDIA_REHOST: replay.rehost_in_process(profile.environ()),
            replay.Origin.OPTOUT_CANCELS: lambda _arn: replay.LocalOptOutCancels(outbound, config),
        }
    code = replay.main(["--stage", profile.stage], local=local)
    if code != 0:
        raise CliFailure("some DLQ messages could not be replayed (see the report above); they stay on the DLQ")
    profile.console.print("the DLQ is replayed")

"""`make replay-dlq STAGE=local`: replay the local stack's DLQ.

The same code as for a deployed stage (carrier_core.handoff.replay), pointed at the running
stack (DEVSTACK_PORT_BASE, else its record .dev/stack.json, as the CLI finds it) with its fake
credentials. There is no Lambda here to invoke, so a media re-host's records run through the
re-host in this process, and the opt-out cancels through the outbound service's local route,
as the poller runs them.
"""

from __future__ import annotations

import os
from pathlib import Path

from carrier_core.handoff import replay
from carrier_core.handoff.handler import HandoffConfig
from carrier_core.stream.batch import Consumer
from devstack.poller import FaultyRehost
from devstack.stack import DATA_DIR, Layout, child_env
from omni_cli import stackrecord


def running_layout() -> Layout:
    """The running stack's layout, its ports found as the CLI finds them: DEVSTACK_PORT_BASE,
    else the record `make dev` writes (.dev/stack.json), else 8000."""
    return Layout(stackrecord.port_base(), Path(os.environ.get("DEVSTACK_DATA_DIR") or DATA_DIR))


def main() -> int:
    layout = running_layout()
    os.environ.update(child_env(layout))

    rehost = replay.rehost_in_process(os.environ)

    def media_rehost(function_arn: str) -> Consumer:
        # The poller's test faults apply here too: the same stand-in for a failing S3.
        return FaultyRehost(rehost(function_arn), layout.data_dir / "poller" / "faults.json")

    def optout_cancels(function_arn: str) -> Consumer:
        return replay.LocalOptOutCancels(layout.url("outbound"), HandoffConfig.for_stage("local", os.environ))

    return replay.main(["--stage", "local"], local={replay.Origin.MEDIA_REHOST: media_rehost, replay.Origin.OPTOUT_CANCELS: optout_cancels})


if __name__ == "__main__":
    raise SystemExit(main())

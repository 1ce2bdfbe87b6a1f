"""`make replay-dlq STAGE=local`: replay the local stack's DLQ.

The same code as for a deployed stage (carrier_core.handoff.replay), pointed at the stack
on DEVSTACK_PORT_BASE with its fake credentials. There is no Lambda here to invoke, so a
media re-host's records run through the re-host in this process, as the poller runs it.
"""

from __future__ import annotations

import os
from pathlib import Path

from carrier_core.handoff import replay
from carrier_core.stream.batch import Consumer
from devstack.poller import FaultyRehost
from devstack.stack import DATA_DIR, Layout, child_env


def main() -> int:
    layout = Layout(int(os.environ.get("DEVSTACK_PORT_BASE", "8000")), Path(os.environ.get("DEVSTACK_DATA_DIR") or DATA_DIR))
    os.environ.update(child_env(layout))

    rehost = replay.rehost_in_process(os.environ)

    def media_rehost(function_arn: str) -> Consumer:
        # The poller's test faults apply here too: the same stand-in for a failing S3.
        return FaultyRehost(rehost(function_arn), layout.data_dir / "poller" / "faults.json")

    return replay.main(["--stage", "local"], media=media_rehost)


if __name__ == "__main__":
    raise SystemExit(main())

"""`make replay-dlq STAGE=local`: replay the local stack's hand-off DLQ.

The same code as for a deployed stage (carrier_core.handoff.replay), pointed at the stack
on DEVSTACK_PORT_BASE with its fake credentials.
"""
from __future__ import annotations

import os

from carrier_core.handoff import replay
from devstack.stack import Layout, child_env


def main() -> int:
    layout = Layout(int(os.environ.get("DEVSTACK_PORT_BASE", "8000")))
    os.environ.update(child_env(layout))
    return replay.main(["--stage", "local"])


if __name__ == "__main__":
    raise SystemExit(main())

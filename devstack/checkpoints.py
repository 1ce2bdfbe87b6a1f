"""The stream poller's checkpoints: per stream and shard, the last sequence number handled and
whether a closed shard is finished, in one JSON file written after every batch."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ShardState = dict[str, Any]


class Checkpoints:
    """Per stream and shard: the last sequence number handled, and whether a closed shard is done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict[str, ShardState]] = self.load(path)

    @staticmethod
    def load(path: Path) -> dict[str, dict[str, ShardState]]:
        """The saved checkpoints; none when the file is missing or unreadable.

        A power cut can leave the file empty or zeroed (the rename in save() reached the disk
        before the data did), and a crash-looping poller helps no one. Starting again from
        TRIM_HORIZON is safe: every event's event_id is derived from the change, not from the
        delivery, so what is published again carries the ids it had and consumers drop them.
        """
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_bytes())
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            return Checkpoints.unreadable(path, type(exc).__name__)
        if not well_formed(data):
            return Checkpoints.unreadable(path, "unexpected shape")
        return data  # type: ignore[no-any-return]

    @staticmethod
    def unreadable(path: Path, reason: str) -> dict[str, dict[str, ShardState]]:
        log.warning("checkpoints unreadable, replaying from TRIM_HORIZON", extra={"checkpoints": path.name, "reason": reason})
        return {}

    def shard(self, stream_arn: str, shard_id: str) -> ShardState:
        return self.data.setdefault(stream_arn, {}).setdefault(shard_id, {"sequence": None, "done": False})

    def keep(self, stream_arns: set[str]) -> None:
        """Forget the checkpoints of every stream not in `stream_arns`."""
        for arn in set(self.data) - stream_arns:
            del self.data[arn]

    def save(self) -> None:
        # Write then rename: a kill mid-write leaves the previous checkpoint, never half of one.
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def well_formed(data: Any) -> bool:
    """Whether `data` is {stream: {shard: {"sequence": str | None, "done": bool}}}."""
    return isinstance(data, dict) and all(
        isinstance(shards, dict)
        and all(
            isinstance(state, dict) and isinstance(state.get("sequence"), (str, type(None))) and isinstance(state.get("done"), bool)
            for state in shards.values()
        )
        for shards in data.values()
    )

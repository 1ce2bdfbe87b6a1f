"""The local stack's record of itself: which ports it listens on, so the CLI follows it.

`make dev` writes `<data dir>/stack.json` (`.dev/stack.json` by default) once every part is
healthy and removes it when it stops. A plain `omni-twilio …` run in the repository (or below
it) reads it, so a stack on `DEVSTACK_PORT_BASE=26000` is found without exporting anything.
A record whose process is gone (a stack killed with SIGKILL) is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORD = "stack.json"
DATA_DIR = ".dev"
DEFAULT_PORT_BASE = 8000
# The highest base whose seven consecutive ports (8000 … 8006 by default) all exist.
MAX_PORT_BASE = 65535 - 6


class BadPortBase(ValueError):
    """DEVSTACK_PORT_BASE (or --port-base) is not a usable port number."""


@dataclass(frozen=True)
class StackRecord:
    """What a running local stack says about itself."""

    port_base: int
    pid: int
    path: Path


def parse_port_base(value: str, source: str = "DEVSTACK_PORT_BASE") -> int:
    """`value` as a port base; raises BadPortBase with one line naming `source`."""
    text = value.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_PORT_BASE:
        raise BadPortBase(f"{source} must be a port number from 1 to {MAX_PORT_BASE} (the first of 7 consecutive ports), not {value!r}")
    return int(text)


def write(data_dir: Path, port_base: int, endpoints: dict[str, str]) -> Path:
    """Record this process's stack in `data_dir`; the record's path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / RECORD
    body = {"stage": "local", "port_base": port_base, "pid": os.getpid(), "endpoints": endpoints}
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(body, indent=2) + "\n")
    # A reader sees the old record or the new one, never half of one.
    scratch.replace(path)
    return path


def remove(data_dir: Path) -> None:
    """Remove the record, if it is this process's (another stack may have written its own since)."""
    path = data_dir / RECORD
    record = read(path)
    if record is not None and record.pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def read(path: Path) -> StackRecord | None:
    """The record at `path` when its stack is still running; None otherwise (or when unreadable)."""
    try:
        body: Any = json.loads(path.read_text())
        record = StackRecord(int(body["port_base"]), int(body["pid"]), path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if alive(record.pid) else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def find(start: Path, stack: Path | None = None) -> StackRecord | None:
    """The record of the stack to follow: `stack` (a data directory or its record) when given,
    else `$DEVSTACK_DATA_DIR`'s, else the nearest `.dev/stack.json` from `start` upwards."""
    if stack is not None:
        return read(stack if stack.suffix == ".json" else stack / RECORD)
    if os.environ.get("DEVSTACK_DATA_DIR"):
        return read(Path(os.environ["DEVSTACK_DATA_DIR"]) / RECORD)
    for directory in (start, *start.parents):
        record = read(directory / DATA_DIR / RECORD)
        if record is not None:
            return record
    return None


def port_base(stack: Path | None = None, start: Path | None = None) -> int:
    """The local stack's port base: DEVSTACK_PORT_BASE, else its record's, else 8000."""
    if os.environ.get("DEVSTACK_PORT_BASE") is not None:
        return parse_port_base(os.environ["DEVSTACK_PORT_BASE"])
    record = find(start or Path.cwd(), stack)
    return record.port_base if record is not None else DEFAULT_PORT_BASE

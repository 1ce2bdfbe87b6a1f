"""`make dev`'s process: it comes up on its ports and leaves nothing behind when stopped."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devstack.stack import Layout, port_in_use
from tests.support.stack import wait_for

ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stack_stops_every_child_and_frees_its_ports(signum: int, tmp_path: Path) -> None:
    base = int(os.environ.get("E2E_PORT_BASE", "18000")) + 100
    layout = Layout(base)
    log = (tmp_path / "dev.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env={**os.environ, "DEVSTACK_PORT_BASE": str(base), "DEVSTACK_DATA_DIR": str(tmp_path / "data")},
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def healthy() -> bool:
            try:
                return all(requests.get(layout.url(n) + "/health", timeout=2).status_code == 200
                           for n in ("inbound", "status", "outbound", "sandbox"))
            except requests.RequestException:
                return False

        assert wait_for(healthy, timeout=90, interval=0.5), (tmp_path / "dev.log").read_text()
        children = descendants(proc.pid)
        assert len(children) >= 5
        proc.send_signal(signum)
        assert proc.wait(timeout=20) == 0
        time.sleep(0.2)
        assert [pid for pid in children if alive(pid)] == []
        assert [p.port for p in layout.parts if port_in_use(p.port)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()

"""devstack/watch.py: which edits restart which parts of `make dev`, and when."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest

from devstack.stack import ROOT, Layout, Restart, Stack
from devstack.watch import Watcher, changed, counts, scan, watched_code

SERVICES = ("inbound", "status", "outbound")


def tree(tmp_path: Path) -> Path:
    """A repository's shape: three services and carrier_core, one module each."""
    for name in SERVICES:
        (tmp_path / "services" / name / "chalicelib").mkdir(parents=True)
        (tmp_path / "services" / name / "app.py").write_text("app = 1\n")
        (tmp_path / "services" / name / ".chalice").mkdir()
        (tmp_path / "services" / name / ".chalice" / "config.json").write_text("{}")
    (tmp_path / "libs" / "carrier_core" / "carrier_core").mkdir(parents=True)
    (tmp_path / "libs" / "carrier_core" / "carrier_core" / "logs.py").write_text("x = 1\n")
    return tmp_path


def touch(path: Path, text: str = "changed = True\n") -> None:
    """Write `path` and move its mtime on, as an editor's save does even within one clock tick."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def watcher(root: Path) -> Watcher:
    return Watcher(watched_code(root, SERVICES), root)


def test_a_service_file_restarts_that_service_once_the_edit_settles(tmp_path: Path) -> None:
    root = tree(tmp_path)
    watch = watcher(root)
    assert watch.poll() == {}
    touch(root / "services" / "status" / "app.py")
    assert watch.poll() == {}  # still moving: wait one poll for more writes
    assert watch.poll() == {"status": ["services/status/app.py"]}
    assert watch.poll() == {}  # reported once


def test_carrier_core_restarts_every_service_and_the_poller(tmp_path: Path) -> None:
    root = tree(tmp_path)
    watch = watcher(root)
    (root / "libs" / "carrier_core" / "carrier_core" / "new.py").write_text("")
    watch.poll()
    due = watch.poll()
    assert sorted(due) == ["inbound", "outbound", "poller", "status"]
    assert due["poller"] == ["libs/carrier_core/carrier_core/new.py"]


def test_a_burst_of_writes_is_one_restart_with_every_file(tmp_path: Path) -> None:
    root = tree(tmp_path)
    watch = watcher(root)
    touch(root / "services" / "inbound" / "app.py")
    assert watch.poll() == {}
    (root / "services" / "inbound" / "chalicelib" / "more.py").write_text("")
    touch(root / "services" / "inbound" / ".chalice" / "config.json", "{}")
    assert watch.poll() == {}
    assert watch.poll() == {
        "inbound": ["services/inbound/.chalice/config.json", "services/inbound/app.py", "services/inbound/chalicelib/more.py"]
    }


def test_removing_a_module_counts(tmp_path: Path) -> None:
    root = tree(tmp_path)
    watch = watcher(root)
    (root / "services" / "outbound" / "app.py").unlink()
    watch.poll()
    assert watch.poll() == {"outbound": ["services/outbound/app.py"]}


def test_caches_temporary_files_and_other_folders_restart_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path)
    watch = watcher(root)
    cache = root / "services" / "inbound" / "__pycache__"
    cache.mkdir()
    (cache / "app.cpython-312.pyc").write_bytes(b"\0")
    (root / "services" / "inbound" / ".#app.py").write_text("")  # Emacs' lock
    (root / "services" / "inbound" / "app.py~").write_text("")
    (root / "services" / "inbound" / "notes.md").write_text("")
    (root / "services" / "inbound" / ".chalice" / "deployments").mkdir()
    (root / "services" / "inbound" / ".chalice" / "deployments" / "x.json").write_text("{}")
    (root / "README.md").write_text("")
    assert watch.poll() == {} and watch.poll() == {}


def test_scan_and_changed() -> None:
    assert changed({"a": (1, 1), "b": (1, 1)}, {"a": (2, 1), "c": (1, 1)}) == ["a", "b", "c"]
    assert counts("app.py") and counts("config.json") and not counts("app.pyc") and not counts(".#app.py")
    assert scan(Path("/nonexistent-folder")) == {}


def test_the_stack_watches_its_own_services_and_carrier_core() -> None:
    layout = Layout(29900)
    folders = watched_code(ROOT, (p.name for p in layout.services), layout.poller.name)
    assert all(folder.is_dir() for folder in folders)
    assert folders[ROOT / "services" / "outbound"] == ("outbound",)
    assert folders[ROOT / "libs" / "carrier_core"] == ("inbound", "status", "outbound", "poller")
    assert "services/inbound/app.py" in {f"services/inbound/{name}" for name in scan(ROOT / "services" / "inbound")}


def test_the_stack_restarts_only_the_parts_due(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stack.restart_changed stops the part's process group and starts it again, with a fresh back-off."""
    output = io.BytesIO()
    stack = Stack(Layout(29900), output=output)
    spawned: list[str] = []
    monkeypatch.setattr(stack, "spawn", lambda part: spawned.append(part.name))
    monkeypatch.setattr(stack, "_report_restart", lambda part, proc: None)
    procs = {name: subprocess.Popen(["sleep", "60"], start_new_session=True) for name in ("status", "inbound")}
    try:
        stack.procs = dict(procs)
        stack.restarts = {"status": Restart(started=0.0, failures=4), "inbound": Restart(started=0.0, failures=4)}
        stack.restart_changed({"status": ["services/status/app.py"]})
        assert spawned == ["status"]
        assert procs["status"].poll() is not None and procs["inbound"].poll() is None
        assert stack.restarts["status"].failures == 0 and stack.restarts["inbound"].failures == 4
        assert output.getvalue() == b"[stack] status: services/status/app.py changed; restarting it\n"
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()

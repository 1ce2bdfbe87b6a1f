"""`make dev` restarts a service when its code changes, as `chalice local` can.

The stack polls the modification times of the code each part runs, twice a second (the
standard library's os.scandir: a few hundred files, no dependency and nothing
platform-specific), and restarts only the parts whose code changed:

- `services/<svc>/`: that service;
- `libs/carrier_core/`: the three services and the stream poller, which runs carrier_core's
  hand-off and media re-host as the deployed functions do.

A part is restarted once its files have been still for one poll, so an editor's burst of
writes (a save, a formatter, a branch switch) makes one restart. Python files and the
configuration beside them (`.json` such as `.chalice/config.json`, `.yaml`) count; caches,
editors' temporary files and Chalice's deployment records do not. The sandbox, the inspector, DynamoDB Local and
moto are the stack itself: restart `make dev` after editing `devstack/`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

WATCHED_SUFFIXES = (".py", ".json", ".yaml", ".yml")
SKIPPED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "deployments", "deployed", "build", "vendor"})
INTERVAL = 0.5

# A file's identity in a scan: its modification time and size; a new, changed or removed file
# shows as a difference between two scans.
Scan = dict[str, tuple[int, int]]


def watched_code(root: Path, services: Iterable[str], poller: str = "poller") -> dict[Path, tuple[str, ...]]:
    """Each watched folder and the parts whose code it holds."""
    services = tuple(services)
    folders: dict[Path, tuple[str, ...]] = {root / "services" / name: (name,) for name in services}
    folders[root / "libs" / "carrier_core"] = (*services, poller)
    return folders


def counts(name: str) -> bool:
    """Whether a change to a file of this name is a change of code."""
    if name.startswith((".#", "#")) or name.endswith("~"):  # Emacs' and others' temporary files
        return False
    return name.endswith(WATCHED_SUFFIXES)


def scan(folder: Path) -> Scan:
    """Every counted file under `folder` (its path from `folder`) with its mtime and size."""
    found: Scan = {}
    todo = [folder]
    while todo:
        current = todo.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:  # removed while scanned, or not there at all
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIPPED_DIRS and not (entry.name.startswith(".") and entry.name != ".chalice"):
                        todo.append(Path(entry.path))
                elif counts(entry.name):
                    stat = entry.stat()
                    found[os.path.relpath(entry.path, folder)] = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                continue
    return found


def changed(before: Scan, after: Scan) -> list[str]:
    """The files added, removed or modified between two scans."""
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


class Watcher:
    """Which parts to restart, from one scan to the next."""

    def __init__(self, folders: Mapping[Path, tuple[str, ...]], root: Path | None = None) -> None:
        self.folders = dict(folders)
        self.root = root
        self.seen = {folder: scan(folder) for folder in self.folders}
        self.pending: dict[str, set[str]] = {}

    def poll(self) -> dict[str, list[str]]:
        """The parts to restart now, each with the files that changed (from `root`). A part is
        due once a poll finds no new change: edits still under way wait for the next one."""
        moving = False
        for folder, parts in self.folders.items():
            current = scan(folder)
            files = changed(self.seen[folder], current)
            if not files:
                continue
            moving = True
            self.seen[folder] = current
            shown = [self._name(folder / f) for f in files]
            for part in parts:
                self.pending.setdefault(part, set()).update(shown)
        if moving or not self.pending:
            return {}
        due, self.pending = self.pending, {}
        return {part: sorted(files) for part, files in due.items()}

    def _name(self, path: Path) -> str:
        if self.root is not None:
            try:
                return str(path.relative_to(self.root))
            except ValueError:
                pass
        return str(path)

"""Declared dependencies: each lock pins what its requirements.txt asks for, and each package of
libs/ declares every third-party package its code imports."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.apps import ROOT

SERVICES = ("inbound", "status", "outbound")
LOCKS = {
    ROOT / "requirements-dev.txt": ROOT / "requirements-dev.lock",
    ROOT / "infra" / "requirements-checkov.txt": ROOT / "infra" / "requirements-checkov.lock",
} | {ROOT / "services" / svc / "requirements.txt": ROOT / "services" / svc / "requirements.lock" for svc in SERVICES}
LIBS = {"carrier_core": ROOT / "libs" / "carrier_core", "omni_cli": ROOT / "libs" / "omni_cli"}
# What the python3.12 Lambda runtime provides (infra/package.py's RUNTIME_PROVIDED).
RUNTIME_PROVIDED = {"boto3", "botocore"}

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wanted(requirements: Path) -> dict[str, str]:
    """What a requirements.txt asks for: name -> pinned version."""
    pins = {}
    for line in requirements.read_text().splitlines():
        match = PIN.match(line.split("#", 1)[0].strip())
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


@dataclass(frozen=True)
class Locked:
    version: str
    hashes: int
    via: tuple[str, ...]  # the packages (or `-r file`) that brought it in


def locked(lock: Path) -> dict[str, Locked]:
    """Every entry of a lock as `uv pip compile --generate-hashes` writes it."""
    entries: dict[str, Locked] = {}
    name, version, hashes, in_via = "", "", 0, False
    via: list[str] = []

    def close() -> None:
        if name:
            entries[normalise(name)] = Locked(version, hashes, tuple(via))

    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            close()
            name, version, hashes, via, in_via = match.group(1), match.group(2), 0, [], False
        elif "--hash=sha256:" in line:
            hashes += 1
        elif line.strip().startswith("# via"):
            rest = line.strip().removeprefix("# via").strip()
            via, in_via = ([rest] if rest else []), not rest
        elif in_via and line.strip().startswith("#   "):
            via.append(line.strip().removeprefix("#").strip())
        else:
            in_via = False
    close()
    return entries


@pytest.mark.parametrize("requirements", sorted(LOCKS), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_lock_pins_exactly_what_its_requirements_ask_for(requirements: Path) -> None:
    asked, lock = wanted(requirements), locked(LOCKS[requirements])
    assert asked, f"{requirements} pins nothing"
    assert {name: lock[name].version for name in asked if name in lock} == asked, "run `make lock`"
    source = f"-r {requirements.relative_to(ROOT)}"
    # Asked for here, and only these: any other entry came in as another entry's dependency.
    assert {name for name, entry in lock.items() if source in entry.via} == set(asked), "run `make lock`"
    for name, entry in lock.items():
        assert entry.hashes >= 1, f"{name} has no hash"
        assert entry.via and all(v == source or normalise(v) in lock for v in entry.via), (name, entry.via)


def test_the_lock_parser_reads_a_known_entry() -> None:
    lock = locked(ROOT / "services" / "inbound" / "requirements.lock")
    assert lock["pynamodb"].via == ("-r services/inbound/requirements.txt",)
    assert lock["six"].via == ("python-dateutil",) and lock["six"].hashes == 2


def project(lib: str) -> dict[str, list[str]]:
    """A package's declared dependencies: '' for the required ones, else by extra."""
    meta = tomllib.loads((LIBS[lib] / "pyproject.toml").read_text())["project"]
    return {"": meta.get("dependencies", []), **meta.get("optional-dependencies", {})}


def declared(lib: str) -> set[str]:
    return {normalise(m.group(1)) for reqs in project(lib).values() for r in reqs if (m := NAME.match(r))}


def imported(lib: str) -> set[str]:
    """Top-level names of every absolute import in the package, deferred ones included."""
    names = set()
    for path in (LIBS[lib] / lib).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name != lib and name != "__future__"}


def distributions(import_name: str) -> set[str]:
    """The installed distributions that provide an import name (phonenumbers: phonenumberslite)."""
    found = importlib.metadata.packages_distributions().get(import_name)
    assert found, f"no installed distribution provides {import_name!r}"
    return {normalise(name) for name in found}


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_every_third_party_import_is_declared(lib: str) -> None:
    names = declared(lib)
    undeclared = {name: distributions(name) for name in imported(lib) if not distributions(name) & names}
    assert undeclared == {}, f"libs/{lib}/pyproject.toml does not declare these imports' distributions"
    unused = names - {d for name in imported(lib) for d in distributions(name)}
    assert unused == set(), f"libs/{lib}/pyproject.toml declares what it never imports"


def test_the_import_walk_finds_deferred_and_renamed_imports() -> None:
    assert {"phonenumbers", "pynamodb", "botocore"} <= imported("carrier_core")
    assert distributions("phonenumbers") == {"phonenumberslite"} and distributions("PIL") == {"pillow"}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_asks_for_what_carrier_core_needs_at_run_time(service: str) -> None:
    """infra/package.py installs only the lock: carrier_core's dependencies must be in it."""
    needed = {normalise(m.group(1)) for r in project("carrier_core")[""] if (m := NAME.match(r))} - RUNTIME_PROVIDED
    assert needed and needed <= set(wanted(ROOT / "services" / service / "requirements.txt"))


def test_the_dev_lock_pins_pip_and_setuptools() -> None:
    """`make install` upgrades pip only through the hashed lock, and builds libs/ without
    isolation with the lock's setuptools: both must stay in it."""
    assert {"pip", "setuptools"} <= set(locked(ROOT / "requirements-dev.lock"))


def test_the_dev_lock_holds_every_dependency_of_the_editable_installs() -> None:
    """`make install` installs libs/ with --no-deps: the dev lock must already hold their dependencies."""
    lock = locked(ROOT / "requirements-dev.lock")
    local = {"carrier-core", "omni-twilio-cli"}
    assert (declared("carrier_core") | declared("omni_cli")) - local <= set(lock)

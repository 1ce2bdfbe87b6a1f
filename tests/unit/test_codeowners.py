"""Ownership: CODEOWNERS names an owner for every top-level path, and for each service, the
library, the Terraform and the local stack; each service has a README with a runbook."""

from __future__ import annotations

import fnmatch
import re
import subprocess

import pytest

from tests.suites import ROOT, SERVICES

CODEOWNERS = ROOT / ".github" / "CODEOWNERS"
OWNER = re.compile(r"^@[\w-]+/[\w-]+$")


def rules() -> list[tuple[str, list[str]]]:
    found = []
    for line in CODEOWNERS.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            found.append((pattern, owners))
    return found


def owners_of(path: str) -> list[str]:
    """The owners of a path: the last rule whose (anchored) pattern matches it or a parent."""
    owners: list[str] = []
    for pattern, who in rules():
        anchored = pattern.strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, anchored) for p in prefixes):
            owners = who
    return owners


def top_level_paths() -> set[str]:
    """The first component of every file git tracks or would track (ignored files left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return {path.split("/")[0] for path in listed.stdout.splitlines() if path}


def test_every_rule_names_owners() -> None:
    for pattern, owners in rules():
        assert owners and all(OWNER.match(o) for o in owners), pattern


@pytest.mark.parametrize("path", sorted(top_level_paths()))
def test_every_top_level_path_has_an_owner(path: str) -> None:
    assert owners_of(path), f"{path} has no owner in .github/CODEOWNERS"


def test_each_team_owns_its_part() -> None:
    for svc in SERVICES:
        assert owners_of(f"services/{svc}/app.py") == [f"@omni/{svc}-team"]
        assert f"@omni/{svc}-team" in owners_of(f"infra/roots/{svc}/main.tf")
    assert owners_of("libs/carrier_core/carrier_core/signature.py") == ["@omni/core-team"]
    assert owners_of("infra/modules/service/main.tf") == ["@omni/infra-team"]
    assert owners_of("devstack/stack.py") == ["@omni/devstack-team"]
    assert owners_of("tests/unit/test_status_app.py") == ["@omni/status-team"]


README_SECTIONS = ("## Owns", "## Routes", "## Settings", "## Alarms", "## Runbook")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_readme_with_a_runbook(service: str) -> None:
    text = (ROOT / "services" / service / "README.md").read_text()
    for heading in README_SECTIONS:
        assert heading in text, f"services/{service}/README.md has no {heading!r}"
    for route in re.findall(r'@app\.route\("([^"]+)", methods=\["(\w+)"', (ROOT / "services" / service / "app.py").read_text()):
        if not route[0].startswith("/_local"):
            assert f"{route[1]} {route[0]}" in text, f"services/{service}/README.md does not name {route[1]} {route[0]}"
    runbook = text.split("## Runbook", 1)[1]
    alarms = set(
        re.findall(r"^- `(omni-twilio-<stage>-[a-z0-9<>-]+)`", text.split("## Alarms", 1)[1].split("## Runbook", 1)[0], re.MULTILINE)
    )
    assert alarms, f"services/{service}/README.md names no alarm"
    for alarm in alarms:
        assert alarm in runbook, f"the runbook of {service} does not say what {alarm} means"


def test_the_alarms_named_are_the_alarm_modules() -> None:
    """Each alarm a README lists ends as one the alarms module names (infra/modules/alarms)."""
    terraform = (ROOT / "infra" / "modules" / "alarms" / "main.tf").read_text()
    suffixes = set(re.findall(r'alarm_name\s*=\s*"[^"]*\}(-[a-z0-9-]+)"', terraform))
    assert {"-errors", "-throttles", "-5xx-rate", "-invalid-signatures", "-failed-messages-backlog"} <= suffixes
    for service in SERVICES:
        text = (ROOT / "services" / service / "README.md").read_text()
        for alarm in re.findall(r"^- `(omni-twilio-<stage>-[a-z0-9-]+)`", text, re.MULTILINE):
            assert any(alarm.endswith(suffix) for suffix in suffixes), alarm

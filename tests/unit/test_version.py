"""What `GET /health` reports as the running code's version (carrier_core.version)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from carrier_core.version import ENV, UNKNOWN, running_version
from devstack.stack import working_tree_version
from tests.suites import ROOT, SERVICES


def test_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "chalicelib" / "VERSION").write_text("v1.2.0\n")
    assert running_version(tmp_path, {ENV: "v1.2.0 sha256:ab12"}) == "v1.2.0 sha256:ab12"
    assert running_version(tmp_path, {}) == "v1.2.0"
    assert running_version(tmp_path, {ENV: "  "}) == "v1.2.0"


def test_unknown_without_either(tmp_path: Path) -> None:
    assert running_version(tmp_path, {}) == UNKNOWN


def test_the_local_stack_reports_the_working_tree() -> None:
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert working_tree_version() == described


@pytest.mark.parametrize("service", SERVICES)
def test_health_answers_the_version(service: str) -> None:
    """Each app reads its version once, at import, and /health puts it in its body."""
    tree = ast.parse((ROOT / "services" / service / "app.py").read_text())
    assigned = [n for n in tree.body if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "VERSION" for t in n.targets)]
    assert assigned and "running_version" in ast.unparse(assigned[0].value)
    health = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "health")
    bodies = [n for n in ast.walk(health) if isinstance(n, ast.Dict)]
    assert any(
        isinstance(k, ast.Constant) and k.value == "version" and isinstance(v, ast.Name) and v.id == "VERSION"
        for d in bodies
        for k, v in zip(d.keys, d.values)
    )

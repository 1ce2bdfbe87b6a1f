"""Each team's suite (tests/suites.py): every test file is in one, and every entry exists."""

from __future__ import annotations

import subprocess
import sys

from tests.suites import ROOT, SERVICES, SUITES, covers, all_test_files


def test_every_test_file_is_in_a_suite() -> None:
    left_out = [f for f in all_test_files() if not any(covers(e, f) for suite in SUITES.values() for e in suite)]
    assert left_out == [], f"in no suite of tests/suites.py: {left_out}"


def test_every_entry_exists() -> None:
    missing = [e for suite in SUITES.values() for e in suite if not (ROOT / e).exists()]
    assert missing == []


def test_a_suite_per_service_and_core() -> None:
    assert set(SUITES) == {*SERVICES, "core"}


def test_a_suite_is_not_everything() -> None:
    everything = set(all_test_files())
    for name, suite in SUITES.items():
        chosen = {f for f in everything if any(covers(e, f) for e in suite)}
        assert chosen < everything, name


def test_the_command_prints_a_suite() -> None:
    out = subprocess.run([sys.executable, "-m", "tests.suites", "status"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == SUITES["status"]
    bad = subprocess.run([sys.executable, "-m", "tests.suites", "nope"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert bad.returncode == 2

"""The repository stands alone: no tracked file points at a path beside the clone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELATIVE = re.compile(r"(?<![\w.])((?:\.\./)+)([^\s/\"'`)]*)")
PARENTS = re.compile(r"\bparents\[(\d+)\]")
# The steering notes the design once lived in, and the folder beside the clone they sat in.
NAMED = re.compile(r"\b(?:DESIGN|STYLE)\.md\b|\bROOT\.parent\b")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    paths = [ROOT / name.decode() for name in listed if name]
    # This file quotes such paths on purpose, to show the check sees them.
    return [p for p in paths if p.is_file() and p.name != "package-lock.json" and p != Path(__file__).resolve()]


def known_names() -> set[str]:
    """Every folder and file name the repository tracks, at any depth."""
    return {part for path in tracked_text_files() for part in path.relative_to(ROOT).parts}


def leaves_the_repository(path: Path, line: str, names: frozenset[str] = frozenset()) -> bool:
    depth = len(path.relative_to(ROOT).parts) - 1  # folders between the root and the file
    # `../x` that climbs above the root from the file's folder, to a name the repository does
    # not have: a Makefile's `cd` or a module source in a test's assertion climbs from
    # another folder, to a name that is here.
    for ups, name in RELATIVE.findall(line):
        if len(ups) // 3 > depth and not name.startswith("$") and name not in names:
            return True
    # Path(__file__).parents[k] is the root for k == depth; anything above is outside.
    if "__file__" in line and any(int(k) > depth for k in PARENTS.findall(line)):
        return True
    return bool(NAMED.search(line))


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    offenders, names = [], frozenset(known_names())
    for path in tracked_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if leaves_the_repository(path, line, names):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert offenders == []


def test_the_check_sees_a_path_beside_the_clone() -> None:
    test = ROOT / "tests" / "unit" / "test_x.py"
    assert leaves_the_repository(test, 'SPEC = Path(__file__).resolve().parents[3] / "shared"')
    assert not leaves_the_repository(test, "ROOT = Path(__file__).resolve().parents[2]")
    # Spelt in two parts so that a search of the tree for the sibling folder finds no file.
    assert leaves_the_repository(ROOT / "README.md", "are in `../" + "shared/DESIGN.md`")
    assert leaves_the_repository(ROOT / "infra/roots/inbound/main.tf", 'source = "../../../../modules/service"')
    assert not leaves_the_repository(ROOT / "infra/roots/inbound/main.tf", 'source = "../../modules/service"')


def test_no_assert_on_a_service_path() -> None:
    # python -O strips asserts, and a failed one is a 500 with a traceback: what runs in a
    # Lambda checks and raises a taxonomy error, or is typed so it needs no check.
    import ast

    code = [*ROOT.glob("services/*/app.py"), *ROOT.glob("services/*/chalicelib/*.py"), *ROOT.glob("libs/carrier_core/carrier_core/**/*.py")]
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in code
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert len(code) > 40 and found == []

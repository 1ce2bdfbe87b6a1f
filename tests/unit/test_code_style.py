"""What ruff's configuration leaves to us: E501 is ignored (the formatter keeps code to the
line length but cannot split a long string), so no production line is over it here; and no
service path asserts (python -O would drop the check; a failure must be the taxonomy's)."""

from __future__ import annotations

import ast
import subprocess
import tomllib

from tests.support.apps import ROOT

LINE_LENGTH = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["line-length"]
PRODUCTION = ["services/*.py", "libs/*.py", "devstack/*.py", "bench/*.py", "infra/*.py"]


def production_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", *PRODUCTION], cwd=ROOT, capture_output=True, text=True, check=True)
    return listed.stdout.split()


def test_no_production_line_is_over_the_line_length() -> None:
    files = production_files()
    assert len(files) > 50  # the listing found the code
    over = [
        f"{name}:{number} ({len(line)})"
        for name in files
        for number, line in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > LINE_LENGTH
    ]
    assert over == [], f"lines over {LINE_LENGTH} characters: {over}"


def test_no_assert_on_a_service_or_library_path() -> None:
    asserting = [
        f"{name}:{node.lineno}"
        for name in production_files()
        if name.startswith(("services/", "libs/"))
        for node in ast.walk(ast.parse((ROOT / name).read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert asserting == []

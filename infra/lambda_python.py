"""Find a Python of Lambda's runtime version (3.12): the venv, the tests and the bench run on it,
and the deployment zips carry its bytecode (whose format changes with every minor version).

    python3 infra/lambda_python.py     prints its path, or says what to install and exits 2

Looked for, in order: $LAMBDA_PYTHON (which must be a 3.12), the interpreter running this,
`python3.12` on PATH, and the newest 3.12 that pyenv has installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Keep in step with `runtime` in infra/modules/service.
VERSION = "3.12"


class NotFound(Exception):
    """No Python of Lambda's version is installed here."""


def version_of(python: str) -> str | None:
    """`major.minor` of an interpreter, or None when it does not run."""
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def pyenv_pythons() -> list[str]:
    """pyenv's installed 3.12s, newest first (its `python3.12` shim runs only when selected)."""
    pyenv = shutil.which("pyenv")
    if not pyenv:
        return []
    root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
    if not root:
        return []
    installed = Path(root, "versions").glob(f"{VERSION}.*/bin/python{VERSION}")
    newest = sorted(installed, key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.parent.name)])
    return [str(p) for p in reversed(newest)]


def lambda_python() -> str:
    chosen = os.environ.get("LAMBDA_PYTHON")
    if chosen:
        if version_of(chosen) != VERSION:
            raise NotFound(f"LAMBDA_PYTHON={chosen} is not a Python {VERSION}")
        return chosen
    for python in [sys.executable, shutil.which(f"python{VERSION}"), *pyenv_pythons()]:
        if python and version_of(python) == VERSION:
            return python
    raise NotFound(
        f"no Python {VERSION} found (Lambda's runtime, which the venv, the tests and the deployment "
        f"zips' bytecode use): install it so that `python{VERSION}` runs, or set LAMBDA_PYTHON to its path"
    )


def main() -> int:
    try:
        print(lambda_python())
    except NotFound as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The running code's version, as `GET /health` reports it.

Where it comes from, first found wins:

1. `SERVICE_VERSION`: deployed, Terraform sets it (infra/modules/service) to the zip's
   `git describe` and the zip's SHA-256, `<describe> sha256:<hex>`. The hash cannot be inside
   the zip it hashes, so it travels beside it; the Lambda's description and tags say the same.
   Locally `make dev` sets it to the working tree's `git describe --always --dirty`.
2. `chalicelib/VERSION` in the zip: `git describe --always --dirty` when infra/package.py
   built it (a zip run without Terraform's environment still says what it is).
3. `unknown`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from carrier_core.settings import SERVICE_VERSION_ENV

ENV = SERVICE_VERSION_ENV
FILE = "VERSION"
UNKNOWN = "unknown"


def running_version(app_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """The version of the service whose app.py is in `app_dir`."""
    env = os.environ if environ is None else environ
    if value := env.get(ENV, "").strip():
        return value
    try:
        return (app_dir / "chalicelib" / FILE).read_text().strip() or UNKNOWN
    except OSError:
        return UNKNOWN


def describe_checkout(root: Path, timeout: float = 30) -> str:
    """`git describe --always --dirty` of the checkout at `root`, `unknown` outside one.

    What the zip builder writes into chalicelib/VERSION and what `make dev` reports as the
    working tree's version. Never called on a service's path: subprocess is imported here.
    """
    # git, with fixed arguments, from the zip builder and the local stack only
    import subprocess  # nosec B404

    try:
        described = subprocess.run(  # nosec B603 B607
            ["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True, text=True, timeout=timeout, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return described.stdout.strip() or UNKNOWN

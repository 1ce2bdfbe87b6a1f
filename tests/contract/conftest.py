"""Stoplight Prism on Twilio's OpenAPI spec, each mode started once per session.

- `prism_base_url`: a validating mock. Requests that do not match the spec get 422 (401
  without basic auth) with the violations listed; valid ones get the spec's example.
- `prism_sandbox_url`: a validating proxy in front of an in-process Twilio sandbox, so the
  sandbox's answers are checked against the spec too (`sl-violations` header, or 500 with
  `--errors` when a body breaks the schema).

Prism runs on the spec with form-body encodings spelled out (tests/support/prism.py says why).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from twilio.rest import Client

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import SandboxServer
from tests.support.prism import write_prism_spec
from tests.support.sandbox import ROOT, TWILIO_SPEC, running_sandbox, twilio_client

PRISM = ROOT / "node_modules" / ".bin" / "prism"
STARTUP_TIMEOUT = 90.0  # Prism parses the 1.8 MB spec in ~2.5 s here; CI machines are slower


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prism exited with {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            requests.get(url + "/", timeout=1)  # any answer (404: no such route) means it listens
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"prism did not listen on {url} within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def run_prism(
    work: Path, mode: str, *extra: str, port: int | None = None, specs: Sequence[Path] = (TWILIO_SPEC,), errors: bool = True
) -> Iterator[str]:
    """Run `prism <mode> [--errors] SPEC <extra...>` until the block ends; yields its base URL.

    SPEC is `specs` merged into one (tests/support/prism.py). With `errors` an answer that
    breaks the spec becomes a 500; without it, Prism only reports what it found, in each
    answer's `sl-violations` header, the request's violations too."""
    assert PRISM.exists(), f"{PRISM} is missing: `make test` installs it (npm ci)"
    for path in specs:
        assert path.exists(), f"{path} is missing: `make test` installs it (npm ci)"
    port = port or _free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / f"prism-{mode}.log"
    spec = write_prism_spec(specs, work / "twilio.json")
    command = [str(PRISM), mode, *(["--errors"] if errors else []), "-h", "127.0.0.1", "-p", str(port), str(spec), *extra]
    with log.open("wb") as out:
        # A session of its own: the teardown signals the whole group, node's children included.
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_listening(proc, url, log)
        yield url
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def prism_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prism mock validating requests against Twilio's api v2010 spec.

    Point a Twilio client's `api.base_url` here (see tests.support.sandbox.twilio_client).
    CONTRACT_PRISM_PORT fixes the port; by default a free one is picked, so parallel runs
    do not collide.
    """
    port = int(os.environ.get("CONTRACT_PRISM_PORT") or 0) or None
    with run_prism(tmp_path_factory.mktemp("prism-mock"), "mock", port=port) as url:
        yield url


@pytest.fixture(scope="session")
def contract_sandbox() -> Iterator[SandboxServer]:
    yield from running_sandbox()


@pytest.fixture(scope="session")
def prism_sandbox_url(tmp_path_factory: pytest.TempPathFactory, contract_sandbox: SandboxServer) -> Iterator[str]:
    """Base URL of a Prism proxy that validates requests and the sandbox's answers."""
    with run_prism(tmp_path_factory.mktemp("prism-proxy"), "proxy", contract_sandbox.url) as url:
        yield url


@pytest.fixture
def prism_client(prism_base_url: str) -> Client:
    """The Twilio SDK's client with its Messages API calls going through Prism's mock."""
    return twilio_client(prism_base_url, LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)

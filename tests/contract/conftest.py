"""Stoplight Prism as a validating mock of Twilio's OpenAPI spec, started once per session.

Prism runs on Twilio's spec with form-body encodings spelled out (tests/support/prism.py says
why). It answers 422 (401 without basic auth) with the violations listed when a request does
not match the spec, and the spec's example otherwise. `prism_base_url` is where a Twilio
client's `api.base_url` goes to have its requests checked.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from twilio.rest import Client

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from tests.support.prism import write_prism_spec
from tests.support.sandbox import ROOT, TWILIO_SPEC, twilio_client

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


@pytest.fixture(scope="session")
def prism_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prism mock validating requests against Twilio's api v2010 spec.

    CONTRACT_PRISM_PORT fixes the port; by default a free one is picked, so parallel runs
    do not collide.
    """
    assert PRISM.exists(), f"{PRISM} is missing: `make test` installs it (npm ci)"
    assert TWILIO_SPEC.exists(), f"{TWILIO_SPEC} is missing: shared/ must sit beside the repository"
    port = int(os.environ.get("CONTRACT_PRISM_PORT") or _free_port())
    url = f"http://127.0.0.1:{port}"
    work = tmp_path_factory.mktemp("prism")
    log = work / "prism.log"
    spec = write_prism_spec(TWILIO_SPEC, work / "twilio_api_v2010.json")
    command = [str(PRISM), "mock", "--errors", "-h", "127.0.0.1", "-p", str(port), str(spec)]
    with log.open("wb") as out:
        # A session of its own: the teardown signals the whole group, node's children included.
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_listening(proc, url, log)
        yield url
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for signum, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def prism_client(prism_base_url: str) -> Client:
    """The Twilio SDK's client with its Messages API calls going through Prism."""
    return twilio_client(prism_base_url, LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)

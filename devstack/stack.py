"""`make dev`: start the emulator, tables, services and sandbox; stop them all on exit.

Every child runs in a session of its own so that stopping the stack can signal the whole
process group, whatever the child started; nothing is left holding a port.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.error import URLError
from urllib.request import urlopen

from carrier_core.settings import LOCAL_API_KEY_SECRET, LOCAL_API_KEY_SID
from devstack.emulator import STATS_PATH
from devstack.tables import create_tables

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Part:
    name: str
    port: int
    command: tuple[str, ...]
    cwd: Path = ROOT
    health: str | None = "/health"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def chalice_part(name: str, port: int) -> Part:
    # --no-autoreload: the reloader forks a worker that outlives its parent and keeps the port.
    command = (str(BIN / "chalice"), "local", "--stage", "local", "--host", HOST, "--port", str(port), "--no-autoreload")
    return Part(name, port, command, cwd=ROOT / "services" / name)


@dataclass(frozen=True)
class Layout:
    """Where each part listens: five consecutive ports from `base` (8000 for `make dev`)."""

    base: int = 8000

    @property
    def emulator(self) -> Part:
        port = self.base
        return Part("emulator", port, (sys.executable, "-m", "devstack.emulator", "--port", str(port)), health=STATS_PATH)

    @property
    def services(self) -> tuple[Part, Part, Part]:
        return (
            chalice_part("inbound", self.base + 1),
            chalice_part("status", self.base + 2),
            chalice_part("outbound", self.base + 3),
        )

    @property
    def sandbox(self) -> Part:
        port = self.base + 4
        return Part("sandbox", port, (sys.executable, "-m", "devstack.sandbox", "--port", str(port)))

    @property
    def parts(self) -> tuple[Part, ...]:
        return (self.emulator, self.sandbox, *self.services)

    def url(self, name: str) -> str:
        return next(p.url for p in self.parts if p.name == name)

    def service_env(self) -> dict[str, str]:
        """The local stage's addresses. They live here, not in .chalice/config.json, so a
        second stack (the end-to-end tests) can run beside `make dev` on other ports."""
        return {
            "DYNAMODB_ENDPOINT": self.url("emulator"),
            "INBOUND_WEBHOOK_URL": self.url("inbound") + "/twilio/inbound",
            "STATUS_WEBHOOK_URL": self.url("status") + "/twilio/status",
            "TWILIO_API_BASE_URL": self.url("sandbox"),
        }


def child_env(layout: Layout) -> dict[str, str]:
    """The environment every part runs with: fake AWS credentials, never real ones."""
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
        **layout.service_env(),
    )
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    # REST calls use an API key, as Twilio advises and deployed stages can; the sandbox
    # accepts the same key. Your own pair in the environment wins, as for the auth token.
    if not env.get("TWILIO_API_KEY_SID"):
        env.update(TWILIO_API_KEY_SID=LOCAL_API_KEY_SID, TWILIO_API_KEY_SECRET=LOCAL_API_KEY_SECRET)
    return env


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0


def wait_healthy(part: Part, deadline: float) -> None:
    """Poll the part's health URL until it answers 200 or the deadline passes."""
    while time.monotonic() < deadline:
        try:
            with urlopen(part.url + (part.health or "/"), timeout=2) as response:
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{part.name} did not become healthy on {part.url}")


class Stack:
    """The running parts, stopped together."""

    def __init__(self, layout: Layout | None = None, output: IO[bytes] | None = None) -> None:
        self.layout = layout or Layout()
        self.output = output
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, part: Part) -> None:
        proc = subprocess.Popen(
            part.command,
            cwd=part.cwd,
            env=child_env(self.layout),
            stdout=self.output or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[part.name] = proc
        if self.output is None:
            threading.Thread(target=_relay, args=(part.name, proc), daemon=True).start()

    def start(self, timeout: float = 90) -> None:
        parts = self.layout.parts
        busy = [p for p in parts if port_in_use(p.port)]
        if busy:
            names = ", ".join(f"{p.name} ({p.port})" for p in busy)
            raise RuntimeError(f"ports already in use: {names}; is another stack running?")
        deadline = time.monotonic() + timeout
        emulator = self.layout.emulator
        self.spawn(emulator)
        wait_healthy(emulator, deadline)
        create_tables(emulator.url)
        for part in parts:
            if part.name != emulator.name:
                self.spawn(part)
        for part in parts:
            wait_healthy(part, deadline)

    def exited(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def stop(self) -> None:
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        end = time.monotonic() + 5
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def _relay(name: str, proc: subprocess.Popen[bytes]) -> None:
    """Copy a child's output to ours, each line prefixed with the part's name."""
    assert proc.stdout is not None
    for raw in proc.stdout:
        sys.stdout.write(f"[{name}] {raw.decode('utf-8', 'replace')}")
        sys.stdout.flush()


class Stopped(Exception):
    pass


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def banner(layout: Layout) -> str:
    rows = [
        ("AWS emulator (moto)", layout.url("emulator")),
        ("inbound", layout.url("inbound") + "  POST /twilio/inbound, GET /health"),
        ("status", layout.url("status") + "  POST /twilio/status, GET /health"),
        ("outbound", layout.url("outbound") + "  POST /messages, GET /messages/{sid}, GET /health"),
        ("Twilio sandbox", layout.url("sandbox") + "  /2010-04-01/Accounts/{AccountSid}/Messages.json"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"  {name.ljust(width)}  {where}" for name, where in rows]
    return "\nThe local stack is up:\n" + "\n".join(lines) + "\nCtrl-C stops everything.\n"


def main() -> int:
    layout = Layout(int(os.environ.get("DEVSTACK_PORT_BASE", "8000")))
    os.environ.update({k: v for k, v in child_env(layout).items() if k.startswith("AWS_")})
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)
    stack = Stack(layout)
    try:
        stack.start()
        print(banner(layout), flush=True)
        while not stack.exited():
            time.sleep(0.5)
        print(f"stopping: {', '.join(stack.exited())} exited", file=sys.stderr, flush=True)
        return 1
    except Stopped:
        return 0
    except RuntimeError as exc:
        print(f"make dev: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()

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
from urllib.error import URLError
from urllib.request import urlopen

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
    command = (str(BIN / "chalice"), "local", "--stage", "local", "--host", HOST, "--port", str(port), "--no-autoreload")
    return Part(name, port, command, cwd=ROOT / "services" / name)


EMULATOR = Part("emulator", 8000, (sys.executable, "-m", "devstack.emulator", "--port", "8000"), health="/_devstack/requests")
SERVICES = (chalice_part("inbound", 8001), chalice_part("status", 8002), chalice_part("outbound", 8003))
SANDBOX = Part("sandbox", 8004, (sys.executable, "-m", "devstack.sandbox", "--port", "8004"))
PARTS = (EMULATOR, SANDBOX, *SERVICES)


def child_env() -> dict[str, str]:
    """The environment every part runs with: fake AWS credentials, never real ones."""
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
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

    def __init__(self, parts: Sequence[Part] = PARTS) -> None:
        self.parts = parts
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, part: Part) -> None:
        proc = subprocess.Popen(
            part.command,
            cwd=part.cwd,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[part.name] = proc
        threading.Thread(target=_relay, args=(part.name, proc), daemon=True).start()

    def start(self, timeout: float = 60) -> None:
        busy = [p for p in self.parts if port_in_use(p.port)]
        if busy:
            names = ", ".join(f"{p.name} ({p.port})" for p in busy)
            raise RuntimeError(f"ports already in use: {names}; is another `make dev` running?")
        deadline = time.monotonic() + timeout
        self.spawn(EMULATOR)
        wait_healthy(EMULATOR, deadline)
        create_tables(EMULATOR.url)
        for part in self.parts:
            if part is not EMULATOR:
                self.spawn(part)
        for part in self.parts:
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


def banner() -> str:
    rows = [
        ("AWS emulator (moto)", EMULATOR.url),
        ("inbound", f"{SERVICES[0].url}  POST /twilio/inbound, GET /health"),
        ("status", f"{SERVICES[1].url}  POST /twilio/status, GET /health"),
        ("outbound", f"{SERVICES[2].url}  POST /messages, GET /messages/{{sid}}, GET /health"),
        ("Twilio sandbox", f"{SANDBOX.url}  /2010-04-01/Accounts/{{AccountSid}}/Messages.json"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"  {name.ljust(width)}  {where}" for name, where in rows]
    return "\nThe local stack is up:\n" + "\n".join(lines) + "\nCtrl-C stops everything.\n"


def main() -> int:
    os.environ.update({k: v for k, v in child_env().items() if k.startswith("AWS_")})
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)
    stack = Stack()
    try:
        stack.start()
        print(banner(), flush=True)
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

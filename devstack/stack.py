"""`make dev`: start DynamoDB Local, the tables, the services and the sandbox; keep them up.

Every child runs in a session of its own so that stopping the stack can signal the whole
process group, whatever the child started; nothing is left holding a port. A part that
exits on its own is started again after a back-off that doubles up to a bound, and the
stack stops only when told to (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.error import URLError
from urllib.request import urlopen

from carrier_core.version import describe_checkout
from devstack import aws
from devstack.dynamodb import HEALTH_PATH
from devstack.logview import render_line
from devstack.tables import create_tables
from devstack.watch import Watcher, watched_code
from devstack.wiring import URL_SETTINGS, Wiring, WiringError, wiring_for
from omni_cli import stackrecord

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DATA_DIR = ROOT / ".dev"
# A part that keeps dying is started again after 1, 2, 4, ... seconds, never more than this.
MAX_BACKOFF = 30.0
# A part that stayed up this long is healthy again: its next exit starts the back-off afresh.
STABLE_AFTER = 60.0


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


def service_part(name: str, port: int) -> Part:
    """One Chalice app, served as `chalice local --stage local` serves it (devstack/serve.py)."""
    command = (sys.executable, "-m", "devstack.serve", name, "--host", HOST, "--port", str(port))
    return Part(name, port, command, cwd=ROOT / "services" / name)


@dataclass(frozen=True)
class Layout:
    """Where each part listens: consecutive ports from `base` (8000 for `make dev`), and the
    directory the stack keeps its state in: DynamoDB Local's tables, moto's buckets and
    queues, and the stream poller's checkpoints. `dynamodb_in_memory` keeps the tables, the
    buckets and the queues in memory instead (the tests, the bench).
    """

    base: int = 8000
    data_dir: Path = ROOT / ".dev"
    dynamodb_in_memory: bool = False

    @property
    def dynamodb(self) -> Part:
        port = self.base
        command = [sys.executable, "-m", "devstack.dynamodb", "--port", str(port)]
        if not self.dynamodb_in_memory:
            command += ["--data-dir", str(self.data_dir / "dynamodb")]
        return Part("dynamodb", port, tuple(command), health=HEALTH_PATH)

    @property
    def services(self) -> tuple[Part, Part, Part]:
        return (
            service_part("inbound", self.base + 1),
            service_part("status", self.base + 2),
            service_part("outbound", self.base + 3),
        )

    @property
    def sandbox(self) -> Part:
        port = self.base + 4
        return Part("sandbox", port, (sys.executable, "-m", "devstack.sandbox", "--port", str(port)))

    @property
    def aws(self) -> Part:
        port = self.base + 5
        command = [sys.executable, "-m", "devstack.aws", "--port", str(port)]
        if not self.dynamodb_in_memory:
            command += ["--data-dir", str(self.aws_data_dir)]
        return Part("aws", port, tuple(command), health=aws.HEALTH_PATH)

    @property
    def aws_data_dir(self) -> Path:
        """Where moto server keeps its S3 objects and SQS messages (devstack/awsstate.py)."""
        return self.data_dir / "aws"

    @property
    def poller(self) -> Part:
        # Listens only for its health check; its work is polling DynamoDB Local's streams.
        port = self.base + 6
        return Part("poller", port, (sys.executable, "-m", "devstack.poller", "--port", str(port), "--data-dir", str(self.data_dir)))

    @property
    def inspector(self) -> Part:
        # The page of what the stack did (devstack/inspector); it reads the other parts.
        port = self.base + 7
        urls = {"dynamodb": self.base, "aws": self.base + 5, "sandbox": self.base + 4, "outbound": self.base + 3}
        command = [sys.executable, "-m", "devstack.inspector", "--port", str(port)]
        for name, other in urls.items():
            command += [f"--{name}", f"http://{HOST}:{other}"]
        if not self.dynamodb_in_memory:  # the events it read, kept as the queues are
            command += ["--data-dir", str(self.data_dir / "inspector")]
        return Part("inspector", port, tuple(command))

    @property
    def parts(self) -> tuple[Part, ...]:
        return (self.dynamodb, self.aws, self.sandbox, *self.services, self.poller, self.inspector)

    def url(self, name: str) -> str:
        return next(p.url for p in self.parts if p.name == name)

    def service_env(self) -> dict[str, str]:
        """The local stage's addresses. They live here, not in .chalice/config.json, so a
        second stack (the end-to-end tests) can run beside `make dev` on other ports."""
        return {
            "DYNAMODB_ENDPOINT": self.url("dynamodb"),
            "INBOUND_WEBHOOK_URL": self.url("inbound") + "/twilio/inbound",
            "STATUS_WEBHOOK_URL": self.url("status") + "/twilio/status",
            "TWILIO_API_BASE_URL": self.url("sandbox"),
            # Templates (the Content API): the sandbox serves them on its own origin too.
            "TWILIO_CONTENT_API_BASE_URL": self.url("sandbox"),
            # Where the poller hands the optouts stream to the outbound service's consumer.
            "DEVSTACK_OUTBOUND_URL": self.url("outbound"),
            # botocore's per-service endpoints: streams from DynamoDB Local, the rest
            # from the second moto server.
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": self.url("dynamodb"),
            "AWS_ENDPOINT_URL_EVENTBRIDGE": self.url("aws"),
            "AWS_ENDPOINT_URL_SQS": self.url("aws"),
            "AWS_ENDPOINT_URL_S3": self.url("aws"),
            # The tenants' secrets (carrier_core.tenants), SecureStrings at the moto server.
            "AWS_ENDPOINT_URL_SSM": self.url("aws"),
            # What /health reports: the working tree's version, as a deployed zip reports its own.
            "SERVICE_VERSION": working_tree_version(),
        }


def working_tree_version() -> str:
    """`git describe --always --dirty` of the checkout the stack runs from."""
    return describe_checkout(ROOT, timeout=10)


def default_wiring(layout: Layout) -> Wiring:
    """The wiring the environment asks for (PUBLIC_URL, TWILIO, explicit URLs) over the layout's
    local addresses; raises WiringError."""
    return wiring_for(os.environ, layout.service_env())


def child_env(layout: Layout, wiring: Wiring | None = None) -> dict[str, str]:
    """The environment every part runs with: fake AWS credentials, never real ones; the
    webhook URLs and the Twilio API as `wiring` says (devstack/wiring.py)."""
    wiring = wiring or default_wiring(layout)
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONUNBUFFERED="1",
        # The checkout first, then what the caller's PYTHONPATH names (a second work tree
        # sharing one venv points it at its own libs/).
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        **{name: url for name, url in layout.service_env().items() if name not in URL_SETTINGS},
    )
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    env.pop("TWILIO_API_BASE_URL", None)  # set by the wiring only: absent means real Twilio
    env.pop("TWILIO_CONTENT_API_BASE_URL", None)
    env.update(wiring.env(os.environ))
    return env


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0


def wait_healthy(part: Part, deadline: float) -> None:
    """Poll the part's health URL until it answers 200 or the deadline passes."""
    while time.monotonic() < deadline:
        try:
            # part.url is http://127.0.0.1:<port> from the Layout, never from input.
            with urlopen(part.url + (part.health or "/"), timeout=2) as response:  # nosec B310
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{part.name} did not become healthy on {part.url}")


class Stack:
    """The running parts: started in order, restarted when one exits, stopped together."""

    def __init__(
        self, layout: Layout | None = None, output: IO[bytes] | None = None, wiring: Wiring | None = None, watch: bool = False
    ) -> None:
        """`watch`: restart a service when its code changes (devstack/watch.py); `make dev` asks
        for it, the tests and the bench do not."""
        self.layout = layout or Layout()
        self.output = output
        self.wiring = wiring or default_wiring(self.layout)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, Restart] = {}
        self.resources: aws.EventResources | None = None
        self.watch = watch
        self.watcher: Watcher | None = None

    def say(self, text: str) -> None:
        """A line from the stack itself, beside the parts' output."""
        line = f"[stack] {text}\n"
        if self.output is not None:
            self.output.write(line.encode())
            self.output.flush()
        else:
            sys.stdout.write(line)
            sys.stdout.flush()

    def spawn(self, part: Part) -> None:
        proc = subprocess.Popen(
            part.command,
            cwd=part.cwd,
            env=child_env(self.layout, self.wiring),
            stdout=self.output or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[part.name] = proc
        if self.output is None:
            threading.Thread(target=_relay, args=(part.name, proc), daemon=True).start()

    def start(self, timeout: float = 120) -> None:
        parts = self.layout.parts
        busy = [p for p in parts if port_in_use(p.port)]
        if busy:
            names = ", ".join(f"{p.name} ({p.port})" for p in busy)
            raise RuntimeError(f"ports already in use: {names}; is another stack running?")
        deadline = time.monotonic() + timeout
        if self.watch:  # the code as it is before any part starts: an edit from now on counts
            self.watcher = Watcher(watched_code(ROOT, (p.name for p in self.layout.services), self.layout.poller.name), ROOT)
        dynamodb, events = self.layout.dynamodb, self.layout.aws
        self.spawn(dynamodb)
        self.spawn(events)
        wait_healthy(dynamodb, deadline)
        create_tables(dynamodb.url)
        wait_healthy(events, deadline)
        self.resources = aws.create_event_resources(events.url)
        self.layout.data_dir.mkdir(parents=True, exist_ok=True)
        for part in parts:
            if part.name not in (dynamodb.name, events.name):
                self.spawn(part)
        for part in parts:
            wait_healthy(part, deadline)
        now = time.monotonic()
        self.restarts = {part.name: Restart(started=now) for part in parts}
        # Last, once every part answers: the CLI follows the stack this record names.
        stackrecord.write(self.layout.data_dir, self.layout.base, {part.name: part.url for part in parts})

    def stop_part(self, name: str, kill: bool = False) -> None:
        """Stop one part; SIGKILL when `kill`, so it gets no chance to finish what it was doing."""
        proc = self.procs[name]
        _signal_group(proc, signal.SIGKILL if kill else signal.SIGTERM)
        proc.wait(timeout=10)

    def start_part(self, name: str, timeout: float = 30) -> None:
        """Start one part again (after stop_part) and wait until it is healthy."""
        part = next(p for p in self.layout.parts if p.name == name)
        self.spawn(part)
        wait_healthy(part, time.monotonic() + timeout)

    def exited(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def supervise(self) -> None:
        """Start again each part that exited, once its back-off has passed; call it often."""
        now = time.monotonic()
        for part in self.layout.parts:
            proc, restart = self.procs[part.name], self.restarts[part.name]
            if proc.poll() is None:
                continue
            if restart.due is None:
                delay = restart.schedule(now)
                self.say(f"{part.name} exited with status {proc.returncode}; starting it again in {delay:g}s")
            elif now >= restart.due:
                restart.started, restart.due = now, None
                _signal_group(proc, signal.SIGKILL)  # whatever the dead part left in its group
                self.spawn(part)
                if part.name in (self.layout.dynamodb.name, self.layout.aws.name):
                    threading.Thread(target=self._recreate_resources, args=(part,), daemon=True).start()
        if self.watcher is not None:
            self.restart_changed(self.watcher.poll())

    def restart_changed(self, due: dict[str, list[str]]) -> None:
        """Restart each part whose code changed (`due`: part -> the files), with a fresh
        back-off, and report when it answers again or why it does not."""
        for part in self.layout.parts:
            files = due.get(part.name)
            if not files:
                continue
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            self.say(f"{part.name}: {shown} changed; restarting it")
            proc = self.procs[part.name]
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            self.restarts[part.name] = Restart(started=time.monotonic())
            self.spawn(part)
            threading.Thread(target=self._report_restart, args=(part, self.procs[part.name]), daemon=True).start()

    def _report_restart(self, part: Part, proc: subprocess.Popen[bytes]) -> None:
        started = time.monotonic()
        try:
            wait_healthy(part, started + 60)
        except RuntimeError:
            if proc.poll() is None:
                self.say(f"{part.name} has not answered {part.health} in 60 s since its code changed")
            return  # one that exited is reported, and started again, by supervise()
        self.say(f"{part.name} restarted with the new code ({time.monotonic() - started:.1f}s)")

    def _recreate_resources(self, part: Part) -> None:
        """What a restarted part lost: moto keeps no bus or rule across a restart (nor, in
        memory, any bucket or queue), and DynamoDB Local in memory no table; both creations are
        no-ops for what still exists."""
        try:
            wait_healthy(part, time.monotonic() + 120)
            if part.name == self.layout.dynamodb.name:
                create_tables(part.url)
            else:
                self.resources = aws.create_event_resources(part.url)
        except Exception as exc:  # noqa: BLE001 - reported, and the next exit is supervised again
            self.say(f"{part.name} came back without its resources: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        stackrecord.remove(self.layout.data_dir)
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        end = time.monotonic() + 5
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


@dataclass
class Restart:
    """One part's restart state: when it last started and when it is due to start again."""

    started: float
    failures: int = 0
    due: float | None = field(default=None)

    def schedule(self, now: float) -> float:
        """Book the next start after an exit at `now`; returns the delay in seconds."""
        self.failures = 1 if now - self.started >= STABLE_AFTER else self.failures + 1
        delay = min(MAX_BACKOFF, 2.0 ** (self.failures - 1))
        self.due = now + delay
        return delay


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


def _relay(name: str, proc: subprocess.Popen[bytes]) -> None:
    """Copy a child's output to ours, each line prefixed with the part's name."""
    assert proc.stdout is not None
    for raw in proc.stdout:
        sys.stdout.write(render_line(name, raw.decode("utf-8", "replace")))
        sys.stdout.flush()


class Stopped(BaseException):
    """Ctrl-C or SIGTERM: a BaseException, so no `except Exception` on the way (the banner's
    tenant probe has one) can swallow it and leave the stack running."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def tenants_row() -> str:
    """The tenants registered, and whether each one's credentials reach the sandbox."""
    from omni_cli.context import Profile
    from omni_cli.tenants import probe

    try:
        results = probe(Profile())
    except Exception as exc:  # noqa: BLE001 - the banner reports, it never stops the stack
        return f"not read ({type(exc).__name__})"
    if not results:
        return "none: the default tenant only (omni-twilio tenants add TENANT --account-sid AC… --auth-token … --sender +1…)"
    return ", ".join(f"{tenant} ({'reaches the sandbox' if ok else why})" for tenant, ok, why in results)


def banner(layout: Layout, resources: aws.EventResources | None = None, wiring: Wiring | None = None, watching: bool = False) -> str:
    kept = "tables in memory" if layout.dynamodb_in_memory else f"tables kept in {layout.data_dir}"
    kept_aws = "in memory" if layout.dynamodb_in_memory else f"buckets and queues kept in {layout.aws_data_dir}"
    rows = [
        ("DynamoDB Local", layout.url("dynamodb") + f"  DynamoDB and its streams ({kept})"),
        ("EventBridge, SQS, S3 (moto)", layout.url("aws") + f"  ({kept_aws})"),
        ("inbound", layout.url("inbound") + "  POST /twilio/inbound, /twilio/{tenant}/inbound, GET /health"),
        ("status", layout.url("status") + "  POST /twilio/status, /twilio/{tenant}/status, GET /health"),
        ("outbound", layout.url("outbound") + "  POST /messages, GET /messages/{sid}, the same under /tenants/{tenant}, GET /health"),
        ("Twilio sandbox", layout.url("sandbox") + "  /2010-04-01/Accounts/{AccountSid}/Messages.json"),
        ("stream poller", f"checkpoints in {layout.data_dir / 'poller'}"),
        ("inspector", layout.url("inspector") + "  open it in a browser: messages, events, failed sends, the sandbox's logs"),
    ]
    if resources is not None:
        rows += [
            ("events queue", resources.events_queue_url + f"  (bus {aws.BUS}, source omni.twilio)"),
            ("events DLQ", resources.dlq_url + "  (make replay-dlq STAGE=local)"),
            ("tenants", tenants_row()),
        ]
    rows += (wiring or default_wiring(layout)).rows()
    if watching:
        rows.append(
            ("code", "an edit under services/<svc>/ or libs/carrier_core/ restarts the services it touches (DEVSTACK_WATCH=0: never)")
        )
    width = max(len(name) for name, _ in rows)
    lines = [f"  {name.ljust(width)}  {where}" for name, where in rows]
    return "\nThe local stack is up:\n" + "\n".join(lines) + "\nCtrl-C stops everything.\n"


def main() -> int:
    data_dir = Path(os.environ.get("DEVSTACK_DATA_DIR") or DATA_DIR)
    try:
        base = stackrecord.parse_port_base(os.environ.get("DEVSTACK_PORT_BASE", str(stackrecord.DEFAULT_PORT_BASE)))
    except stackrecord.BadPortBase as exc:
        print(f"make dev: {exc}", file=sys.stderr, flush=True)
        return 2
    layout = Layout(base, data_dir)
    try:
        wiring = default_wiring(layout)
    except WiringError as exc:
        print(f"make dev: {exc}", file=sys.stderr, flush=True)
        return 1
    os.environ.update({k: v for k, v in child_env(layout, wiring).items() if k.startswith("AWS_")})
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)
    stack = Stack(layout, wiring=wiring, watch=os.environ.get("DEVSTACK_WATCH", "1") != "0")
    try:
        stack.start()
        print(banner(layout, stack.resources, wiring, watching=stack.watcher is not None), flush=True)
        while True:
            time.sleep(0.5)
            stack.supervise()
    except Stopped:
        return 0
    except RuntimeError as exc:
        print(f"make dev: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()

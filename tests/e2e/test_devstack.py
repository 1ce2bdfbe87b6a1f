"""`make dev`'s process: it comes up, restarts what dies and what is edited, keeps its data,
leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import requests

from carrier_core.settings import LOCAL_AUTH_TOKEN
from devstack import aws
from devstack.awsstate import INTERVAL
from devstack.stack import Layout, port_in_use
from tests.support.forms import encode, sign, sms
from tests.support.stack import FORM_HEADERS, LOCAL_AWS, RunningStack, wait_for

ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class DevProcess:
    """`python -m devstack` on its own ports and data folder, as `make dev` runs it."""

    def __init__(self, base: int, data_dir: Path, log_path: Path) -> None:
        self.layout = Layout(base)
        self.log_path = log_path
        self.log = log_path.open("ab")
        env = {**os.environ, "DEVSTACK_PORT_BASE": str(base), "DEVSTACK_DATA_DIR": str(data_dir)}
        self.proc = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def healthy(self) -> bool:
        try:
            return all(
                requests.get(self.layout.url(n) + "/health", timeout=2).status_code == 200
                for n in ("inbound", "status", "outbound", "sandbox")
            )
        except requests.RequestException:
            return False

    def wait_healthy(self) -> None:
        assert wait_for(self.healthy, timeout=120, interval=0.5), self.log_path.read_text()

    def stop(self, signum: int) -> None:
        """Signal it; it exits 0 and leaves no process and no port behind."""
        children = descendants(self.proc.pid)
        assert len(children) >= 5
        self.proc.send_signal(signum)
        assert self.proc.wait(timeout=20) == 0
        time.sleep(0.2)
        assert [pid for pid in children if alive(pid)] == []
        assert [p.port for p in self.layout.parts if port_in_use(p.port)] == []

    def close(self) -> None:
        """After a failed test too: SIGTERM first, so the stack stops its parts (a SIGKILL
        would leave them running, each in a session of its own)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def aws_client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.layout.url("aws"), **LOCAL_AWS)

    def events_of(self, sid: str) -> list[str]:
        """The detail-types of the unread events on the engine's queue that name `sid`; read
        with a visibility timeout of 0, so they stay unread."""
        sqs = self.aws_client("sqs")
        url = sqs.get_queue_url(QueueName=aws.EVENTS_QUEUE)["QueueUrl"]
        found: list[str] = []
        for _ in range(20):
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
            found += [e["detail-type"] for e in map(json.loads, (m["Body"] for m in batch)) if e["detail"].get("sid") == sid]
            if found:
                break
        return found


def part_pid(dev: DevProcess, command_piece: str) -> int:
    """The pid of the child whose command line holds `command_piece`."""
    for pid in descendants(dev.proc.pid):
        try:
            if command_piece in (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                return pid
        except OSError:
            continue
    raise AssertionError(f"no child runs {command_piece!r}")


def store_inbound(layout: Layout, body: str) -> str:
    pairs = sms(body=body)
    url = layout.url("inbound") + "/twilio/inbound"
    response = requests.post(
        url,
        data=encode(pairs).encode(),
        timeout=30,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(url, pairs, LOCAL_AUTH_TOKEN)},
    )
    assert response.status_code == 200, response.text
    return dict(pairs)["MessageSid"]


def test_parts_come_back_after_dying_and_data_survives_restarts(tmp_path: Path) -> None:
    """A dead part is restarted; Ctrl-C and SIGTERM stop everything; the tables outlive both."""
    base = int(os.environ.get("E2E_PORT_BASE", "18000")) + 100
    data_dir, log_path = tmp_path / "data", tmp_path / "dev.log"
    first = DevProcess(base, data_dir, log_path)
    try:
        first.wait_healthy()
        sid = store_inbound(first.layout, "kept across restarts")
        # A media copy in the bucket and the message's event unread on the engine's queue:
        # moto's, which keeps them under the data folder too.
        first.aws_client("s3").put_object(Bucket=aws.MEDIA_BUCKET, Key=f"{sid}/0", Body=b"a photo", ContentType="image/jpeg")
        assert wait_for(lambda: first.events_of(sid) == ["message.received"], timeout=30)
        time.sleep(INTERVAL * 3)  # moto's state is written within a second of a change
        # DynamoDB Local, moto and the sandbox die unexpectedly: the stack starts them again.
        for piece in ("devstack.dynamodb", "devstack.aws", "devstack.sandbox"):
            os.kill(part_pid(first, piece), signal.SIGKILL)
        first.wait_healthy()
        assert wait_for(lambda: requests.get(first.layout.url("outbound") + f"/messages/{sid}", timeout=5).status_code == 200, timeout=30)
        assert all(f"{name} exited" in log_path.read_text() for name in ("dynamodb", "aws", "sandbox"))
        assert first.aws_client("s3").get_object(Bucket=aws.MEDIA_BUCKET, Key=f"{sid}/0")["Body"].read() == b"a photo"
        first.stop(signal.SIGINT)
    finally:
        first.close()
    second = DevProcess(base, data_dir, log_path)
    try:
        second.wait_healthy()
        message = requests.get(second.layout.url("outbound") + f"/messages/{sid}", timeout=5)
        assert message.status_code == 200 and message.json()["body"] == "kept across restarts"
        media = second.aws_client("s3").get_object(Bucket=aws.MEDIA_BUCKET, Key=f"{sid}/0")
        assert (media["Body"].read(), media["ContentType"]) == (b"a photo", "image/jpeg")
        assert second.events_of(sid) == ["message.received"]  # still unread, and published once
        second.stop(signal.SIGTERM)
    finally:
        second.close()


def test_an_edit_restarts_only_the_service_it_touches(tmp_path: Path) -> None:
    """A new, then removed, file under services/status/ restarts the status service (and no
    other part), which answers again; the stack keeps running."""
    base = int(os.environ.get("E2E_PORT_BASE", "18000")) + 300
    dev = DevProcess(base, tmp_path / "data", tmp_path / "dev.log")
    probe = ROOT / "services" / "status" / "chalicelib" / f"_edit_{uuid.uuid4().hex[:8]}.py"
    try:
        dev.wait_healthy()
        pids = {piece: part_pid(dev, piece) for piece in ("devstack.serve status", "devstack.serve inbound", "devstack.poller")}
        probe.write_text("EDITED = True\n")
        restarted = f"[stack] status: {probe.relative_to(ROOT)} changed; restarting it"
        assert wait_for(lambda: restarted in dev.log_path.read_text(), timeout=15), dev.log_path.read_text()
        assert wait_for(lambda: "status restarted with the new code" in dev.log_path.read_text(), timeout=60)
        assert dev.healthy()
        assert part_pid(dev, "devstack.serve status") != pids["devstack.serve status"]
        assert [part_pid(dev, p) for p in ("devstack.serve inbound", "devstack.poller")] == [
            pids["devstack.serve inbound"],
            pids["devstack.poller"],
        ]
        probe.unlink()
        assert wait_for(lambda: dev.log_path.read_text().count(restarted) == 2, timeout=15)
        dev.stop(signal.SIGTERM)
    finally:
        probe.unlink(missing_ok=True)
        dev.close()


def test_bursts_of_new_connections_are_all_answered(stack: RunningStack) -> None:
    """32 callers that each open a new connection per request: no reset, no refusal.

    `chalice local` listens with a backlog of 5, which dropped such bursts; devstack/serve.py
    serves the same app with room for them.
    """
    url = stack.webhook_url("inbound")

    def burst(_: int) -> list[int | str]:
        codes: list[int | str] = []
        for _ in range(20):
            try:  # requests.post opens and closes a connection of its own each time
                codes.append(requests.post(url, data=b"Body=unsigned", headers=FORM_HEADERS, timeout=30).status_code)
            except requests.ConnectionError as exc:
                codes.append(type(exc).__name__)
        return codes

    with ThreadPoolExecutor(32) as pool:
        codes = [code for codes in pool.map(burst, range(32)) for code in codes]
    assert Counter(codes) == {403: 640}


def test_dynamodb_stops_on_sigterm_while_a_client_holds_a_connection() -> None:
    """DynamoDB Local's proxy exits on SIGTERM even while a client keeps its keep-alive
    connection open, as a running service's connection pool does. (On Python 3.12 a server's
    close waits for every open connection, so the proxy has to close them itself.)"""
    port = int(os.environ.get("E2E_PORT_BASE", "18000")) + 150
    argv = [sys.executable, "-m", "devstack.dynamodb", "--port", str(port), "--upstream-port", str(port + 9)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        client = requests.Session()  # keeps its connection to the proxy open between requests

        def healthy() -> bool:
            try:
                return client.get(f"http://127.0.0.1:{port}/_devstack/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        assert wait_for(healthy, timeout=60, interval=0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

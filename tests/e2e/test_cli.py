"""The `omni-twilio` command against the real local stack: each command's output and exit code.

Every run is the installed console script in a subprocess, pointed at the stack by
DEVSTACK_PORT_BASE, as an operator runs it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

from carrier_core.settings import LOCAL_API_KEY_SECRET, LOCAL_AUTH_TOKEN
from devstack import aws
from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).parent / "omni-twilio"
CUSTOMER = "+15005550010"
SID = re.compile(r"\b(?:SM|MM)[0-9a-f]{32}\b")


def run(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base), "COLUMNS": "200"}
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=90, check=False)


def ok(stack: RunningStack, *args: str) -> str:
    result = run(stack, *args)
    assert result.returncode == 0, result.stderr
    assert LOCAL_AUTH_TOKEN not in result.stdout + result.stderr
    assert LOCAL_API_KEY_SECRET not in result.stdout + result.stderr
    return result.stdout


def failure(stack: RunningStack, *args: str) -> str:
    """The one line a failing command prints; asserts it failed without a traceback."""
    result = run(stack, *args)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_simulate_inbound_then_show_it(stack: RunningStack) -> None:
    out = ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "hello from the cli")
    assert out.startswith("200 inbound ")
    sid = SID.findall(out)[0]
    assert CUSTOMER not in out and "***0010" in out
    shown = ok(stack, "show", sid)
    assert "received" in shown and "hello from the cli" in shown and "inbound" in shown
    assert CUSTOMER not in shown and "***0010" in shown
    message = json.loads(ok(stack, "--show-numbers", "show", sid, "--json"))
    assert message["sid"] == sid and message["from"] == CUSTOMER and message["body"] == "hello from the cli"
    stored = stack.table().get_item(Key={"sid": sid}, ConsistentRead=True)["Item"]
    assert stored["from"] == CUSTOMER


def test_simulate_many_inbound_reports_codes_and_latency(stack: RunningStack) -> None:
    out = ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "burst", "--count", "6", "--concurrency", "3")
    assert "posted 6" in out and "200: 6" in out
    assert re.search(r"p50 \d+ ms, p95 \d+ ms", out)


def test_send_wait_follows_the_message_to_delivered(stack: RunningStack) -> None:
    out = ok(stack, "send", "--to", CUSTOMER, "--body", "sent by the cli", "--wait")
    lines = out.strip().splitlines()
    sid = SID.findall(lines[0])[0]
    # Every status once, in order, however the callbacks fall between the CLI's polls.
    assert lines == [f"{sid} queued to ***0010", f"{sid} sent", f"{sid} delivered"]
    assert CUSTOMER not in out
    assert stack.get_message(sid).json()["status"] == "delivered"


def test_send_wait_to_a_failing_number_exits_non_zero(stack: RunningStack) -> None:
    line = failure(stack, "send", "--to", "+15005550012", "--body", "to fail", "--wait")
    assert re.fullmatch(r"Error: message SM[0-9a-f]{32} ended failed \(error 30008\)", line)


def test_simulate_status_is_recorded(stack: RunningStack) -> None:
    sid = SID.findall(ok(stack, "send", "--to", CUSTOMER, "--body", "for a status", "--wait"))[0]
    out = ok(stack, "simulate", "status", sid, "read")
    assert out.strip() == f"204 status read for {sid}"
    message = stack.get_message(sid).json()
    assert message["status"] == "read"
    assert message["history"][-1]["status"] == "read"
    unknown = "SM" + uuid.uuid4().hex
    assert ok(stack, "simulate", "status", unknown, "failed", "--error-code", "30008").strip() == f"204 status failed for {unknown}"
    kept = json.loads(ok(stack, "show", unknown, "--json"))
    assert (kept["status"], kept["error_code"], kept["history"][0]["error_code"]) == ("failed", 30008, 30008)


def test_failures_are_one_line(stack: RunningStack) -> None:
    assert failure(stack, "show", "SM" + "0" * 32) == f"Error: message SM{'0' * 32} not found"
    assert "neither an http(s) URL nor a file" in failure(stack, "simulate", "inbound", "--from", CUSTOMER, "--media", "no/such/file")
    # A deployed stage without the flag: its Terraform output, here not initialised.
    line = failure(stack, "--stage", "dev", "show", "SM" + "0" * 32)
    assert "pass --outbound-url" in line and "terraform init` in infra/roots/outbound for dev" in line
    result = subprocess.run(
        [str(CLI), "show", "SM" + "0" * 32],
        env={**os.environ, "DEVSTACK_PORT_BASE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and result.stderr.startswith("Error: cannot reach the local stack's outbound API at http://127.0.0.1:4:")


def test_failed_list_retry_and_purge(stack: RunningStack) -> None:
    line = failure(stack, "send", "--to", "+15005550002", "--body", "unreachable")
    assert line.startswith("Error: POST /messages: 400 recipient_unreachable")
    # Twilio's message quotes the number: masked there too.
    assert "***0002" in line and "+15005550002" not in line
    rows = json.loads(ok(stack, "failed", "list", "--json"))
    rejected = [r for r in rows if r["to"] == "***0002" and r["state"] == "rejected"]
    assert rejected and rejected[0]["twilio_code"] == 21612 and rejected[0]["category"] == "recipient_unreachable"
    assert rejected[0]["id"] in ok(stack, "failed", "list")

    fault = stack.http.post(stack.url("sandbox", "/_sandbox/faults"), json={"status": 503, "count": -1}, timeout=10)
    assert fault.status_code == 200
    try:
        retrying = json.loads(ok(stack, "send", "--to", CUSTOMER, "--body", "retry me", "--json"))
    finally:
        stack.http.delete(stack.url("sandbox", "/_sandbox/faults"), timeout=10)
    assert retrying["status"] == "retrying"
    item_id = retrying["sid"]
    assert f"{item_id} sent" in ok(stack, "failed", "retry", item_id)
    assert "is not waiting for a retry (state sent)" in failure(stack, "failed", "retry", item_id)
    assert failure(stack, "failed", "retry") == "Error: give one ID or --all"

    stack.http.post(stack.url("sandbox", "/_sandbox/faults"), json={"status": 503, "count": -1}, timeout=10)
    try:
        second = json.loads(ok(stack, "send", "--to", CUSTOMER, "--body", "retry us all", "--json"))["sid"]
    finally:
        stack.http.delete(stack.url("sandbox", "/_sandbox/faults"), timeout=10)
    assert f"{second} sent" in ok(stack, "failed", "retry", "--all")

    old = {
        "id": "RQ" + "0" * 32,
        "request": {"to": CUSTOMER},
        "category": "carrier_unreachable",
        "attempts": 1,
        "state": "dead",
        "created_at": "2020-01-01T00:00:00.000Z",
        "updated_at": "2020-01-01T00:00:00.000Z",
    }
    stack.table("failed-messages").put_item(Item=old)
    still: dict[str, Any] = {**old, "id": "RQ" + "1" * 32, "state": "retrying"}
    stack.table("failed-messages").put_item(Item=still)

    def ids() -> set[str]:
        return {r["id"] for r in json.loads(ok(stack, "failed", "list", "--json"))}

    # A dry run names what would go and deletes nothing; the retrying one is not among them.
    dry = ok(stack, "failed", "purge", "--older-than", "30d", "--dry-run")
    assert f"{old['id']} dead" in dry and still["id"] not in dry
    assert "would purge 1 failed sends" in dry and "1 still retrying kept" in dry
    assert {old["id"], still["id"]} <= ids()
    # Without --yes it asks; no answer (stdin closed) deletes nothing.
    asked = subprocess.run(
        [str(CLI), "failed", "purge", "--older-than", "30d"],
        env={**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert asked.returncode == 1 and "Delete 1 failed sends created before" in asked.stderr
    assert asked.stderr.strip().splitlines()[-1] == "Error: not confirmed: nothing purged (--yes deletes without asking)"
    assert {old["id"], still["id"]} <= ids()
    assert "purged 1 failed sends" in ok(stack, "failed", "purge", "--older-than", "30d", "--yes")
    assert old["id"] not in ids() and {still["id"], item_id} <= ids()
    assert "purged 1 failed sends" in ok(stack, "failed", "purge", "--older-than", "30d", "--yes", "--include-retrying")
    assert still["id"] not in ids() and item_id in ids()
    assert "give a number and a unit" in failure(stack, "failed", "purge", "--older-than", "soon")


def test_optouts_add_list_remove(stack: RunningStack) -> None:
    number = "+15005550021"
    assert ok(stack, "optouts", "add", number).strip() == "***0021 opted out of ***0006"
    rows = json.loads(ok(stack, "--show-numbers", "optouts", "list", "--json"))
    assert {"phone": number, "sender": "+15005550006", "opted_out": True, "source": "operator"}.items() <= next(
        r for r in rows if r["phone"] == number
    ).items()
    listed = ok(stack, "optouts", "list")
    assert "***0021" in listed and number not in listed
    masked = next(r for r in json.loads(ok(stack, "optouts", "list", "--json")) if r["phone"] == "***0021")
    assert masked["sender"] == "***0006"
    assert "opted" in failure(stack, "send", "--to", number, "--body", "refused").lower()
    assert ok(stack, "optouts", "remove", number, "--sender", "+15005550006").strip() == "***0021 may again be messaged by ***0006"
    assert "queued" in ok(stack, "send", "--to", number, "--body", "allowed again")
    assert "E.164" in failure(stack, "optouts", "add", "12345")


def test_events_tail_shows_the_received_event(stack: RunningStack) -> None:
    sid = SID.findall(ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "an event"))[0]
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not any(e["detail-type"] == "message.received" and e["detail"].get("sid") == sid for e in seen):
        assert time.monotonic() < deadline, "no message.received event for the simulated inbound"
        seen += [json.loads(line) for line in ok(stack, "events", "tail", "--json").splitlines()]
        time.sleep(0.3)
    event = next(e for e in seen if e["detail"].get("sid") == sid)
    assert event["detail"]["from"] == "***0010"
    # The tail read the CLI's own queue: the workflow engine's still holds the event.
    assert sid in engine_queue_sids(stack)
    # The plain form: detail-type, sid and event_id on one line.
    sid = SID.findall(ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "another"))[0]
    pattern = re.compile(rf"message\.received {sid} received event_id=[0-9a-f-]{{36}}")
    lines: list[str] = []
    while not any(pattern.search(line) for line in lines):
        assert time.monotonic() < deadline + 20, "no message.received line for the second inbound"
        lines += ok(stack, "events", "tail").splitlines()
        time.sleep(0.3)


def engine_queue_sids(stack: RunningStack) -> set[str]:
    """The message SIDs of the events waiting on the workflow engine's queue; read without
    taking them (each read message is made visible again at once)."""
    sqs = stack.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=aws.EVENTS_QUEUE)["QueueUrl"]
    sids: set[str] = set()
    handles: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", []):
        sids |= {json.loads(m["Body"])["detail"].get("sid") for m in batch}
        handles += [m["ReceiptHandle"] for m in batch]
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return sids


def test_mistakes_are_refused_before_anything_is_sent(stack: RunningStack) -> None:
    sid = SID.findall(ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "a status target"))[0]
    line = failure(stack, "simulate", "status", sid, "deliverd")
    assert line.startswith("Error: unknown message status 'deliverd'; accepted: ") and "delivered, read" in line
    assert [h["status"] for h in stack.get_message(sid).json()["history"]] == ["received"]
    # --raw sends it as it is: the status service keeps what it does not know.
    assert ok(stack, "simulate", "status", sid, "deliverd", "--raw").startswith("204 status deliverd")
    assert failure(stack, "simulate", "inbound", "--from", "15005550010") == "Error: --from must start with + and the country code (E.164)"
    assert failure(stack, "simulate", "inbound", "--from", CUSTOMER, "--to", "5550006") == (
        "Error: --to must start with + and the country code (E.164)"
    )


def test_the_cli_follows_the_stack_it_was_started_for(stack: RunningStack, tmp_path: Path) -> None:
    record = json.loads((stack.layout.data_dir / "stack.json").read_text())
    assert record["port_base"] == stack.layout.base and record["endpoints"]["outbound"] == stack.url("outbound")
    sid = SID.findall(ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "found by its record"))[0]
    # A checkout whose .dev is this stack's data directory; the command runs from below it,
    # with nothing exported.
    repo = tmp_path / "repo"
    (repo / "services").mkdir(parents=True)
    (repo / ".dev").symlink_to(stack.layout.data_dir)
    bare = {k: v for k, v in os.environ.items() if k not in ("DEVSTACK_PORT_BASE", "DEVSTACK_DATA_DIR")}

    def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args], cwd=repo / "services", env={**bare, **env}, capture_output=True, text=True, timeout=60, check=False
        )

    assert "found by its record" in cli("show", sid).stdout
    # The environment beats the record; an explicit option beats both.
    nothing = str(stack.layout.base + 50)
    assert cli("show", sid, DEVSTACK_PORT_BASE=nothing).stderr.startswith(
        f"Error: cannot reach the local stack's outbound API at http://127.0.0.1:{int(nothing) + 3}:"
    )
    assert "found by its record" in cli("--port-base", str(stack.layout.base), "show", sid, DEVSTACK_PORT_BASE=nothing).stdout
    assert "found by its record" in cli("--stack", str(stack.layout.data_dir), "show", sid, DEVSTACK_PORT_BASE=nothing).stdout
    assert cli("show", sid, DEVSTACK_PORT_BASE="26000x").stderr.strip() == (
        "Error: DEVSTACK_PORT_BASE must be a port number from 1 to 65529 (the first of 7 consecutive ports), not '26000x'"
    )


DYNAMODB = "DynamoDB (DynamoDB Local)"
MOTO = "EventBridge/SQS/S3 server (moto)"
# Every command, as an operator would run it; the part it reaches first, and its port's offset.
DOWN_COMMANDS = [
    (["show", "SM" + "0" * 32], "outbound API", 3),
    (["show", "SM" + "0" * 32, "--tenant", "acme"], "outbound API", 3),
    (["show", "SM0a1b"], DYNAMODB, 0),
    (["messages", "show", "SM" + "0" * 32], "outbound API", 3),
    (["messages", "list"], DYNAMODB, 0),
    (["messages", "list", "--number", CUSTOMER, "--since", "1h", "--json"], DYNAMODB, 0),
    (["send", "--to", CUSTOMER, "--body", "x"], "outbound API", 3),
    (["send", "--to", CUSTOMER, "--body", "x", "--tenant", "acme"], "outbound API", 3),
    (["cancel", "SM" + "0" * 32], "outbound API", 3),
    (["cancel", "SM0a1b"], DYNAMODB, 0),
    (["messages", "cancel", "SM" + "0" * 32, "--tenant", "acme"], "outbound API", 3),
    (["erase", CUSTOMER, "--requested-by", "privacy-desk"], "outbound API", 3),
    (["simulate", "inbound", "--from", CUSTOMER], "inbound service", 1),
    (["simulate", "inbound", "--from", CUSTOMER, "--count", "3"], "inbound service", 1),
    (["simulate", "inbound", "--from", CUSTOMER, "--media", str(Path(__file__))], "Twilio sandbox", 4),
    (["simulate", "status", "SM" + "0" * 32, "sent"], "status service", 2),
    (["simulate", "status", "SM0a1b", "sent"], DYNAMODB, 0),
    (["failed", "list"], DYNAMODB, 0),
    (["failed", "retry", "--all"], DYNAMODB, 0),
    (["failed", "retry", "RQ" + "0" * 32], DYNAMODB, 0),
    (["failed", "retry", "RQ0a1b"], DYNAMODB, 0),
    (["failed", "purge", "--older-than", "1d", "--yes"], DYNAMODB, 0),
    (["optouts", "list", "--json"], DYNAMODB, 0),
    (["optouts", "add", CUSTOMER], DYNAMODB, 0),
    (["optouts", "remove", CUSTOMER], DYNAMODB, 0),
    (["tenants", "list"], DYNAMODB, 0),
    (["tenants", "show", "acme"], DYNAMODB, 0),
    (["tenants", "add", "acme", "--account-sid", "AC" + "1" * 32, "--auth-token", "t", "--sender", "+15005550006"], DYNAMODB, 0),
    (["tenants", "rotate", "acme", "--auth-token", "t2"], DYNAMODB, 0),
    (["tenants", "remove", "acme"], DYNAMODB, 0),
    (["events", "tail"], MOTO, 5),
    (["events", "replay-dlq"], MOTO, 5),
    (["numbers", "list"], "Twilio sandbox", 4),
    (["numbers", "list", "--tenant", "acme"], DYNAMODB, 0),
    (["numbers", "configure", "+15005550006"], "Twilio sandbox", 4),
    (["templates", "list"], "Twilio sandbox", 4),
    (["templates", "show", "HX" + "0" * 32, "--json"], "Twilio sandbox", 4),
    (["templates", "list", "--tenant", "acme"], DYNAMODB, 0),
    (["reconcile"], "outbound API", 3),
    (["reconcile", "--tenant", "acme"], "outbound API", 3),
]


@pytest.fixture(scope="module")
def dead_base() -> int:
    """A port base with nothing listening on any of the stack's ports."""
    start = int(os.environ.get("E2E_PORT_BASE", "18000")) + 40
    for base in range(start, start + 200, 10):
        if all(socket.socket().connect_ex(("127.0.0.1", base + offset)) != 0 for offset in range(7)):
            return base
    raise RuntimeError("no free port base")


@pytest.mark.parametrize("command,part,offset", DOWN_COMMANDS, ids=lambda c: " ".join(c) if isinstance(c, list) else str(c))
def test_a_stack_that_is_down_is_named_in_one_line(dead_base: int, command: list[str], part: str, offset: int) -> None:
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(dead_base)}
    result = subprocess.run([str(CLI), *command], env=env, capture_output=True, text=True, timeout=60, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert (
        lines[0]
        == f"Error: cannot reach the local stack's {part} at http://127.0.0.1:{dead_base + offset}: is the stack running (make dev)?"
    )


def test_doctor_names_each_part_that_is_down(dead_base: int) -> None:
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(dead_base)}
    result = subprocess.run([str(CLI), "doctor"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and result.stderr.strip() == "Error: 6 of 7 checks failed"
    failed = [line for line in result.stdout.strip().splitlines() if line.startswith("✗ ")]
    parts = [(DYNAMODB, 0), (MOTO, 5), ("inbound service", 1), ("status service", 2), ("outbound API", 3), ("Twilio sandbox", 4)]
    assert [line.split(": ", 1)[1] for line in failed] == [
        f"cannot reach the local stack's {part} at http://127.0.0.1:{dead_base + offset}: is the stack running (make dev)?"
        for part, offset in parts
    ], result.stdout


@pytest.fixture
def silent_base() -> Iterator[int]:
    """A port base whose six stack ports accept connections (the kernel's backlog completes
    the handshake) and never answer: a stack that hangs."""
    for base in range(26000, 27000, 10):
        sockets: list[socket.socket] = []
        try:
            for offset in range(6):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
                sock.listen(64)
        except OSError:
            for sock in sockets:
                sock.close()
            continue
        try:
            yield base
        finally:
            for sock in sockets:
                sock.close()
        return
    raise RuntimeError("no six free ports from 26000")


@pytest.mark.parametrize("command", [["events", "tail"], ["events", "tail", "--follow"], ["doctor"]])
def test_a_stack_that_never_answers_fails_in_seconds(silent_base: int, command: list[str]) -> None:
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(silent_base)}
    started = time.monotonic()
    result = subprocess.run([str(CLI), *command], env=env, capture_output=True, text=True, timeout=30, check=False)
    elapsed = time.monotonic() - started
    assert result.returncode == 1 and elapsed < 12, (elapsed, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.stderr, result.stderr
    if command == ["doctor"]:
        assert lines[0] == "Error: 6 of 7 checks failed"
        assert [line[:2] for line in result.stdout.strip().splitlines()] == ["✓ "] + ["✗ "] * 6, result.stdout
        assert "did not answer in time" in result.stdout
    else:
        assert "did not answer in time" in lines[0]


def test_events_replay_dlq_with_an_empty_dlq(stack: RunningStack) -> None:
    assert "the DLQ is replayed" in ok(stack, "events", "replay-dlq")


def test_doctor_all_green_and_a_refused_key(stack: RunningStack) -> None:
    out = ok(stack, "doctor")
    lines = out.strip().splitlines()
    assert len(lines) == 7 and all(line.startswith("✓ ") for line in lines), out
    assert "refuses an unsigned POST (403)" in out and "accepts the credentials" in out
    assert "tables omni-twilio-local-messages, -failed-messages, -optouts, -idempotency, -tenants reachable" in out
    env = {
        **os.environ,
        "DEVSTACK_PORT_BASE": str(stack.layout.base),
        "TWILIO_API_KEY_SID": "SK" + "0" * 32,
        "TWILIO_API_KEY_SECRET": "not-the-secret",
    }
    result = subprocess.run([str(CLI), "doctor"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "✗ Twilio credentials: Twilio refused the credentials (20003)" in result.stdout
    assert "not-the-secret" not in result.stdout + result.stderr
    assert result.stderr.strip() == "Error: 1 of 7 checks failed"


HELP_COMMANDS = [
    [],
    ["simulate", "inbound"],
    ["simulate", "status"],
    ["send"],
    ["show"],
    ["failed", "list"],
    ["failed", "retry"],
    ["failed", "purge"],
    ["messages", "list"],
    ["messages", "show"],
    ["messages", "cancel"],
    ["cancel"],
    ["erase"],
    ["optouts", "list"],
    ["optouts", "add"],
    ["optouts", "remove"],
    ["events", "tail"],
    ["events", "replay-dlq"],
    ["templates", "list"],
    ["templates", "show"],
    ["doctor"],
]


def test_every_command_has_help() -> None:
    # In process: --help touches no stack, and 14 interpreter starts would cost seconds.
    from typer.testing import CliRunner

    from omni_cli.main import app

    for command in HELP_COMMANDS:
        result = CliRunner().invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage: omni-twilio" in result.output, command
        # A flag is a flag: no `--json <bool>`.
        assert "<bool>" not in result.output, command


def test_simulate_inbound_mms_and_whatsapp(stack: RunningStack) -> None:
    out = ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "a photo", "--media", "https://demo.twilio.com/owl.png")
    sid = SID.findall(out)[0]
    assert sid.startswith("MM")
    message = stack.get_message(sid).json()
    assert message["channel"] == "mms" and message["media"][0]["url"] == "https://demo.twilio.com/owl.png"
    out = ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "over whatsapp", "--whatsapp")
    assert "from whatsapp:***0010 to whatsapp:***0006" in out
    message = stack.get_message(SID.findall(out)[0]).json()
    assert message["channel"] == "whatsapp" and message["from"] == f"whatsapp:{CUSTOMER}"


def test_simulate_inbound_hosts_a_media_file_through_the_sandbox(stack: RunningStack, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    result = run(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "a file", "--media", str(photo))
    hosting = stack.http.get(stack.url("sandbox", "/_sandbox/media"), timeout=10).status_code == 200
    if not hosting:  # a sandbox without the media routes: the command says so, in one line
        assert result.returncode == 1 and result.stderr.strip().endswith(
            "this sandbox cannot host files (no POST /_sandbox/media); give an http(s) URL"
        )
        return
    assert result.returncode == 0, result.stderr
    sid = SID.findall(result.stdout)[0]
    media = stack.get_message(sid).json()["media"]
    assert media[0]["url"].startswith(stack.url("sandbox", "/2010-04-01/Accounts/")) and f"/Messages/{sid}/Media/ME" in media[0]["url"]
    assert media[0]["content_type"] == "image/png"


def test_a_deployed_stage_through_url_flags_and_its_own_settings(stack: RunningStack) -> None:
    # A stage other than local reads its settings from the environment, as the services do:
    # here they name the local stack's account and token, so its webhook accepts the signature.
    args = ["--stage", "dev", "--inbound-url", stack.url("inbound"), "--outbound-url", stack.url("outbound")]
    env = {**os.environ, "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": LOCAL_AUTH_TOKEN}
    result = subprocess.run(
        [str(CLI), *args, "simulate", "inbound", "--from", CUSTOMER, "--to", "+15005550006", "--body", "from dev"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    sid = SID.findall(result.stdout)[0]
    assert (
        json.loads(
            subprocess.run([str(CLI), *args, "show", sid, "--json"], env=env, capture_output=True, text=True, timeout=60, check=True).stdout
        )["body"]
        == "from dev"
    )
    unset = {k: v for k, v in env.items() if k not in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN_PARAMETER")}
    result = subprocess.run(
        [str(CLI), *args, "simulate", "inbound", "--from", CUSTOMER, "--to", "+15005550006"],
        env=unset,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (
        result.returncode == 1 and result.stderr.strip() == "Error: settings: TWILIO_AUTH_TOKEN_PARAMETER (or TWILIO_AUTH_TOKEN) is not set"
    )


def run_at(stack: RunningStack, columns: int, *args: str) -> str:
    """stdout of a command run on a terminal `columns` wide; it must succeed."""
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base), "COLUMNS": str(columns)}
    result = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_no_table_cuts_an_id_on_a_narrow_terminal(stack: RunningStack) -> None:
    failure(stack, "send", "--to", "+15005550002", "--body", "unreachable")
    failed = json.loads(ok(stack, "failed", "list", "--json"))[0]["id"]
    sid = SID.findall(ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "to be listed"))[0]
    service = "MG" + uuid.uuid4().hex
    ok(stack, "optouts", "add", "+15005550032", "--sender", service)
    account = "AC" + uuid.uuid4().hex
    tenant = "narrow-" + uuid.uuid4().hex[:8]
    ok(stack, "tenants", "add", tenant, "--account-sid", account, "--auth-token", "narrow-token", "--sender", "+15005550006")
    numbers = json.loads(ok(stack, "numbers", "list", "--json"))["items"]
    made = stack.http.post(
        stack.url("sandbox", "/_sandbox/content"),
        json={"friendly_name": "a_template_with_a_long_name_to_fold", "variables": {f"variable_{n}": "x" for n in range(6)}},
        timeout=10,
    )
    template = made.json()["sid"]
    tables = [
        (["failed", "list"], [failed]),
        (["messages", "list"], [sid]),
        (["optouts", "list"], [service]),
        (["tenants", "list"], [account]),
        (["numbers", "list"], [n["sid"] for n in numbers]),
        (["templates", "list"], [template]),
        (["show", sid], [sid]),
    ]
    for command, wanted in tables:
        for columns in (80, 50):
            out = run_at(stack, columns, *command)
            assert "…" not in out, (command, columns, out)
            assert all(value in out for value in wanted), (command, columns, out)
    # At 80 columns `failed list` leaves out what matters least, and says so.
    caption = " ".join(run_at(stack, 80, "failed", "list").split())
    assert (
        "left out at 80 columns: tenant, to, twilio_code, retryable, attempts, message_sid, created_at (--json has every field)" in caption
    )


def test_every_table_has_json_with_numbers_masked(stack: RunningStack) -> None:
    ok(stack, "optouts", "add", "+15005550031")
    failure(stack, "send", "--to", "+15005550002", "--body", "unreachable")
    ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "a listed body")
    for command in (["failed", "list"], ["messages", "list"], ["optouts", "list"], ["tenants", "list"], ["numbers", "list"]):
        out = ok(stack, *command, "--json")
        json.loads(out)
        assert not re.search(r"\+1500555\d{4}", out), command
    rows = json.loads(ok(stack, "optouts", "list", "--json"))
    assert {"phone": "***0031", "sender": "***0006"}.items() <= next(r for r in rows if r["phone"] == "***0031").items()
    ok(stack, "optouts", "remove", "+15005550031")


def test_the_start_of_an_id_is_enough_when_one_matches(stack: RunningStack) -> None:
    sid = SID.findall(ok(stack, "simulate", "inbound", "--from", CUSTOMER, "--body", "found by a prefix"))[0]
    assert "found by a prefix" in ok(stack, "show", sid[:14]) and f"message {sid}" in ok(stack, "messages", "show", sid[:14])
    assert ok(stack, "simulate", "status", sid[:14], "read").strip() == f"204 status read for {sid}"
    # Scoped to the tenant: another tenant's messages are not searched.
    assert (
        failure(stack, "show", sid[:14], "--tenant", "globex") == f"Error: no message of tenant globex has an id starting with {sid[:14]}"
    )

    stack.http.post(stack.url("sandbox", "/_sandbox/faults"), json={"status": 503, "count": -1}, timeout=10)
    try:
        item_id = json.loads(ok(stack, "send", "--to", CUSTOMER, "--body", "retry me by prefix", "--json"))["sid"]
    finally:
        stack.http.delete(stack.url("sandbox", "/_sandbox/faults"), timeout=10)
    assert f"{item_id} sent" in ok(stack, "failed", "retry", item_id[:12])

    # Two items share a start: refused in one line saying how many, nothing retried.
    start = "RQ" + uuid.uuid4().hex[:6]
    for n, tenant in enumerate((None, "acme")):
        item: dict[str, Any] = {
            "id": start + str(n) * (32 - 6),
            "request": {"to": CUSTOMER},
            "category": "carrier_unreachable",
            "attempts": 1,
            "state": "dead",
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
        }
        stack.table("failed-messages").put_item(Item={**item, **({"tenant": tenant} if tenant else {})})
    assert failure(stack, "failed", "retry", start) == f"Error: {start} is ambiguous: 2 failed sends start with it; give more of the id"
    # Within one tenant the start is unique.
    assert failure(stack, "failed", "retry", start, "--tenant", "acme") == (
        f"Error: {start + '1' * 26} is not waiting for a retry (state dead)"
    )
    assert failure(stack, "failed", "retry", start + "2") == f"Error: no failed send has an id starting with {start}2"


def test_messages_list_filters_and_never_shows_a_body(stack: RunningStack) -> None:
    number = "+1500555" + f"{uuid.uuid4().int % 10000:04d}"
    masked = "***" + number[-4:]
    first = SID.findall(ok(stack, "simulate", "inbound", "--from", number, "--body", "first secret words"))[0]
    second = SID.findall(ok(stack, "simulate", "inbound", "--from", number, "--body", "second secret words"))[0]
    sent = SID.findall(ok(stack, "send", "--to", number, "--body", "third secret words", "--wait"))[0]

    def listed(*args: str) -> list[dict[str, Any]]:
        out = ok(stack, "messages", "list", "--number", number, *args, "--json")
        assert "secret words" not in out and number not in out
        rows: list[dict[str, Any]] = json.loads(out)
        return rows

    rows = listed()
    assert [r["sid"] for r in rows] == [sent, second, first]  # newest first
    assert "body" not in rows[0] and {r["from"] for r in rows[1:]} == {masked} and rows[0]["to"] == masked
    assert [r["sid"] for r in listed("--direction", "inbound")] == [second, first]
    assert [r["sid"] for r in listed("--status", "delivered")] == [sent]
    assert [r["sid"] for r in listed("--limit", "1")] == [sent]
    assert len(listed("--since", "10m")) == 3
    assert len(listed("--since", "2020-01-01T00:00:00Z")) == 3
    assert listed("--since", "2100-01-01T00:00:00+02:00") == []
    assert listed("--tenant", "globex") == []
    table = ok(stack, "messages", "list", "--number", number)
    assert all(sid in table for sid in (sent, second, first)) and masked in table
    assert number not in table and "secret words" not in table and "messages (3)" in table
    full = json.loads(ok(stack, "--show-numbers", "messages", "list", "--number", number, "--json"))
    assert full[0]["to"] == number
    assert failure(stack, "messages", "list", "--status", "deliverd").startswith("Error: --status: unknown message status 'deliverd'")
    assert (
        failure(stack, "messages", "list", "--direction", "sideways")
        == "Error: --direction must be one of inbound, outbound, not 'sideways'"
    )
    assert failure(stack, "messages", "list", "--since", "soon") == (
        "Error: --since 'soon': an age (10m, 2h, 7d) or an RFC 3339 time (2026-01-31T09:00:00Z)"
    )
    assert failure(stack, "messages", "list", "--number", "5550177") == "Error: --number must start with + and the country code (E.164)"


def test_version_completion_and_help_through_the_binary() -> None:
    def cli(*args: str, **env: str) -> str:
        result = subprocess.run(
            [str(CLI), *args], env={**os.environ, "COLUMNS": "100", **env}, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert re.fullmatch(r"omni-twilio \d+\.\d+\.\d+ \(checkout [0-9a-z.\-]+\)\n", cli("--version"))
    # The shell named, not the one typer detects among this process's ancestors (under make's
    # `sh`, "Shell sh not supported"): typer's own switch for that, as its tests use it.
    named = cli("--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert "complete -o default -F _omni_twilio_completion omni-twilio" in named
    # What the installed script asks the command for, as bash does.
    assert cli(_OMNI_TWILIO_COMPLETE="complete_bash", COMP_WORDS="omni-twilio fai", COMP_CWORD="1").split() == ["failed"]
    assert "--include-retrying" in cli(_OMNI_TWILIO_COMPLETE="complete_bash", COMP_WORDS="omni-twilio failed purge --", COMP_CWORD="3")
    purge = cli("failed", "purge", "--help")
    assert re.search(r"^  -y, --yes +Delete without asking\.$", purge, re.M), purge
    assert "<bool>" not in purge
    for command in (["--help"], ["messages", "list", "--help"], ["failed", "retry", "--help"], ["send", "--help"]):
        assert "<bool>" not in cli(*command), command

"""Redaction end to end: POST /messages/{sid}/redact removes a message's body and media here,
in the bucket and at the sandbox, keeps its history, and, when Twilio answers 20009, is
finished by the retry worker."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from carrier_core.media.storage import split_stored_url
from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from tests.e2e.test_media import EventLog
from tests.support.forms import new_sid
from tests.support.outbound_stack import JSON_HEADERS, clear_sandbox, post_message, run_retry_worker, sandbox_log
from tests.support.stack import RunningStack, wait_for

CUSTOMER = "+15005550010"
SENDER = "+15005550006"
AUTH = (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)
WHO = "privacy-desk@example.com"
CLI = Path(sys.executable).parent / "omni-twilio"


@pytest.fixture(autouse=True)
def clean_sandbox(stack: RunningStack) -> Iterator[None]:
    clear_sandbox(stack)
    refusals(stack, 0)
    yield
    refusals(stack, 0)
    clear_sandbox(stack)


def refusals(stack: RunningStack, count: int) -> None:
    stack.http.post(stack.url("sandbox", "/_sandbox/redaction-refusals"), json={"count": count}, timeout=10).raise_for_status()


def redact(stack: RunningStack, sid: str, tenant: str | None = None, who: str = WHO) -> requests.Response:
    path = f"/tenants/{tenant}/messages/{sid}/redact" if tenant else f"/messages/{sid}/redact"
    return stack.http.post(stack.url("outbound", path), json={"requested_by": who}, headers=JSON_HEADERS, timeout=60)


def at_sandbox(stack: RunningStack, sid: str) -> dict[str, Any]:
    url = stack.url("sandbox", f"/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/Messages/{sid}.json")
    response = stack.http.get(url, auth=AUTH, timeout=10)
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def sandbox_media(stack: RunningStack, sid: str) -> list[dict[str, Any]]:
    url = stack.url("sandbox", f"/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/Messages/{sid}/Media.json")
    response = stack.http.get(url, auth=AUTH, timeout=10)
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["media_list"]
    return items


def updates_of(stack: RunningStack, sid: str) -> list[dict[str, Any]]:
    """The sandbox's log of the message updates (POST Messages/{sid}.json) it answered."""
    return [e for e in sandbox_log(stack) if e["path"].endswith(f"/Messages/{sid}.json")]


def delivered(stack: RunningStack, body: str, to: str = CUSTOMER) -> dict[str, Any]:
    response = post_message(stack, {"to": to, "body": body})
    assert response.status_code == 202, response.text
    sid = response.json()["sid"]
    assert wait_for(lambda: stack.get_message(sid).json()["status"] == "delivered", timeout=20)
    message: dict[str, Any] = stack.get_message(sid).json()
    return message


def inbound_mms(stack: RunningStack, customer: str = CUSTOMER) -> dict[str, Any]:
    """An inbound MMS from `customer` the sandbox holds with one hosted image, stored here
    with its copy."""
    sid = new_sid("MM")
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, "PNG")
    hosted = stack.http.post(
        stack.url("sandbox", f"/_sandbox/media?message_sid={sid}"), data=out.getvalue(), headers={"Content-Type": "image/png"}, timeout=10
    )
    assert hosted.status_code == 201, hosted.text
    spec = {"from": customer, "to": SENDER, "body": "my card is 4111 1111 1111 1111", "sid": sid}
    response = stack.http.post(stack.url("sandbox", "/_sandbox/inbound"), json=spec, timeout=60)
    assert response.status_code == 201, response.text

    def stored() -> dict[str, Any] | None:
        found = stack.get_message(sid)
        message: dict[str, Any] = found.json()
        return message if found.status_code == 200 and message["media"] and message["media"][0]["status"] == "stored" else None

    message = wait_for(stored, timeout=30)
    assert message, "the inbound MMS and its media copy were not stored"
    result: dict[str, Any] = message
    return result


def object_exists(stack: RunningStack, stored_url: str) -> bool:
    bucket, key = split_stored_url(stored_url)
    try:
        stack.aws_client("s3").head_object(Bucket=bucket, Key=key)
    except Exception:  # noqa: BLE001  # botocore's ClientError: 404
        return False
    return True


@pytest.fixture(scope="module")
def event_log(stack: RunningStack) -> EventLog:
    return EventLog(stack)


def test_inbound_mms_redacted_here_in_the_bucket_and_at_the_sandbox_history_kept(stack: RunningStack, event_log: EventLog) -> None:
    message = inbound_mms(stack)
    sid, copy = message["sid"], message["media"][0]["stored_url"]
    assert object_exists(stack, copy) and len(sandbox_media(stack, sid)) == 1

    response = redact(stack, sid)
    assert response.status_code == 200, response.text
    redacted = response.json()
    assert redacted["body"] is None and redacted["redaction"] == "done"
    assert redacted["redaction_requested_by"] == WHO and redacted["redaction_requested_at"]
    assert [(m["url"], m["stored_url"], m["status"]) for m in redacted["media"]] == [("", None, "redacted")]
    assert redacted["history"] == message["history"] and redacted["status"] == message["status"]
    assert (redacted["from"], redacted["to"], redacted["created_at"]) == (message["from"], message["to"], message["created_at"])
    stored = stack.table().get_item(Key={"sid": sid}, ConsistentRead=True)["Item"]
    assert "body" not in stored and "4111" not in str(stored)
    assert not object_exists(stack, copy)
    assert stack.get_message(sid).json() == redacted
    assert stack.http.get(stack.url("outbound", f"/messages/{sid}/media/0"), allow_redirects=False, timeout=10).status_code == 404
    assert at_sandbox(stack, sid)["body"] == "" and sandbox_media(stack, sid) == []
    # The hand-off tells consumers to purge their copies (the received event carried the body).
    events = wait_for(lambda: [e for e in event_log.of_sid(sid) if e["detail-type"] == "message.redacted"] or None, timeout=20)
    assert events and events[0]["detail"]["requested_by"] == WHO and events[0]["source"] == "omni.twilio"

    # Idempotent: the same answer, and no second call to Twilio.
    calls = len(updates_of(stack, sid))
    assert calls == 1
    again = redact(stack, sid, who="someone-else")
    assert (again.status_code, again.json()) == (200, redacted)
    assert len(updates_of(stack, sid)) == calls


def test_outbound_message_redacted_at_the_sandbox(stack: RunningStack) -> None:
    message = delivered(stack, "the door code is 4471")
    response = redact(stack, message["sid"])
    assert response.status_code == 200, response.text
    assert response.json()["body"] is None and response.json()["redaction"] == "done"
    assert at_sandbox(stack, message["sid"])["body"] == ""
    assert {"queued", "sent", "delivered"} <= {h["status"] for h in response.json()["history"]}


def test_not_complete_at_twilio_is_retried_by_the_worker_to_done(stack: RunningStack) -> None:
    message = delivered(stack, "a secret that must go")
    sid = message["sid"]
    refusals(stack, 2)
    response = redact(stack, sid)
    assert response.status_code == 202, response.text
    pending = response.json()
    # Gone here at once; Twilio still holds it, and the job waits in the failed-messages table.
    assert pending["body"] is None and pending["redaction"] == "requested"
    assert at_sandbox(stack, sid)["body"] == "a secret that must go"
    jobs = [j for j in stack.table("failed-messages").scan()["Items"] if j.get("message_sid") == sid]
    assert len(jobs) == 1 and jobs[0]["job"] == "redact" and jobs[0]["retry_state"] == "pending"
    assert jobs[0]["twilio_error"]["twilio_code"] == 20009 and jobs[0]["id"].startswith("RD")
    # A second request while the job waits calls Twilio no more.
    assert redact(stack, sid).status_code == 202
    assert [e["error_code"] for e in updates_of(stack, sid)] == [20009]

    report = run_retry_worker(stack, at=time.time() + 2 * 3600)
    assert jobs[0]["id"] in report["rescheduled"]
    assert stack.get_message(sid).json()["redaction"] == "requested"
    report = run_retry_worker(stack, at=time.time() + 4 * 3600)
    assert jobs[0]["id"] in report["sent"]
    done = stack.get_message(sid).json()
    assert done["redaction"] == "done" and done["redaction_updated_at"] >= pending["redaction_requested_at"]
    assert at_sandbox(stack, sid)["body"] == ""
    assert [e["error_code"] for e in updates_of(stack, sid)] == [20009, 20009, None]
    job = stack.table("failed-messages").get_item(Key={"id": jobs[0]["id"]}, ConsistentRead=True)["Item"]
    assert job["state"] == "sent" and "retry_state" not in job
    # Nothing runs it again.
    run_retry_worker(stack, at=time.time() + 8 * 3600)
    assert len(updates_of(stack, sid)) == 3


def test_another_tenants_message_answers_as_unknown(stack: RunningStack) -> None:
    tag = uuid.uuid4().hex
    tenant = f"acme-{tag[:8]}"
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base)}
    added = subprocess.run(
        [str(CLI), "tenants", "add", tenant, "--account-sid", "AC" + tag, "--auth-token", f"token-{tag}", "--sender", SENDER],
        env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    message = delivered(stack, "default tenant's words")
    unknown_sid = "SM" + uuid.uuid4().hex
    unknown = redact(stack, unknown_sid, tenant=tenant)
    response = redact(stack, message["sid"], tenant=tenant)
    assert (response.status_code, unknown.status_code) == (404, 404)
    assert response.json() == json.loads(unknown.text.replace(unknown_sid, message["sid"]))
    assert response.json()["error"]["code"] == "message_not_found"
    assert stack.get_message(message["sid"]).json()["body"] == "default tenant's words"
    assert updates_of(stack, message["sid"]) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [({}, "invalid_requested_by"), ({"requested_by": ""}, "invalid_requested_by"), ({"requested_by": "x", "why": 1}, "invalid_field")],
)
def test_bad_request_is_400_and_changes_nothing(stack: RunningStack, body: dict[str, Any], code: str) -> None:
    message = delivered(stack, "still here")
    response = stack.http.post(stack.url("outbound", f"/messages/{message['sid']}/redact"), json=body, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert stack.get_message(message["sid"]).json()["body"] == "still here"

"""Erasure end to end: POST /contacts/{identity}/erase redacts every message to or from a
customer, here and at the sandbox, keeps their opt-out, reports its progress at
GET /erasures/{id}, and leaves a 20009 to the retry worker; `omni-twilio erase` drives it."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

# clean_sandbox: the redaction tests' autouse fixture (no refusals left, the sandbox's logs cleared) serves here too.
from tests.e2e.test_redaction import SENDER, at_sandbox, clean_sandbox, delivered, inbound_mms, object_exists, refusals
from tests.support.forms import new_sid, sms
from tests.support.outbound_stack import JSON_HEADERS, post_message, run_retry_worker
from tests.support.stack import RunningStack, wait_for

WHO = "privacy-desk@example.com"
CLI = Path(sys.executable).parent / "omni-twilio"


def a_customer() -> str:
    """A number no other test writes to or from: the customer index holds every message."""
    return f"+1415555{random.randrange(10**4):04d}"


def erase(stack: RunningStack, identity: str, tenant: str | None = None) -> requests.Response:
    prefix = f"/tenants/{tenant}" if tenant else ""
    url = stack.url("outbound", f"{prefix}/contacts/{quote(identity, safe='')}/erase")
    return stack.http.post(url, json={"requested_by": WHO}, headers=JSON_HEADERS, timeout=60)


def erasure(stack: RunningStack, erasure_id: str, tenant: str | None = None) -> requests.Response:
    prefix = f"/tenants/{tenant}" if tenant else ""
    return stack.http.get(stack.url("outbound", f"{prefix}/erasures/{erasure_id}"), timeout=10)


def opt_out(stack: RunningStack, customer: str) -> str:
    """A STOP from `customer`, through the sandbox (which then holds it, as Twilio would)."""
    spec = {"from": customer, "to": SENDER, "body": "STOP"}
    response = stack.http.post(stack.url("sandbox", "/_sandbox/inbound"), json=spec, timeout=60)
    assert response.status_code == 201, response.text
    sid: str = response.json()["sid"]
    assert wait_for(lambda: stack.get_message(sid).status_code == 200, timeout=20)
    return sid


def test_erasing_a_customer_with_three_messages_redacts_all_three_and_keeps_the_opt_out(stack: RunningStack) -> None:
    customer, bystander = a_customer(), a_customer()
    sent = delivered(stack, "my card is 4111 1111 1111 1111", customer)
    mms = inbound_mms(stack, customer)
    stop = opt_out(stack, customer)
    kept = delivered(stack, "another customer's words", bystander)
    sids = [sent["sid"], mms["sid"], stop]

    response = erase(stack, customer)
    assert response.status_code == 200, response.text  # nothing left pending: 200, not 202
    job = response.json()
    assert job["id"].startswith("ER") and job["requested_by"] == WHO
    assert job["customers"] == [f"***{customer[-4:]}", f"whatsapp:***{customer[-4:]}"]
    assert job["messages"] == {"total": 3, "done": 3, "pending": 0, "failed": 0} and job["state"] == "done"
    assert erasure(stack, job["id"]).json() == job

    for sid in sids:
        message = stack.get_message(sid).json()
        assert (message["body"], message["redaction"], message["redaction_requested_by"]) == (None, "done", WHO), sid
        assert message["history"], sid  # the status history stays
        assert at_sandbox(stack, sid)["body"] == "", sid
    assert not object_exists(stack, mms["media"][0]["stored_url"])
    assert stack.get_message(kept["sid"]).json()["body"] == "another customer's words"
    # The opt-out stays: a send to the customer is still refused.
    refused = post_message(stack, {"to": customer, "body": "come back"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "recipient_opted_out")


def test_a_message_twilio_cannot_redact_yet_is_pending_until_the_worker_finishes_it(stack: RunningStack) -> None:
    customer = a_customer()
    first = delivered(stack, "first", customer)
    second = delivered(stack, "second", customer)
    refusals(stack, 1)  # the first redaction at the sandbox answers 20009
    response = erase(stack, customer)
    job = response.json()
    assert (
        response.status_code == 202 and job["state"] == "running" and job["messages"] == {"total": 2, "done": 1, "pending": 1, "failed": 0}
    )
    assert all(stack.get_message(m["sid"]).json()["body"] is None for m in (first, second))

    run_retry_worker(stack, at=time.time() + 3600)
    done = erasure(stack, job["id"]).json()
    assert done["state"] == "done" and done["messages"] == {"total": 2, "done": 2, "pending": 0, "failed": 0}
    # A second request finds nothing left and calls nobody.
    again = erase(stack, customer).json()
    assert again["id"] != job["id"] and again["messages"] == done["messages"]


def test_a_whatsapp_identity_is_erased_alone_with_what_the_customer_shared(stack: RunningStack) -> None:
    customer = a_customer()
    sms_message = delivered(stack, "an sms", customer)
    sid = new_sid("SM")
    shared = {"ProfileName": "Zoë", "WaId": customer[1:], "ButtonText": "Yes, move it", "ButtonPayload": "move-42",
              "Latitude": "37.78", "Longitude": "-122.39", "Address": "1 Main St", "ReferralBody": "Spring sale"}  # fmt: skip
    form = sms(sid=sid, body="Yes, move it", From=f"whatsapp:{customer}", To=f"whatsapp:{SENDER}", **shared)
    assert stack.post_webhook("inbound", form).status_code == 200
    assert stack.get_message(sid).json()["whatsapp"]["button_text"] == "Yes, move it"

    job = erase(stack, f"whatsapp:{customer}").json()
    assert job["messages"] == {"total": 1, "done": 1, "pending": 0, "failed": 0} and job["state"] == "done"
    whatsapp = stack.get_message(sid).json()["whatsapp"]
    assert whatsapp["wa_id"] == customer[1:]  # identifiers stay
    for gone in ("profile_name", "button_text", "button_payload", "latitude", "longitude", "address", "referral_body"):
        assert gone not in whatsapp, gone
    assert stack.get_message(sms_message["sid"]).json()["body"] == "an sms"


@pytest.mark.parametrize(
    ("identity", "body", "status", "code"),
    [
        ("4155550100", {"requested_by": WHO}, 400, "invalid_phone_number"),
        ("+14155550100", {}, 400, "invalid_requested_by"),
        ("+14155550100", {"requested_by": WHO, "why": "x"}, 400, "invalid_field"),
    ],
)
def test_bad_request_is_400_and_keeps_nothing(stack: RunningStack, identity: str, body: dict[str, Any], status: int, code: str) -> None:
    before = stack.table("failed-messages").scan(Select="COUNT")["Count"]
    url = stack.url("outbound", f"/contacts/{quote(identity, safe='')}/erase")
    response = stack.http.post(url, json=body, headers=JSON_HEADERS, timeout=30)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert stack.table("failed-messages").scan(Select="COUNT")["Count"] == before


def test_unknown_or_another_tenants_erasure_is_404(stack: RunningStack) -> None:
    unknown = erasure(stack, "ER" + "0" * 32)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "erasure_not_found")
    job = erase(stack, a_customer()).json()
    other = erasure(stack, job["id"], tenant="some-other-tenant")
    assert other.status_code == 404 and other.json()["error"]["code"] in {"erasure_not_found", "tenant_not_found"}
    assert erasure(stack, "ER1234").json()["error"]["code"] == "erasure_not_found"


def test_cli_erase_waits_for_the_erasure(stack: RunningStack) -> None:
    customer = a_customer()
    message = delivered(stack, "via the cli", customer)
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base)}
    run = subprocess.run(
        [str(CLI), "erase", customer, "--requested-by", WHO, "--wait", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    assert printed["state"] == "done" and printed["messages"]["done"] == 1
    assert customer not in run.stdout  # numbers are masked
    assert stack.get_message(message["sid"]).json()["body"] is None
    bad = subprocess.run(
        [str(CLI), "erase", "12345", "--requested-by", WHO], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr

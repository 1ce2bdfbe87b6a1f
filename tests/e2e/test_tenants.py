"""Two tenants on two sandbox accounts, end to end through the local stack.

Each tenant is registered as an operator does it (`omni-twilio tenants add`, which locally
also gives the sandbox the account); its webhooks are signed by RequestValidator with its
own token for the URL Twilio would sign, and its sends reach its own sandbox account.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.forms import new_sid, replace, sms
from tests.support.handoff import Queue
from tests.support.outbound_stack import JSON_HEADERS
from tests.support.stack import RunningStack, wait_for
from tests.support.webhooks import signed_form

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).parent / "omni-twilio"
SENDER = "+15005550006"  # both tenants' number: isolation must not rest on the numbers differing


@dataclass(frozen=True)
class Tenant:
    name: str
    account_sid: str
    token: str
    key_sid: str
    key_secret: str


def new_tenant(name: str) -> Tenant:
    tag = uuid.uuid4().hex
    return Tenant(f"{name}-{tag[:8]}", "AC" + tag, f"{name}-token-{tag}", "SK" + uuid.uuid4().hex, f"{name}-secret-{tag}")


def cli(stack: RunningStack, *args: str) -> str:
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base), "COLUMNS": "200"}
    done = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def tenants(stack: RunningStack) -> tuple[Tenant, Tenant]:
    pair = new_tenant("acme"), new_tenant("globex")
    for t in pair:
        cli(stack, "tenants", "add", t.name, "--account-sid", t.account_sid, "--auth-token", t.token,
            "--api-key-sid", t.key_sid, "--api-key-secret", t.key_secret, "--sender", SENDER)  # fmt: skip
    return pair


@pytest.fixture(scope="module")
def queue(stack: RunningStack) -> Queue:
    return Queue(stack)


def post_inbound(stack: RunningStack, path_tenant: str, pairs: list[tuple[str, str]], token: str) -> requests.Response:
    url = stack.url("inbound", f"/twilio/{path_tenant}/inbound")
    body, headers = signed_form(url, pairs, token)
    return stack.http.post(url, data=body, headers=headers, timeout=30)


def inbound_form(t: Tenant, account: str | None = None, **extra: str) -> list[tuple[str, str]]:
    return replace(sms(**extra), AccountSid=account or t.account_sid)


def send(stack: RunningStack, t: Tenant, payload: dict[str, Any], key: str | None = None) -> requests.Response:
    headers = {**JSON_HEADERS, **({"Idempotency-Key": key} if key else {})}
    return stack.http.post(stack.url("outbound", f"/tenants/{t.name}/messages"), json=payload, headers=headers, timeout=60)


def read(stack: RunningStack, tenant: str, sid: str) -> requests.Response:
    return stack.http.get(stack.url("outbound", f"/tenants/{tenant}/messages/{sid}"), timeout=10)


def code(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_each_tenants_inbound_webhook_is_accepted_only_with_its_own_token_and_account(
    stack: RunningStack, tenants: tuple[Tenant, Tenant], queue: Queue
) -> None:
    acme, globex = tenants
    sid = new_sid()
    assert post_inbound(stack, acme.name, inbound_form(acme, sid=sid), acme.token).status_code == 200
    refused = [
        post_inbound(stack, acme.name, inbound_form(acme, sid=new_sid()), globex.token),  # another tenant's token
        post_inbound(stack, "nobody-" + uuid.uuid4().hex[:8], inbound_form(acme, sid=new_sid()), acme.token),  # unknown tenant
        post_inbound(stack, acme.name, inbound_form(acme, account=globex.account_sid, sid=new_sid()), acme.token),
    ]
    assert [code(r) for r in refused] == [(403, "invalid_signature"), (403, "invalid_signature"), (403, "account_mismatch")]
    assert refused[0].content == refused[1].content  # an unknown tenant is told nothing more
    assert read(stack, acme.name, sid).json()["tenant"] == acme.name
    assert code(read(stack, globex.name, sid)) == (404, "message_not_found")
    assert code(stack.get_message(sid)) == (404, "message_not_found")
    events = wait_for(lambda: queue.of_sid(sid), timeout=30)
    assert [(e["detail-type"], e["detail"]["tenant"]) for e in events] == [("message.received", acme.name)]


def test_a_send_per_tenant_reaches_its_own_account_with_its_own_key_and_is_delivered(
    stack: RunningStack, tenants: tuple[Tenant, Tenant], queue: Queue
) -> None:
    sids = {}
    for t in tenants:
        answer = send(stack, t, {"to": "+15005550010", "body": f"hello from {t.name}"})
        assert answer.status_code == 202, answer.text
        sids[t] = answer.json()["sid"]
    for t, sid in sids.items():
        other = next(o for o in tenants if o is not t)
        account_path = f"/2010-04-01/Accounts/{t.account_sid}/Messages/{sid}.json"
        at_twilio = stack.http.get(stack.url("sandbox", account_path), auth=(t.key_sid, t.key_secret), timeout=10)
        assert (at_twilio.status_code, at_twilio.json()["account_sid"]) == (200, t.account_sid)
        assert stack.http.get(stack.url("sandbox", account_path), auth=(other.key_sid, other.key_secret), timeout=10).status_code == 401
        # Delivered: the sandbox's callbacks, signed with this tenant's token, reached its status URL.
        delivered = wait_for(lambda t=t, sid=sid: read(stack, t.name, sid).json()["status"] == "delivered", timeout=30)
        assert delivered, read(stack, t.name, sid).json()["history"]
        assert code(read(stack, other.name, sid)) == (404, "message_not_found")
        changes = wait_for(lambda sid=sid: [e for e in queue.of_sid(sid) if e["detail"]["status"] == "delivered"], timeout=30)
        assert {e["detail"]["tenant"] for e in queue.of_sid(sid)} == {t.name}, changes


def test_idempotency_keys_and_opt_outs_stay_within_their_tenant(stack: RunningStack, tenants: tuple[Tenant, Tenant], queue: Queue) -> None:
    acme, globex = tenants
    customer = "+1415555" + f"{uuid.uuid4().int % 10000:04d}"
    key = "order-" + uuid.uuid4().hex
    first, second = (send(stack, t, {"to": customer, "body": "your order"}, key=key) for t in tenants)
    assert first.status_code == second.status_code == 202
    assert first.json()["sid"] != second.json()["sid"]
    assert "Idempotent-Replayed" not in second.headers
    # The customer texts STOP to acme's number: acme may no longer message them, globex may.
    stop = new_sid()
    assert post_inbound(stack, acme.name, inbound_form(acme, sid=stop, From=customer, Body="STOP"), acme.token).status_code == 200
    assert code(send(stack, acme, {"to": customer, "body": "again"})) == (403, "recipient_opted_out")
    assert send(stack, globex, {"to": customer, "body": "again"}).status_code == 202
    opted_out = wait_for(lambda: queue.matching(lambda e: e["detail"].get("message_sid") == stop), timeout=30)
    assert [(e["detail-type"], e["detail"]["tenant"], e["detail"]["sender"]) for e in opted_out] == [
        ("contact.opted_out", acme.name, SENDER)
    ]
    listed = json.loads(cli(stack, "--show-numbers", "optouts", "list", "--json", "--tenant", acme.name))
    assert [(r["phone"], r["sender"]) for r in listed if r["phone"] == customer] == [(customer, SENDER)]
    assert not [
        r for r in json.loads(cli(stack, "--show-numbers", "optouts", "list", "--json", "--tenant", globex.name)) if r["phone"] == customer
    ]


def test_a_rotated_token_is_accepted_without_restarting_anything(stack: RunningStack, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    assert post_inbound(stack, acme.name, inbound_form(acme, sid=new_sid()), acme.token).status_code == 200  # cached now
    rotated = f"rotated-{uuid.uuid4().hex}"
    cli(stack, "tenants", "rotate", acme.name, "--auth-token", rotated)
    # Until Twilio signs with the new token, the old one works as it did.
    assert post_inbound(stack, acme.name, inbound_form(acme, sid=new_sid()), acme.token).status_code == 200
    # Twilio (the sandbox) promotes the new token.
    promoted = stack.http.put(stack.url("sandbox", f"/_sandbox/accounts/{acme.account_sid}"), json={"auth_token": rotated}, timeout=10)
    assert promoted.status_code == 200, promoted.text
    # Each service's cached token now fails, and the tenant is re-read (at most every 10 s).
    for service, path in (("inbound", "inbound"), ("status", "status")):
        url = stack.url(service, f"/twilio/{acme.name}/{path}")

        def accepted(url: str = url, service: str = service) -> bool:
            pairs = inbound_form(acme, sid=new_sid()) if service == "inbound" else status_form(acme, new_sid())
            body, headers = signed_form(url, pairs, rotated)
            return stack.http.post(url, data=body, headers=headers, timeout=30).status_code in (200, 204)

        assert wait_for(accepted, timeout=15, interval=1), service
    # The previous token is the secondary now, still accepted.
    assert post_inbound(stack, acme.name, inbound_form(acme, sid=new_sid()), acme.token).status_code == 200
    # The sandbox's callbacks, signed with the new token, take a send to delivered.
    sid = send(stack, acme, {"to": "+15005550010", "body": "after the rotation"}).json()["sid"]
    assert wait_for(lambda: read(stack, acme.name, sid).json()["status"] == "delivered", timeout=30)


def status_form(t: Tenant, sid: str) -> list[tuple[str, str]]:
    return [("MessageSid", sid), ("MessageStatus", "sent"), ("AccountSid", t.account_sid), ("From", SENDER), ("To", "+15005550010")]


def test_tenants_show_and_doctor_never_print_a_secret(stack: RunningStack, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    shown = json.loads(cli(stack, "tenants", "show", globex.name))
    assert shown["account_sid"] == globex.account_sid and shown["secrets"]["auth-token"] == "set"
    listed = cli(stack, "tenants", "list")
    doctor = cli(stack, "doctor")
    assert globex.name in listed and acme.name in listed and globex.name in doctor
    for text in (json.dumps(shown), listed, doctor):
        assert globex.token not in text and globex.key_secret not in text and acme.key_secret not in text


def test_the_cli_sends_and_shows_as_a_tenant(stack: RunningStack, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    out = cli(stack, "send", "--tenant", globex.name, "--to", "+15005550010", "--body", "from the cli", "--wait")
    sid = out.split()[0]
    assert out.splitlines()[-1] == f"{sid} delivered"
    assert json.loads(cli(stack, "show", sid, "--tenant", globex.name, "--json"))["tenant"] == globex.name
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base)}
    other = subprocess.run([str(CLI), "show", sid, "--tenant", acme.name], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert (other.returncode, other.stderr.strip()) == (1, f"Error: message {sid} not found")


def cli_failure(stack: RunningStack, *args: str) -> str:
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base), "COLUMNS": "200"}
    done = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    return done.stderr.strip()


def test_tenants_add_refuses_what_it_cannot_register_and_remove_removes(stack: RunningStack, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    base = ["tenants", "add", "--account-sid", acme.account_sid, "--auth-token", "t", "--sender", SENDER]
    assert "the deployment's own account" in cli_failure(stack, *base[:2], "default", *base[2:])
    assert "is not" in cli_failure(stack, *base[:2], "Bad_Id", *base[2:]) or "2 to 63" in cli_failure(stack, *base[:2], "Bad_Id", *base[2:])
    assert "exists" in cli_failure(stack, *base[:2], acme.name, *base[2:])
    assert "--sender" in cli_failure(
        stack, *base[:2], "fresh-one", "--account-sid", acme.account_sid, "--auth-token", "t", "--sender", "12"
    )
    assert "go together" in cli_failure(stack, *base[:2], "fresh-one", *base[2:], "--api-key-sid", "SK" + "0" * 32)
    gone = new_tenant("gone")
    cli(stack, "tenants", "add", gone.name, "--account-sid", gone.account_sid, "--auth-token", gone.token, "--sender", SENDER)
    assert gone.name in cli(stack, "tenants", "list")
    cli(stack, "tenants", "remove", gone.name)
    assert cli_failure(stack, "tenants", "show", gone.name) == f"Error: no tenant {gone.name!r}"
    assert code(send(stack, gone, {"to": "+15005550010", "body": "x"})) == (404, "tenant_not_found")


def test_each_tenants_status_webhook_is_accepted_only_with_its_own_token_and_account(
    stack: RunningStack, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = tenants
    url = stack.url("status", f"/twilio/{globex.name}/status")

    def post(pairs: list[tuple[str, str]], token: str) -> requests.Response:
        body, headers = signed_form(url, pairs, token)
        return stack.http.post(url, data=body, headers=headers, timeout=30)

    assert post(status_form(globex, new_sid()), globex.token).status_code == 204
    assert code(post(status_form(globex, new_sid()), acme.token)) == (403, "invalid_signature")
    foreign = new_sid()
    assert code(post(status_form(acme, foreign), globex.token)) == (403, "account_mismatch")
    assert code(read(stack, globex.name, foreign)) == (404, "message_not_found")

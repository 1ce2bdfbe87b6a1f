"""`omni-twilio numbers configure` and `numbers list` against the local stack's sandbox.

The installed command, as an operator runs it: it points the default account's number, and a
tenant's number and Messaging Service, at this deployment with the connection overrides, and
Twilio's webhook to the URL so configured (less its fragment, as Twilio requests it) is
accepted; `numbers list` flags a number pointing elsewhere or lacking the overrides.
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

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_API_KEY_SECRET, LOCAL_AUTH_TOKEN
from carrier_core.webhook import with_overrides, without_fragment
from tests.support.forms import new_sid, replace, sms
from tests.support.stack import RunningStack
from tests.support.webhooks import signed_form

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).parent / "omni-twilio"


@dataclass(frozen=True)
class Tenant:
    name: str
    account_sid: str
    token: str


def run(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base), "COLUMNS": "250"}
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=90, check=False)


def ok(stack: RunningStack, *secrets: str, args: tuple[str, ...]) -> str:
    done = run(stack, *args)
    assert done.returncode == 0, done.stderr
    for secret in (LOCAL_AUTH_TOKEN, LOCAL_API_KEY_SECRET, *secrets):
        assert secret not in done.stdout + done.stderr
    return done.stdout


def a_number() -> str:
    """A number no other test owns (the sandbox lets one account own a number)."""
    return f"+1415{uuid.uuid4().int % 10**7:07d}"


@pytest.fixture(scope="module")
def tenant(stack: RunningStack) -> Tenant:
    tag = uuid.uuid4().hex
    t = Tenant(f"numbers-{tag[:8]}", "AC" + tag, f"numbers-token-{tag}")
    ok(stack, t.token, args=("tenants", "add", t.name, "--account-sid", t.account_sid, "--auth-token", t.token, "--sender", "+15005550006"))
    return t


def buy(stack: RunningStack, account: str, token: str, number: str, **fields: str) -> dict[str, Any]:
    url = stack.url("sandbox", f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json")
    response = stack.http.post(url, data={"PhoneNumber": number, **fields}, auth=(account, token), timeout=10)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def number_at_twilio(stack: RunningStack, account: str, token: str, sid: str) -> dict[str, Any]:
    url = stack.url("sandbox", f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json")
    body: dict[str, Any] = stack.http.get(url, auth=(account, token), timeout=10).json()
    return body


def webhook_accepted(stack: RunningStack, configured: str, account: str, token: str, to: str) -> int:
    """Post an inbound SMS as Twilio does to a URL configured with overrides: to the URL less
    its fragment, signed for that URL; the status of the answer."""
    url = without_fragment(configured)
    pairs = replace(sms(sid=new_sid()), AccountSid=account, To=to)
    body, headers = signed_form(url, pairs, token)
    return stack.http.post(url, data=body, headers=headers, timeout=30).status_code


def test_configure_points_a_default_account_number_here_with_the_overrides(stack: RunningStack) -> None:
    number = a_number()
    bought = buy(stack, LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, number, SmsUrl="https://old.example.com/sms")
    out = ok(stack, args=("numbers", "configure", number))
    assert number not in out and "***" + number[-4:] in out
    at_twilio = number_at_twilio(stack, LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, bought["sid"])
    assert (at_twilio["sms_url"], at_twilio["sms_method"]) == (with_overrides(stack.webhook_url("inbound")), "POST")
    assert webhook_accepted(stack, at_twilio["sms_url"], LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, number) == 200
    [row] = [item for item in listed(stack) if item["sid"] == bought["sid"]]
    assert row["problems"] == []


def test_configure_points_a_tenants_number_and_service_at_its_own_urls(stack: RunningStack, tenant: Tenant) -> None:
    number = a_number()
    bought = buy(stack, tenant.account_sid, tenant.token, number)
    ok(stack, tenant.token, args=("numbers", "configure", number, "--tenant", tenant.name))
    inbound = stack.url("inbound", f"/twilio/{tenant.name}/inbound")
    at_twilio = number_at_twilio(stack, tenant.account_sid, tenant.token, bought["sid"])
    assert at_twilio["sms_url"] == with_overrides(inbound)
    assert webhook_accepted(stack, at_twilio["sms_url"], tenant.account_sid, tenant.token, number) == 200

    auth = (tenant.account_sid, tenant.token)
    service = stack.http.post(stack.url("sandbox", "/v1/Services"), data={"FriendlyName": "Numbers test"}, auth=auth, timeout=10).json()
    ok(stack, tenant.token, args=("numbers", "configure", service["sid"], "--tenant", tenant.name))
    after = stack.http.get(stack.url("sandbox", f"/v1/Services/{service['sid']}"), auth=auth, timeout=10).json()
    assert (after["inbound_request_url"], after["inbound_method"]) == (with_overrides(inbound), "POST")
    assert after["status_callback"] == with_overrides(stack.url("status", f"/twilio/{tenant.name}/status"))

    # The default account knows neither: each tenant's account is its own.
    refused = run(stack, "numbers", "configure", number)
    assert refused.returncode == 1 and refused.stderr.strip() == f"Error: account {LOCAL_ACCOUNT_SID} has no number ***{number[-4:]}"


def listed(stack: RunningStack, *args: str) -> list[dict[str, Any]]:
    report = json.loads(ok(stack, args=("numbers", "list", "--json", *args)))
    items: list[dict[str, Any]] = report["items"]
    return items


def test_list_flags_a_tenants_number_pointing_elsewhere_or_without_the_overrides(stack: RunningStack, tenant: Tenant) -> None:
    inbound = stack.url("inbound", f"/twilio/{tenant.name}/inbound")
    here = buy(stack, tenant.account_sid, tenant.token, a_number(), SmsUrl=with_overrides(inbound))
    elsewhere = buy(stack, tenant.account_sid, tenant.token, a_number(), SmsUrl=with_overrides("https://elsewhere.example.com/sms"))
    bare = buy(stack, tenant.account_sid, tenant.token, a_number(), SmsUrl=inbound)
    # The default tenant's URL is elsewhere for this tenant.
    default_url = buy(stack, tenant.account_sid, tenant.token, a_number(), SmsUrl=with_overrides(stack.webhook_url("inbound")))
    problems = {item["sid"]: item["problems"] for item in listed(stack, "--tenant", tenant.name)}
    assert problems[here["sid"]] == []
    assert problems[elsewhere["sid"]] == ["inbound points elsewhere"]
    assert problems[bare["sid"]] == ["inbound lacks the connection overrides"]
    assert problems[default_url["sid"]] == ["inbound points elsewhere"]
    table = ok(stack, tenant.token, args=("numbers", "list", "--tenant", tenant.name))
    assert "inbound points elsewhere" in table and "inbound lacks the connection overrides" in table
    assert all(item[-4:] in table and item not in table for item in (elsewhere["phone_number"], bare["phone_number"]))

"""Tenants in process: the cache's bounds, and every route scoped to its tenant.

moto stands in for DynamoDB and SSM (the tenants table and the SecureStrings); the outbound
cases send through the in-process Twilio sandbox. Signatures come from Twilio's
RequestValidator (tests.support.forms.sign).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from carrier_core.logs import JsonFormatter
from carrier_core.webhook import loggable_url, with_overrides
from carrier_core.errors import AccountMismatch, InvalidSignature, TenantNotFound
from carrier_core.models import FailedMessageModel, IdempotencyModel, MessageModel, OptOutModel, TenantModel
from carrier_core.settings import Settings, TwilioAccount
from carrier_core.tenants import (
    CACHE_SECONDS,
    MAX_CACHED,
    REFRESH_SECONDS,
    UNKNOWN_SECONDS,
    TenantDirectory,
    read_tenant_webhook,
    scoped,
    unscoped,
    webhook_url,
)
from tests.support.forms import BUSINESS, CUSTOMER, new_sid, replace, sms
from tests.support.inbound_app import UNIT_ENV
from tests.support.outbound import SENDER, Outbound, opt_out, outbound, twilio  # noqa: F401
from tests.support.sandbox import ACCOUNT_SID, API_KEYS, AUTH_TOKEN
from tests.support.webhooks import WebhookHarness, signed_form, webhook_harness

ACME_ACCOUNT = "AC" + "a" * 32
ACME_SUB = "AC" + "b" * 32
ACME_TOKEN = "acme-auth-token-000000000000000"
ORIGIN = "https://carrier.example.com"
PREFIX = "/omni-twilio/dev/tenants/"


def register(tenant: str, account_sid: str, token: str, senders: set[str], **secrets: str) -> None:
    """A tenant as `omni-twilio tenants add` leaves it: the table item and the SecureStrings."""
    TenantModel(
        tenant,
        account_sid=account_sid,
        api_key_sid=secrets.pop("api_key_sid", None),
        senders=senders,
        subaccounts={ACME_SUB} if tenant == "acme" else None,
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
    ).save()
    ssm = boto3.client("ssm", region_name="us-east-1")
    for name, value in {"auth-token": token, **{k.replace("_", "-"): v for k, v in secrets.items()}}.items():
        ssm.put_parameter(Name=f"{PREFIX}{tenant}/{name}", Value=value, Type="SecureString", Overwrite=True)


# ---- the cache ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def directory() -> tuple[TenantDirectory, Clock, list[str]]:
    settings = Settings.from_env("inbound", {**UNIT_ENV, "INBOUND_WEBHOOK_URL": f"{ORIGIN}/twilio/inbound"})
    loads: list[str] = []
    clock = Clock()

    def load(tenant: str) -> TwilioAccount | None:
        loads.append(tenant)
        if tenant.startswith("ghost"):
            return None
        return TwilioAccount(tenant=tenant, account_sid=ACME_ACCOUNT, auth_token=f"token-{len(loads)}")

    return TenantDirectory(settings, load=load, clock=clock), clock, loads


def test_a_tenant_is_read_once_then_served_from_the_cache_until_it_expires(directory: Any) -> None:
    tenants, clock, loads = directory
    assert tenants.account("acme").auth_token == "token-1"
    clock.now += CACHE_SECONDS - 1
    assert tenants.account("acme").auth_token == "token-1"
    assert loads == ["acme"]
    clock.now += 2
    assert tenants.account("acme").auth_token == "token-2"


def test_unknown_tenants_are_remembered_and_malformed_ids_never_read(directory: Any) -> None:
    tenants, clock, loads = directory
    assert tenants.account("ghost") is None
    assert tenants.account("ghost") is None
    assert tenants.account("Not_A_Tenant") is None
    assert tenants.account("x" * 64) is None
    assert loads == ["ghost"]
    clock.now += UNKNOWN_SECONDS + 1
    assert tenants.account("ghost") is None
    assert loads == ["ghost", "ghost"]


def test_a_refresh_rereads_at_most_once_per_interval(directory: Any) -> None:
    tenants, clock, loads = directory
    tenants.account("acme")
    # A flood of forged signatures right after the read: no re-read at all.
    assert all(tenants.refresh("acme") is None for _ in range(100))
    clock.now += REFRESH_SECONDS
    assert tenants.refresh("acme").auth_token == "token-2"
    assert all(tenants.refresh("acme") is None for _ in range(100))
    assert loads == ["acme", "acme"]


def test_the_cache_holds_at_most_max_cached_tenants(directory: Any) -> None:
    tenants, _, loads = directory
    for n in range(MAX_CACHED + 10):
        tenants.account(f"t{n}")
    assert len(tenants._cache) == MAX_CACHED
    tenants.account("t0")  # evicted first, so read again
    assert loads.count("t0") == 2


def test_the_default_tenant_is_the_environment_with_tenant_urls_and_no_reads(directory: Any) -> None:
    tenants, _, loads = directory
    account = tenants.account("default")
    assert account.auth_token == UNIT_ENV["TWILIO_AUTH_TOKEN"]
    assert account.inbound_webhook_url == f"{ORIGIN}/twilio/default/inbound"
    assert tenants.settings_for("default") is tenants.settings
    assert loads == []
    with pytest.raises(TenantNotFound):
        tenants.settings_for("ghost")


def test_read_tenant_webhook_refuses_unknown_tenants_like_a_bad_signature_and_checks_the_account(directory: Any) -> None:
    tenants, clock, _ = directory

    def form(account: str) -> Any:
        return lambda _: [("AccountSid", account)]

    with pytest.raises(InvalidSignature) as unknown:
        read_tenant_webhook(tenants, "ghost", form(ACME_ACCOUNT))
    assert unknown.value.to_body() == InvalidSignature("X-Twilio-Signature does not match the request").to_body()
    with pytest.raises(AccountMismatch):
        read_tenant_webhook(tenants, "acme", form("AC" + "c" * 32))
    account, _ = read_tenant_webhook(tenants, "acme", form(ACME_ACCOUNT))
    assert account.tenant == "acme"

    # A signature that fails with the cached token is checked once more with a fresh read.
    clock.now += REFRESH_SECONDS
    stale = account.auth_token
    tokens: list[str] = []

    def rotated(account: TwilioAccount) -> Any:
        tokens.append(account.auth_token)
        if account.auth_token == stale:
            raise InvalidSignature("stale")
        return [("AccountSid", ACME_ACCOUNT)]

    read_tenant_webhook(tenants, "acme", rotated)
    assert len(tokens) == 2 and tokens[0] == stale != tokens[1]


def test_scoped_keys_never_meet_across_tenants() -> None:
    assert scoped("default", "+15005550006") == "+15005550006"
    assert scoped("acme", "+15005550006") == "acme/+15005550006"
    assert unscoped("acme", scoped("acme", "MG" + "0" * 32)) == "MG" + "0" * 32
    assert scoped("acme", "k") != scoped("globex", "k") != scoped("default", "k")


# ---- the webhooks, in process over moto -----------------------------------------------

TENANT_ENV = {**UNIT_ENV, "INBOUND_WEBHOOK_URL": f"{ORIGIN}/twilio/inbound", "STATUS_WEBHOOK_URL": f"{ORIGIN}/twilio/status"}


@pytest.fixture(params=["inbound", "status"])
def webhook(request: pytest.FixtureRequest) -> Iterator[WebhookHarness]:
    with webhook_harness(request.param, TENANT_ENV, f"{ORIGIN}/twilio/{request.param}", UNIT_ENV["TWILIO_AUTH_TOKEN"]) as harness:
        register("acme", ACME_ACCOUNT, ACME_TOKEN, {BUSINESS})
        yield harness


def form_for(service: str, sid: str, account: str = ACME_ACCOUNT, **extra: str) -> list[tuple[str, str]]:
    if service == "inbound":
        return replace(sms(sid=sid, **extra), AccountSid=account)
    pairs = [("MessageSid", sid), ("MessageStatus", "delivered"), ("AccountSid", account), ("From", BUSINESS), ("To", CUSTOMER)]
    return replace(pairs, **extra) if extra else pairs


def post_tenant(harness: WebhookHarness, tenant: str, pairs: list[tuple[str, str]], token: str, signed_for: str | None = None) -> Any:
    path = f"/twilio/{tenant}/{harness.service}"
    body, headers = signed_form(signed_for or ORIGIN + path, pairs, token)
    return harness.client.http.post(path, headers=headers, body=body)


def item(sid: str) -> MessageModel | None:
    try:
        return MessageModel.get(sid, consistent_read=True)
    except MessageModel.DoesNotExist:
        return None


def tenant_of_item(sid: str) -> str | None:
    stored = item(sid)
    assert stored is not None, f"{sid} was not stored"
    return stored.tenant


def test_a_tenant_webhook_signed_with_its_token_is_stored_as_the_tenants(webhook: WebhookHarness) -> None:
    sid = new_sid()
    answer = post_tenant(webhook, "acme", form_for(webhook.service, sid), ACME_TOKEN)
    assert answer.status_code in (200, 204), answer.body
    assert tenant_of_item(sid) == "acme"
    # A subaccount registered for it is the tenant's too.
    sub = new_sid()
    assert post_tenant(webhook, "acme", form_for(webhook.service, sub, account=ACME_SUB), ACME_TOKEN).status_code in (200, 204)
    assert tenant_of_item(sub) == "acme"


@pytest.mark.parametrize(
    ("case", "tenant", "token", "account", "code"),
    [
        ("the default tenant's token", "acme", UNIT_ENV["TWILIO_AUTH_TOKEN"], ACME_ACCOUNT, "invalid_signature"),
        ("an unknown tenant", "globex", ACME_TOKEN, ACME_ACCOUNT, "invalid_signature"),
        ("a malformed tenant", "Acme_Corp", ACME_TOKEN, ACME_ACCOUNT, "invalid_signature"),
        ("another account, signed with the tenant's token", "acme", ACME_TOKEN, "AC" + "c" * 32, "account_mismatch"),
        ("the tenant's token on the default tenant", "default", ACME_TOKEN, ACME_ACCOUNT, "invalid_signature"),
    ],
)
def test_a_tenant_webhook_is_refused_and_nothing_stored(
    webhook: WebhookHarness, case: str, tenant: str, token: str, account: str, code: str
) -> None:
    sid = new_sid()
    answer = post_tenant(webhook, tenant, form_for(webhook.service, sid, account=account), token)
    assert (answer.status_code, json.loads(answer.body)["error"]["code"]) == (403, code), case
    assert item(sid) is None


def test_a_refused_signature_logs_the_url_it_was_checked_against(webhook: WebhookHarness, caplog: pytest.LogCaptureFixture) -> None:
    # A webhook signed for a tunnel's URL, posted to a stack configured with another one: the
    # log names the URL the signature was checked against, never the token or the signature.
    tunnel = "https://my-tunnel.example.app"
    caplog.set_level(logging.INFO)
    body, headers = signed_form(f"{tunnel}/twilio/acme/{webhook.service}", form_for(webhook.service, new_sid()), ACME_TOKEN)
    assert webhook.client.http.post(f"/twilio/acme/{webhook.service}", headers=headers, body=body).status_code == 403
    body, plain = signed_form(f"{tunnel}/twilio/{webhook.service}", form_for(webhook.service, new_sid()), webhook.token)
    assert webhook.client.http.post(f"/twilio/{webhook.service}", headers=plain, body=body).status_code == 403
    refused = [r for r in caplog.records if r.getMessage() == "webhook signature refused"]
    checked = [(r.webhook, r.checked_url) for r in refused]  # type: ignore[attr-defined]
    assert checked == [
        (webhook.service, f"{ORIGIN}/twilio/acme/{webhook.service}"),
        (webhook.service, f"{ORIGIN}/twilio/{webhook.service}"),
    ]
    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for secret in (ACME_TOKEN, webhook.token, headers["X-Twilio-Signature"], plain["X-Twilio-Signature"]):
        assert secret not in text
    # A signature that matches logs nothing of the kind: the hot path pays for no log line.
    caplog.clear()
    assert post_tenant(webhook, "acme", form_for(webhook.service, new_sid()), ACME_TOKEN).status_code in (200, 204)
    assert not [r for r in caplog.records if r.getMessage() == "webhook signature refused"]


def test_a_logged_url_never_carries_credentials() -> None:
    assert loggable_url("https://user:secret@carrier.example.com:8443/twilio/inbound?a=1#rc=3") == (
        "https://carrier.example.com:8443/twilio/inbound?a=1"
    )
    assert loggable_url(None) is None


def test_an_unknown_tenant_is_answered_exactly_as_a_bad_signature(webhook: WebhookHarness) -> None:
    unknown = post_tenant(webhook, "globex", form_for(webhook.service, new_sid()), ACME_TOKEN)
    forged = post_tenant(webhook, "acme", form_for(webhook.service, new_sid()), "not-the-token")
    assert (unknown.status_code, unknown.body) == (forged.status_code, forged.body)


def test_a_rotated_token_is_accepted_at_once_and_forgeries_cost_one_read(webhook: WebhookHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    assert post_tenant(webhook, "acme", form_for(webhook.service, new_sid()), ACME_TOKEN).status_code in (200, 204)
    tenants = webhook.app.runtime.tenants
    # The last read is older than the refresh interval (moved back rather than waited for).
    tenants._cache["acme"] = (tenants._cache["acme"][0] - REFRESH_SECONDS, tenants._cache["acme"][1])
    register("acme", ACME_ACCOUNT, "acme-rotated-token-0000000000000", {BUSINESS}, secondary_auth_token=ACME_TOKEN)
    reads = tenants.reads
    rotated = new_sid()
    assert post_tenant(webhook, "acme", form_for(webhook.service, rotated), "acme-rotated-token-0000000000000").status_code in (200, 204)
    assert tenant_of_item(rotated) == "acme"
    assert tenants.reads == reads + 1
    for _ in range(20):
        assert post_tenant(webhook, "acme", form_for(webhook.service, new_sid()), "forged").status_code == 403
    assert tenants.reads == reads + 1
    # The old token, kept as the secondary, still works.
    assert post_tenant(webhook, "acme", form_for(webhook.service, new_sid()), ACME_TOKEN).status_code in (200, 204)


def test_a_warm_tenant_webhook_makes_only_its_one_write(webhook: WebhookHarness) -> None:
    post_tenant(webhook, "acme", form_for(webhook.service, new_sid()), ACME_TOKEN)
    webhook.calls.clear()
    post_tenant(webhook, "acme", form_for(webhook.service, new_sid()), ACME_TOKEN)
    assert sum(webhook.calls.values()) == 1, webhook.calls
    assert "GetItem" not in webhook.calls


def test_a_stop_to_one_tenant_does_not_stop_another() -> None:
    with webhook_harness("inbound", TENANT_ENV, f"{ORIGIN}/twilio/inbound", UNIT_ENV["TWILIO_AUTH_TOKEN"]) as inbound:
        register("acme", ACME_ACCOUNT, ACME_TOKEN, {BUSINESS})
        assert post_tenant(inbound, "acme", form_for("inbound", new_sid(), Body="STOP"), ACME_TOKEN).status_code == 200
        records = {(o.sender, o.tenant, o.opted_out) for o in OptOutModel.scan()}
        assert records == {(f"acme/{BUSINESS}", "acme", True)}
        with pytest.raises(OptOutModel.DoesNotExist):
            OptOutModel.get(CUSTOMER, BUSINESS)  # the default tenant's sender: untouched


# ---- the outbound API ------------------------------------------------------------

API_KEY_SID, API_KEY_SECRET = next(iter(API_KEYS.items()))


@pytest.fixture
def tenant_outbound(outbound: Outbound) -> Outbound:
    # acme's account is the sandbox's, reached with its API key; the default tenant uses the token.
    register("acme", ACCOUNT_SID, AUTH_TOKEN, {SENDER}, api_key_sid=API_KEY_SID, api_key_secret=API_KEY_SECRET)
    return outbound


def send(outbound: Outbound, tenant: str, payload: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    return outbound.client.http.post(f"/tenants/{tenant}/messages", headers=headers, body=json.dumps(payload))


def error_of(answer: Any) -> tuple[int, str]:
    return answer.status_code, json.loads(answer.body)["error"]["code"]


def test_a_tenant_send_uses_its_key_its_status_url_and_is_its_own(tenant_outbound: Outbound) -> None:
    answer = send(tenant_outbound, "acme", {"to": CUSTOMER, "body": "hello"})
    assert answer.status_code == 202, answer.body
    message = json.loads(answer.body)
    assert message["tenant"] == "acme"
    assert tenant_outbound.twilio.auth_users == [API_KEY_SID]
    assert tenant_outbound.twilio.forms()[0]["StatusCallback"] == with_overrides("https://status.example.com/twilio/acme/status")
    assert MessageModel.get(message["sid"]).tenant == "acme"
    own = tenant_outbound.client.http.get(f"/tenants/acme/messages/{message['sid']}")
    assert (own.status_code, json.loads(own.body)["tenant"]) == (200, "acme")
    # The default tenant, and any other, get exactly what an unknown SID gets.
    unknown = tenant_outbound.get("SM" + "f" * 32)
    other = tenant_outbound.get(message["sid"])
    assert (other.status_code, other.body) == (404, unknown.body.replace(b"f" * 32, message["sid"][2:].encode()))
    register("globex", ACCOUNT_SID, AUTH_TOKEN, {SENDER})
    assert error_of(tenant_outbound.client.http.get(f"/tenants/globex/messages/{message['sid']}")) == (404, "message_not_found")


def test_a_tenant_send_is_refused_for_an_unknown_tenant_or_an_unregistered_sender(tenant_outbound: Outbound) -> None:
    assert error_of(send(tenant_outbound, "globex", {"to": CUSTOMER, "body": "x"})) == (404, "tenant_not_found")
    assert error_of(send(tenant_outbound, "Not_A_Tenant", {"to": CUSTOMER, "body": "x"})) == (404, "tenant_not_found")
    assert error_of(send(tenant_outbound, "acme", {"to": CUSTOMER, "from": "+15005550007", "body": "x"})) == (403, "sender_not_allowed")
    service = "MG" + "1" * 32
    assert error_of(send(tenant_outbound, "acme", {"to": CUSTOMER, "messaging_service_sid": service, "body": "x"})) == (
        403,
        "sender_not_allowed",
    )
    assert tenant_outbound.twilio.requests == []
    assert not list(MessageModel.scan()) and not list(FailedMessageModel.scan())


def test_the_same_idempotency_key_in_two_tenants_makes_two_messages(tenant_outbound: Outbound) -> None:
    first = tenant_outbound.post({"to": CUSTOMER, "body": "same"}, key="order-1")
    second = send(tenant_outbound, "acme", {"to": CUSTOMER, "body": "same"}, key="order-1")
    assert first.status_code == second.status_code == 202
    assert "Idempotent-Replayed" not in second.headers
    assert json.loads(first.body)["sid"] != json.loads(second.body)["sid"]
    replay = send(tenant_outbound, "acme", {"to": CUSTOMER, "body": "same"}, key="order-1")
    assert json.loads(replay.body)["sid"] == json.loads(second.body)["sid"]
    assert {k.key for k in IdempotencyModel.scan()} == {"order-1", "acme/order-1"}
    assert len(tenant_outbound.twilio.requests) == 2


def test_an_opt_out_in_one_tenant_does_not_refuse_another_tenants_send(tenant_outbound: Outbound) -> None:
    opt_out(CUSTOMER, SENDER)  # the default tenant's customer replied STOP to this number
    assert error_of(tenant_outbound.post({"to": CUSTOMER, "body": "x"})) == (403, "recipient_opted_out")
    assert send(tenant_outbound, "acme", {"to": CUSTOMER, "body": "x"}).status_code == 202
    opt_out(CUSTOMER, scoped("acme", SENDER))
    assert error_of(send(tenant_outbound, "acme", {"to": CUSTOMER, "body": "x"})) == (403, "recipient_opted_out")


def test_a_tenant_send_kept_for_retry_is_retried_with_the_tenants_account(tenant_outbound: Outbound) -> None:
    tenant_outbound.twilio.fail(503, count=10)
    kept = send(tenant_outbound, "acme", {"to": CUSTOMER, "body": "later"})
    assert kept.status_code == 202, kept.body
    retry_id = json.loads(kept.body)["sid"]
    assert FailedMessageModel.get(retry_id).tenant == "acme"
    assert error_of(tenant_outbound.get(retry_id)) == (404, "message_not_found")
    tenant_outbound.twilio.clear()
    from chalicelib import worker

    settings = tenant_outbound.settings()
    tenants = tenant_outbound.app.runtime.tenants
    report = worker.retry_due(settings, tenant_outbound.app.policy, lambda: 60.0, now=2_000_000_000, tenants=tenants)
    assert report.sent == [retry_id]
    assert tenant_outbound.twilio.auth_users[-1] == API_KEY_SID
    sent = json.loads(tenant_outbound.client.http.get(f"/tenants/acme/messages/{retry_id}").body)
    assert sent["tenant"] == "acme" and sent["sid"].startswith("SM")


def test_settings_for_a_tenant_replace_only_its_account(tenant_outbound: Outbound) -> None:
    tenants = tenant_outbound.app.runtime.tenants
    acme = tenants.settings_for("acme")
    assert dataclasses.replace(acme, account=tenant_outbound.settings().account) == tenant_outbound.settings()
    assert acme.account.rest_credentials == (API_KEY_SID, API_KEY_SECRET)
    assert acme.account.default_from_number == SENDER


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("https://carrier.example.com/twilio/inbound", "https://carrier.example.com/twilio/acme/inbound"),
        (
            "https://abc.execute-api.us-east-1.amazonaws.com/dev/twilio/inbound",
            "https://abc.execute-api.us-east-1.amazonaws.com/dev/twilio/acme/inbound",
        ),
        ("http://127.0.0.1:8001/twilio/inbound?x=1", "http://127.0.0.1:8001/twilio/acme/inbound"),
        ("https://carrier.example.com:8443/hooks", "https://carrier.example.com:8443/twilio/acme/inbound"),
    ],
)
def test_a_tenants_webhook_url_keeps_the_configured_urls_base_path(configured: str, expected: str) -> None:
    assert webhook_url(configured, "acme", "inbound") == expected

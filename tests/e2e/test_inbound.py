"""The inbound webhook end to end: signed as Twilio signs, over HTTP, into DynamoDB Local."""

from __future__ import annotations

import http.client
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.support.apps import ROOT
from tests.support.forms import BUSINESS, CUSTOMER, drop, mms, new_sid, replace, sign, sms, whatsapp
from tests.support.stack import FORM_HEADERS, RunningStack

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def stored(stack: RunningStack, sid: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = stack.table().get_item(Key={"sid": sid}, ConsistentRead=True).get("Item")
    return item


def inserts_for(stack: RunningStack, sid: str) -> list[dict[str, Any]]:
    return [r for r in stack.stream_records() if r["eventName"] == "INSERT" and r["dynamodb"]["Keys"]["sid"]["S"] == sid]


def test_signed_sms_is_stored_and_readable(stack: RunningStack) -> None:
    form = sms(body="Hi, is my order shipped?")
    sid = dict(form)["MessageSid"]
    response = stack.post_webhook("inbound", form)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.text == EMPTY_TWIML
    message = stack.get_message(sid).json()
    assert message["sid"] == sid
    assert message["direction"] == "inbound"
    assert message["channel"] == "sms"
    assert (message["from"], message["to"]) == (CUSTOMER, BUSINESS)
    assert message["body"] == "Hi, is my order shipped?"
    assert message["status"] == "received"
    assert message["media"] == []
    assert message["error_code"] is None and message["error"] is None
    assert [h["status"] for h in message["history"]] == ["received"]
    assert message["created_at"].endswith("Z") and message["updated_at"].endswith("Z")
    assert message["geo"]["FromCity"] == "SAN FRANCISCO"


def test_mms_with_two_media_is_readable_with_every_item(stack: RunningStack) -> None:
    form = mms(count=2)
    fields = dict(form)
    response = stack.post_webhook("inbound", form)
    assert response.status_code == 200
    message = stack.get_message(fields["MessageSid"]).json()
    assert message["channel"] == "mms"
    # Twilio's URLs here lead nowhere the stack can reach: the re-host marks them failed
    # (tests/e2e/test_media.py follows items that can be copied).
    assert [(m["url"], m["content_type"], m["stored_url"]) for m in message["media"]] == [
        (fields["MediaUrl0"], "image/jpeg", None),
        (fields["MediaUrl1"], "image/png", None),
    ]
    assert {m["status"] for m in message["media"]} <= {"pending", "failed"}


def test_whatsapp_keeps_profile_and_prefix(stack: RunningStack) -> None:
    form = whatsapp()
    assert stack.post_webhook("inbound", form).status_code == 200
    message = stack.get_message(dict(form)["MessageSid"]).json()
    assert message["channel"] == "whatsapp"
    assert message["from"] == "whatsapp:" + CUSTOMER
    assert (message["profile_name"], message["wa_id"]) == ("Zoë", CUSTOMER.lstrip("+"))


def _tampered(form: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return replace(form, Body="tampered after signing")


BAD_SIGNATURES = {
    "missing": lambda stack, form: stack.post_webhook("inbound", form, signature=""),
    "garbage": lambda stack, form: stack.post_webhook("inbound", form, signature="bm90IGEgc2lnbmF0dXJl"),
    "other token": lambda stack, form: stack.post_webhook("inbound", form, token="someone-elses-token"),
    "other url": lambda stack, form: stack.post_webhook("inbound", form, signed_url="https://attacker.example/twilio/inbound"),
    "tampered": lambda stack, form: stack.http.post(
        stack.webhook_url("inbound"),
        data=_encode(_tampered(form)),
        headers={**FORM_HEADERS, "X-Twilio-Signature": sign(stack.webhook_url("inbound"), form, _token())},
    ),
}


def _encode(pairs: list[tuple[str, str]]) -> bytes:
    from tests.support.forms import encode

    return encode(pairs).encode()


def _token() -> str:
    from carrier_core.settings import LOCAL_AUTH_TOKEN

    return LOCAL_AUTH_TOKEN


@pytest.mark.parametrize("case", sorted(BAD_SIGNATURES))
def test_bad_signature_is_403_and_stores_nothing(stack: RunningStack, case: str) -> None:
    form = sms()
    response = BAD_SIGNATURES[case](stack, form)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    assert response.json()["error"]["retryable"] is False
    assert stored(stack, dict(form)["MessageSid"]) is None


@pytest.mark.parametrize("query", ["?flag", "?flag=", "?tenant=acme&flag", "?flag&tenant=acme"])
def test_a_webhook_url_with_a_query_of_its_own_validates_as_twilio_signed_it(stack: RunningStack, query: str) -> None:
    """The number's webhook URL is INBOUND_WEBHOOK_URL plus a query; Twilio signs it as
    configured, a bare flag without its `=`."""
    form = sms()
    response = stack.post_webhook("inbound", form, query=query)
    assert response.status_code == 200, response.text
    assert stored(stack, dict(form)["MessageSid"]) is not None


def test_eight_concurrent_duplicates_store_one_item_and_one_insert(stack: RunningStack) -> None:
    form = sms(body="sent once, delivered eight times")
    sid = dict(form)["MessageSid"]
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: stack.post_webhook("inbound", form, headers={"I-Twilio-Idempotency-Token": sid}), range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert all(r.text == EMPTY_TWIML for r in responses)
    assert stored(stack, sid) is not None
    assert len(inserts_for(stack, sid)) == 1
    assert not [r for r in stack.stream_records() if r["dynamodb"]["Keys"]["sid"]["S"] == sid and r["eventName"] != "INSERT"]


@pytest.mark.parametrize(
    ("label", "form", "code"),
    [
        ("no MessageSid", drop(sms(), "MessageSid", "SmsMessageSid", "SmsSid"), "missing_field"),
        ("no From", drop(sms(), "From"), "missing_field"),
        ("no To", drop(sms(), "To"), "missing_field"),
        ("NumMedia too high", replace(mms(count=1), NumMedia="2"), "media_mismatch"),
        ("NumMedia too low", replace(mms(count=2), NumMedia="1"), "media_mismatch"),
        ("bad sid", replace(sms(), MessageSid="not-a-sid", SmsMessageSid="not-a-sid"), "invalid_field"),
    ],
)
def test_malformed_form_is_400_with_a_code(stack: RunningStack, label: str, form: list[tuple[str, str]], code: str) -> None:
    response = stack.post_webhook("inbound", form)
    assert response.status_code == 400, label
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    sid = dict(form).get("MessageSid")
    if sid and sid.startswith(("SM", "MM")):
        assert stored(stack, sid) is None


def test_two_megabyte_body_is_413_and_service_keeps_serving(stack: RunningStack) -> None:
    form = sms(body="x" * (2 * 1024 * 1024))
    response = stack.post_webhook("inbound", form)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert stored(stack, dict(form)["MessageSid"]) is None
    assert stack.post_webhook("inbound", sms()).status_code == 200


def test_600_distinct_webhooks_from_16_threads_are_all_stored(stack: RunningStack) -> None:
    forms = [sms(body=f"message {i}") for i in range(600)]
    url = stack.webhook_url("inbound")
    local = threading.local()

    def post(form: list[tuple[str, str]]) -> int:
        # One keep-alive connection per thread, as Twilio's senders reuse theirs; chalice
        # local's listen backlog is 5, so 16 threads opening a socket per request would
        # measure the dev server's accept queue rather than the service.
        if not hasattr(local, "session"):
            local.session = requests.Session()
        headers = {**FORM_HEADERS, "X-Twilio-Signature": sign(url, form, _token())}
        return int(local.session.post(url, data=_encode(form), headers=headers, timeout=60).status_code)

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(post, forms))
    assert statuses == [200] * 600
    table = stack.table()
    missing = [f for f in forms if "Item" not in table.get_item(Key={"sid": dict(f)["MessageSid"]})]
    assert missing == []


# DynamoDB Local (Jetty) closes a connection that stayed idle for 30 s.
DYNAMODB_LOCAL_IDLE_SECONDS = 30


def test_2000_webhooks_from_32_callers_each_on_a_new_connection_after_an_idle_spell_are_all_200(stack: RunningStack) -> None:
    """After the stack sat idle long enough for DynamoDB Local to close its end of the proxy's
    kept-alive connections, a burst of webhooks, each on a new connection, must meet no failure
    the local stack makes up: every webhook 200, each with exactly one PutItem (a 503 from the
    proxy shows as botocore's retry, and two in a row as a 503 to Twilio).

    100 messages, each posted 20 times (Twilio's retries are duplicates too): every copy is
    one conditional PutItem through the proxy, new or not, and the stack fixture's audit of the
    published events reads 100 events rather than 2,000."""
    url = stack.webhook_url("inbound")
    port = int(stack.url("inbound").rsplit(":", 1)[1])
    token = _token()
    forms = [sms(body=f"burst {i}") for i in range(100)]
    burst = []
    for form in forms * 20:
        headers = {**FORM_HEADERS, "X-Twilio-Signature": sign(url, form, token), "Connection": "close"}
        burst.append((_encode(form), headers))

    def post(request: tuple[bytes, dict[str, str]]) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("POST", "/twilio/inbound", body=request[0], headers=request[1])
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(32) as pool:
        assert set(pool.map(post, burst[:64])) == {200}  # the service's DynamoDB connections are open
        time.sleep(DYNAMODB_LOCAL_IDLE_SECONDS + 2)
        stack.start_count()
        statuses = Counter(pool.map(post, burst))
    assert (statuses, stack.dynamodb_requests()) == ({200: 2000}, {"DynamoDB_20120810.PutItem": 2000})
    table = stack.table()
    assert [f for f in forms if "Item" not in table.get_item(Key={"sid": dict(f)["MessageSid"]})] == []


def optout_state(stack: RunningStack, phone: str, sender: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = stack.table("optouts").get_item(Key={"phone": phone, "sender": sender}, ConsistentRead=True).get("Item")
    return item


def test_stop_then_start_flips_opt_out_state(stack: RunningStack) -> None:
    customer = "+15005551234"
    assert stack.post_webhook("inbound", sms(body=" stop ", From=customer)).status_code == 200
    state = optout_state(stack, customer, BUSINESS)
    assert state is not None and state["opted_out"] is True and state["keyword"] == "STOP"
    assert stack.post_webhook("inbound", sms(body="Start", From=customer)).status_code == 200
    state = optout_state(stack, customer, BUSINESS)
    assert state is not None and state["opted_out"] is False and state["keyword"] == "START"


def test_stop_through_a_messaging_service_opts_out_of_both(stack: RunningStack) -> None:
    customer = "+15005551235"
    service = new_sid("MG")
    assert stack.post_webhook("inbound", sms(body="UNSUBSCRIBE", From=customer, MessagingServiceSid=service)).status_code == 200
    for sender in (BUSINESS, service):
        state = optout_state(stack, customer, sender)
        assert state is not None and state["opted_out"] is True


def test_help_changes_no_opt_out_state(stack: RunningStack) -> None:
    customer = "+15005551236"
    assert stack.post_webhook("inbound", sms(body="help", From=customer)).status_code == 200
    assert optout_state(stack, customer, BUSINESS) is None


def test_one_dynamodb_request_per_webhook_duplicate_or_not(stack: RunningStack) -> None:
    form = sms()
    stop = sms(body="STOP", From="+15005551237")
    stack.start_count()
    for payload in (form, form, stop, stop):
        assert stack.post_webhook("inbound", payload).status_code == 200
    counts = stack.dynamodb_requests(reset=True)
    # The STOP wakes the opt-out cancels, whenever the poller reaches its stream record: in AWS
    # a function of its own, here the outbound service's local route. Its Query of the
    # `scheduled` index is not the webhook's request (the webhooks never Query).
    counts.pop("DynamoDB_20120810.Query", None)
    assert counts == {"DynamoDB_20120810.PutItem": 2, "DynamoDB_20120810.TransactWriteItems": 2}


def test_logs_hold_no_numbers_bodies_or_token(stack: RunningStack) -> None:
    secret_body = "my card number is 4111"
    stack.post_webhook("inbound", sms(body=secret_body, From="+15005559876"))
    stack.post_webhook("inbound", sms(body="STOP", From="+15005559877"))
    stack.post_webhook("inbound", sms(), token="wrong-token")
    log = stack.log_text()
    assert "inbound" in log
    for forbidden in (secret_body, "+15005559876", "5005559877", _token()):
        assert forbidden not in log


def test_health_is_200_on_every_service(stack: RunningStack) -> None:
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    for service in ("inbound", "status", "outbound"):
        response = stack.http.get(stack.url(service, "/health"), timeout=10)
        assert response.status_code == 200, service
        assert all(state == "ACTIVE" for state in response.json()["tables"].values())
        # The local stack runs the working tree: /health says which (carrier_core.version).
        assert response.json()["version"] == described, service


def test_unknown_message_is_404(stack: RunningStack) -> None:
    response = stack.get_message(new_sid())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "message_not_found"

"""Never twice: a lost answer is searched for before any retry, an accepted send never
becomes an error, Twilio's 21610 is remembered, and REST calls use the API key."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from carrier_core.webhook import with_overrides
from carrier_core.metrics import Fact
from carrier_core.settings import Settings
from carrier_core.models import FailedMessageModel, IdempotencyModel, MessageModel, OptOutModel, iso
from tests.support.sandbox import ACCOUNT_SID, API_KEYS
from tests.support.outbound import CUSTOMER, SENDER, Outbound, create_at_twilio, outbound, stored, twilio  # noqa: F401
from tests.support.webhooks import count_dynamodb_requests


def body_of(response: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(response.body)
    return payload


@pytest.fixture
def short_read_timeout(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A 0.3 s read timeout, so an answer held for a second is lost as Twilio's slow answer would be."""
    client = sys.modules["chalicelib.twilio_client"]
    monkeypatch.setattr(client, "READ_TIMEOUT", 0.3)
    client.reset_client()
    yield
    client.reset_client()


@dataclass(frozen=True)
class Lost:
    label: str
    status: int  # what the create answers once it created the message (201: the answer is late)
    delay: float


LOST_ANSWERS = [
    Lost("answer delayed past the read timeout", 201, 1.0),
    Lost("500 after creating", 500, 0.0),
    Lost("503 after creating", 503, 0.0),
]


@pytest.mark.parametrize("case", LOST_ANSWERS, ids=lambda c: c.label)
@pytest.mark.parametrize("key", [None, "lost-answer-1"], ids=["no key", "with key"])
def test_a_lost_answer_is_found_and_adopted_not_sent_again(
    case: Lost, key: str | None, outbound: Outbound, short_read_timeout: None
) -> None:
    outbound.twilio.fail(case.status, delay=case.delay, after_create=True)
    payload = {"to": CUSTOMER, "body": "exactly once", "media_urls": ["https://example.com/a.jpg"]}
    response = outbound.post(payload, key=key)
    assert response.status_code == 202
    (created,) = outbound.twilio.created
    message = body_of(response)
    assert (message["sid"], message["status"]) == (created["sid"], "queued")
    assert len(outbound.twilio.requests) == 1
    (search,) = outbound.twilio.lists
    assert (search["To"], search["From"]) == (CUSTOMER, SENDER) and "DateSent>" in search
    item = stored(created["sid"])
    assert item is not None and item.body == "exactly once"
    assert list(FailedMessageModel.scan()) == []
    if key is not None:
        assert body_of(outbound.post(payload, key=key))["sid"] == created["sid"]
        assert len(outbound.twilio.requests) == 1


def test_a_search_matches_body_and_media_not_just_the_recipient(outbound: Outbound) -> None:
    # Another message to the same recipient, sent just before: same number, other body.
    assert outbound.post({"to": CUSTOMER, "body": "your code is 1234"}).status_code == 202
    assert outbound.post({"to": CUSTOMER, "body": "your order", "media_urls": ["https://example.com/a.jpg"]}).status_code == 202
    outbound.twilio.fail(500)  # no message created: nothing to find
    response = outbound.post({"to": CUSTOMER, "body": "your order"})
    assert response.status_code == 202
    assert len(outbound.twilio.requests) == 4 and len(outbound.twilio.created) == 3
    assert body_of(response)["sid"] == outbound.twilio.created[-1]["sid"]


def test_429_is_retried_without_a_search(outbound: Outbound) -> None:
    outbound.twilio.fail(429, count=2)
    assert outbound.post({"to": CUSTOMER, "body": "rate limited"}).status_code == 202
    assert len(outbound.twilio.requests) == 3 and len(outbound.twilio.created) == 1
    assert outbound.twilio.lists == []


def test_an_unresolved_doubt_goes_to_the_worker_which_searches_first(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    # A budget with no room for a search after the first attempt: the doubt is stored.
    monkeypatch.setattr(outbound.app, "policy", replace(outbound.app.policy, budget_seconds=14.0))
    outbound.twilio.fail(500, after_create=True)
    response = outbound.post({"to": CUSTOMER, "body": "found later"})
    retry_id = body_of(response)["sid"]
    assert retry_id.startswith("RQ") and outbound.twilio.lists == []
    failed = FailedMessageModel.get(retry_id)
    assert failed.maybe_created is True and failed.first_attempt_at is not None
    worker = __import__("chalicelib.worker", fromlist=["retry_due"])
    report = worker.retry_due(outbound.settings(), outbound.app.policy, lambda: 60.0, now=failed.next_attempt_at + 1)
    assert report.sent == [retry_id]
    assert Fact("OutboundReconciled") in report.metrics
    (created,) = outbound.twilio.created
    assert len(outbound.twilio.requests) == 1 and len(outbound.twilio.lists) == 1
    assert FailedMessageModel.get(retry_id).message_sid == created["sid"]
    assert body_of(outbound.get(retry_id))["sid"] == created["sid"]


def test_the_worker_sends_when_its_search_finds_nothing(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbound.app, "policy", replace(outbound.app.policy, budget_seconds=14.0))
    outbound.twilio.fail(500)  # refused before creating: the search will find nothing
    retry_id = body_of(outbound.post({"to": CUSTOMER, "body": "not there yet"}))["sid"]
    worker = __import__("chalicelib.worker", fromlist=["retry_due"])
    at = FailedMessageModel.get(retry_id).next_attempt_at + 1
    assert worker.retry_due(outbound.settings(), outbound.app.policy, lambda: 60.0, now=at).sent == [retry_id]
    assert len(outbound.twilio.lists) == 1 and len(outbound.twilio.requests) == 2 and len(outbound.twilio.created) == 1


def _time_out_message_writes(outbound: Outbound) -> None:
    """Every write to the messages table (alone or in a transaction) times out, as botocore reports it."""
    table = MessageModel.Meta.table_name

    def timeout(request: Any, **_: Any) -> None:
        if f'"{table}"' in (request.body.decode() if isinstance(request.body, bytes) else str(request.body)):
            raise ReadTimeoutError(endpoint_url=request.url)

    # Each model has a client of its own; a transaction goes through one of them.
    for model in (MessageModel, OptOutModel, IdempotencyModel):
        events = model._get_connection().connection.client.meta.events
        for operation in ("UpdateItem", "TransactWriteItems"):
            events.register_first(f"before-send.dynamodb.{operation}", timeout)


def test_a_message_write_that_times_out_after_twilio_accepted_is_still_a_202(outbound: Outbound) -> None:
    _time_out_message_writes(outbound)
    payload = {"to": CUSTOMER, "body": "accepted, not stored"}
    response = outbound.post(payload, key="write-timeout-1")
    assert response.status_code == 202
    (created,) = outbound.twilio.created
    assert body_of(response)["sid"] == created["sid"]
    claim = IdempotencyModel.get("write-timeout-1")
    assert (claim.state, claim.message_sid) == ("done", created["sid"])
    # A retry with the key gets the same SID, rendered from the request while no item exists.
    replay = outbound.post(payload, key="write-timeout-1")
    assert replay.status_code == 202 and replay.headers.get("Idempotent-Replayed") == "true"
    assert (body_of(replay)["sid"], body_of(replay)["body"]) == (created["sid"], "accepted, not stored")
    assert len(outbound.twilio.requests) == 1
    assert stored(created["sid"]) is None


def test_21610_from_twilio_refuses_the_next_send_before_twilio(outbound: Outbound) -> None:
    opted_out = "+15005550004"  # Twilio's magic number: 21610 on every send
    first = outbound.post({"to": opted_out, "body": "hello"})
    assert first.status_code == 403 and body_of(first)["error"]["twilio_code"] == 21610
    record = OptOutModel.get(opted_out, SENDER)
    assert (record.opted_out, record.source, record.keyword) == (True, "twilio_21610", None)
    second = outbound.post({"to": opted_out, "body": "hello again"})
    assert second.status_code == 403 and body_of(second)["error"]["code"] == "recipient_opted_out"
    assert len(outbound.twilio.requests) == 1


def test_max_price_is_accepted_but_not_sent(outbound: Outbound) -> None:
    assert outbound.post({"to": CUSTOMER, "body": "capped", "max_price": 0.05}).status_code == 202
    (form,) = outbound.twilio.forms()
    assert "MaxPrice" not in form


def test_rest_calls_use_the_api_key_and_never_the_auth_token(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    ((key_sid, secret),) = API_KEYS.items()
    base = outbound.settings()
    settings = replace(base, account=replace(base.account, api_key_sid=key_sid, api_key_secret=secret))
    monkeypatch.setattr(outbound.app.runtime, "_settings", settings)
    client = sys.modules["chalicelib.twilio_client"]
    client.reset_client()
    outbound.twilio.fail(500, after_create=True)  # a create and a search, both authenticated
    assert outbound.post({"to": CUSTOMER, "body": "with a key"}).status_code == 202
    # The sandbox takes the key SID only with the key's secret (with the auth token it is a
    # 401, which no send survives) and names who authenticated each create and search.
    assert outbound.twilio.auth_users == [key_sid] * 2
    assert ACCOUNT_SID not in outbound.twilio.auth_users
    client.reset_client()


def test_configured_messaging_service_is_the_default_sender(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    service = "MG" + "c" * 32
    monkeypatch.setattr(outbound.app.runtime, "_settings", with_service(outbound.settings(), service))
    response = outbound.post({"to": CUSTOMER, "body": "via the service"})
    assert response.status_code == 202 and body_of(response)["from"] is None
    (form,) = outbound.twilio.forms()
    assert form["MessagingServiceSid"] == service and "From" not in form
    # Naming a sender still wins over the default.
    assert outbound.post({"to": CUSTOMER, "from": SENDER, "body": "from the number"}).status_code == 202
    assert "MessagingServiceSid" not in outbound.twilio.forms()[1]


def test_the_seed_variable_names_start_the_service(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalice.test import Client

    from tests.support.apps import load_app

    status_url = outbound.settings().account.status_webhook_url
    monkeypatch.delenv("STATUS_WEBHOOK_URL")
    monkeypatch.setenv("TWILIO_STATUS_CALLBACK_URL", str(status_url))
    monkeypatch.setenv("TWILIO_INBOUND_WEBHOOK_URL", "https://carrier.example.com/twilio/inbound")
    module = load_app("outbound")
    sys.modules["chalicelib.twilio_client"].reset_client()
    with Client(module.app, stage_name="dev") as client:
        response = client.http.post(
            "/messages", headers={"Content-Type": "application/json"}, body=json.dumps({"to": CUSTOMER, "body": "seed names"})
        )
    assert response.status_code == 202
    (form,) = outbound.twilio.forms()
    assert form["StatusCallback"] == with_overrides(str(status_url))
    monkeypatch.setenv("STATUS_WEBHOOK_URL", "https://elsewhere.example.com/twilio/status")
    with pytest.raises(Exception, match="TWILIO_STATUS_CALLBACK_URL and STATUS_WEBHOOK_URL"):
        load_app("outbound")


@pytest.mark.parametrize(
    ("key", "expected"),
    [(None, {"GetItem": 1, "UpdateItem": 1}), ("counted-1", {"TransactWriteItems": 2})],
    ids=["no key", "with key"],
)
def test_a_send_costs_two_dynamodb_requests_with_or_without_a_key(outbound: Outbound, key: str | None, expected: dict[str, int]) -> None:
    calls = count_dynamodb_requests()
    response = outbound.post({"to": CUSTOMER, "body": "counted"}, key=key)
    assert response.status_code == 202
    assert dict(calls) == expected
    assert stored(body_of(response)["sid"]) is not None
    if key is not None:
        claim = IdempotencyModel.get(key)
        assert (claim.state, claim.message_sid, claim.locked_until) == ("done", body_of(response)["sid"], None)


def test_a_keyed_send_to_an_opted_out_recipient_claims_nothing(outbound: Outbound) -> None:
    OptOutModel(CUSTOMER, SENDER, opted_out=True, keyword="STOP", message_sid="SM" + "0" * 32, updated_at="2026-01-01T00:00:00.000Z").save()
    calls = count_dynamodb_requests()
    response = outbound.post({"to": CUSTOMER, "body": "promo"}, key="opted-out-1")
    assert response.status_code == 403 and body_of(response)["error"]["code"] == "recipient_opted_out"
    assert dict(calls) == {"TransactWriteItems": 1}
    assert list(IdempotencyModel.scan()) == [] and outbound.twilio.requests == []


def _abandon(outbound: Outbound, key: str, payload: dict[str, Any]) -> None:
    """Leave `key` claimed as a request that died 30 s ago, its lease run out, would."""
    request = __import__("chalicelib.request", fromlist=["OutboundRequest"]).OutboundRequest
    fingerprint = request.from_json(json.dumps(payload).encode(), outbound.settings()).fingerprint()
    IdempotencyModel(
        key,
        request_hash=fingerprint,
        state="in_progress",
        locked_until=int(time.time()) - 1,
        created_at=iso(datetime.now(timezone.utc) - timedelta(seconds=30)),
    ).save()


@pytest.mark.parametrize("sent_before_dying", [True, False], ids=["it had sent", "it had not"])
def test_a_key_abandoned_by_a_dead_request_is_taken_over_with_a_search(outbound: Outbound, sent_before_dying: bool) -> None:
    payload = {"to": CUSTOMER, "body": "the dead request's message"}
    if sent_before_dying:  # what reached Twilio before the request died, owned by no send
        create_at_twilio(outbound.twilio, CUSTOMER, payload["body"])
    _abandon(outbound, "dead-1", payload)
    response = outbound.post(payload, key="dead-1")
    assert response.status_code == 202
    assert len(outbound.twilio.lists) == 1  # searched before sending
    (created,) = outbound.twilio.created
    assert body_of(response)["sid"] == created["sid"]
    assert len(outbound.twilio.requests) == 1
    claim = IdempotencyModel.get("dead-1")
    assert (claim.state, claim.message_sid) == ("done", created["sid"])


def test_a_live_claim_is_waited_for_not_taken_over(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = {"to": CUSTOMER, "body": "still being sent"}
    _abandon(outbound, "live-1", payload)
    IdempotencyModel("live-1").update(actions=[IdempotencyModel.locked_until.set(int(time.time()) + 60)])
    monkeypatch.setattr(outbound.app, "policy", replace(outbound.app.policy, budget_seconds=2.5))
    response = outbound.post(payload, key="live-1")
    assert (response.status_code, body_of(response)["error"]["code"]) == (409, "idempotency_in_progress")
    assert outbound.twilio.requests == [] and outbound.twilio.lists == []


def with_service(settings: Settings, service: str) -> Settings:
    """`settings` whose account sends through the messaging service `service` by default."""
    return replace(settings, account=replace(settings.account, default_messaging_service_sid=service))

"""Warm handlers in process against DynamoDB Local, each against the raw requests it makes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from bench.local import DynamoDB, http_event, load_service, sandbox_auth, webhook_event
from bench.cost import lifecycle_item
from bench.measure import Call, Result, at_most, captured_dynamodb_calls, compare_p50, new_sid, replayer

HANDLER_LIMIT = 1.3
# A fresh DynamoDB Local answers slowly until the JVM has compiled its hot paths, and the
# compiler threads share the cores with the handler: each handler runs this many times,
# untimed, before it is measured.
WARM_UP = 1000


@dataclass
class Warm:
    """What the cost sheet needs of a handler: its p50s and the calls one event makes."""

    name: str
    handler_ms: float
    raw_ms: float
    calls: list[Call]
    sample_sid: str = ""


def requests_per_event(ddb: DynamoDB, run: Callable[[], None]) -> int:
    ddb.requests(reset=True)
    run()
    return sum(ddb.requests().values())


def capture(run: Callable[[], Any]) -> list[Call]:
    with captured_dynamodb_calls() as calls:
        run()
    return calls


def warm_inbound(ddb: DynamoDB, count: int) -> tuple[list[Result], Warm]:
    from tests.support.forms import sms

    # Timed against DynamoDB Local itself, as the raw requests are; counted through its proxy.
    module = load_service("inbound", ddb.direct)
    settings = module.runtime.settings
    url, token, handler = settings.account.inbound_webhook_url, settings.account.auth_token, module.app

    def deliver(form: list[tuple[str, str]]) -> None:
        response = handler(webhook_event(url, form, token), None)
        assert response["statusCode"] == 200, response

    for _ in range(WARM_UP):  # connection pool, first-use imports, the JVM's compiler
        deliver(sms())
    sample = sms()
    calls = capture(lambda: deliver(sample))
    replay = replayer(ddb.client(), calls, dict(sample)["MessageSid"], [new_sid() for _ in range(count + 1)])
    replay(count)
    events = [webhook_event(url, sms(), token) for _ in range(count)]

    def handle(i: int) -> None:
        assert handler(events[i], None)["statusCode"] == 200

    handler_ms, raw_ms = compare_p50(handle, replay, count)
    handler = load_service("inbound", ddb.counted).app
    stop = sms(body="STOP")
    counts = [requests_per_event(ddb, lambda f=form: deliver(f)) for form in (sms(), stop, stop)]  # type: ignore[misc]
    return [
        at_most("warm inbound webhook p50 vs its raw PutItem", handler_ms, raw_ms, "ms", HANDLER_LIMIT),
        Result("DynamoDB requests per inbound webhook: new, STOP, duplicate", max(counts), None, "requests", "1 each", counts == [1, 1, 1]),
    ], Warm("inbound", handler_ms, raw_ms, calls)


def warm_status(ddb: DynamoDB, count: int, sent_sid: str) -> tuple[list[Result], Warm, dict[str, Any]]:
    """An in-order callback (`sent` on a message stored as `queued`) vs its raw UpdateItem.

    Also returns the stored item of `sent_sid` (a message sent through outbound) once its
    queued, sent and delivered callbacks are in: a message at its usual size, for the costs.
    """
    from tests.support.callbacks import status_callback

    module = load_service("status", ddb.direct)
    settings = module.runtime.settings
    url, token, handler = settings.account.status_webhook_url, settings.account.auth_token, module.app

    def deliver(status: str, sid: str) -> None:
        response = handler(webhook_event(url, status_callback(status, sid=sid), token), None)
        assert response["statusCode"] == 204, response

    sids = [new_sid() for _ in range(2 * count + 1)]
    for sid in sids:  # untimed: each message exists, queued, before its in-order callback
        deliver("queued", sid)
    for _ in range(WARM_UP // 2):  # and the same in-order write, untimed, as a warm-up
        sid = new_sid()
        deliver("queued", sid)
        deliver("sent", sid)
    calls = capture(lambda: deliver("sent", sids[-1]))
    mine, theirs = sids[:count], sids[count : 2 * count]
    replay = replayer(ddb.client(), calls, sids[-1], theirs)
    events = [webhook_event(url, status_callback("sent", sid=sid), token) for sid in mine]

    def handle(i: int) -> None:
        assert handler(events[i], None)["statusCode"] == 204

    handler_ms, raw_ms = compare_p50(handle, replay, count)
    item = lifecycle_item(ddb, settings.messages_table, sent_sid, deliver)
    handler = load_service("status", ddb.counted).app
    sid = new_sid()
    counts = [requests_per_event(ddb, lambda s=status: deliver(s, sid)) for status in ("queued", "sent", "delivered")]  # type: ignore[misc]
    return (
        [
            at_most("warm in-order status callback p50 vs its raw UpdateItem", handler_ms, raw_ms, "ms", HANDLER_LIMIT),
            Result(
                "DynamoDB requests per in-order callback: queued, sent, delivered",
                max(counts),
                None,
                "requests",
                "1 each",
                counts == [1, 1, 1],
            ),
        ],
        Warm("status", handler_ms, raw_ms, calls),
        item,
    )


def warm_send(ddb: DynamoDB, sandbox_url: str, count: int) -> tuple[list[Result], Warm]:
    """POST /messages vs its raw DynamoDB requests plus one raw Messages.json POST to the sandbox."""
    module = load_service("outbound", ddb.direct, TWILIO_API_BASE_URL=sandbox_url)
    handler = module.app
    customer = "+15005551234"  # not the number warm_inbound's STOP opted out

    def send_event(key: str | None = None, body: str = "bench send") -> dict[str, Any]:
        headers = {"content-type": "application/json", **({"idempotency-key": key} if key else {})}
        return http_event("POST", "/messages", json.dumps({"to": customer, "body": body}), headers)

    def send(key: str | None = None, body: str = "bench send") -> dict[str, Any]:
        response = handler(send_event(key, body), None)
        assert response["statusCode"] == 202, response
        result: dict[str, Any] = json.loads(response["body"])
        return result

    for _ in range(WARM_UP // 4):  # each waits on the sandbox too
        send()
    log = requests.Session()
    log.delete(sandbox_url + "/_sandbox/requests", timeout=10)
    with captured_dynamodb_calls() as calls:
        sid = send()["sid"]
    logged = log.delete(sandbox_url + "/_sandbox/requests", timeout=10).json()
    entry = logged[-1] if isinstance(logged, list) else logged["requests"][-1]
    form = [(name, value) for name, values in entry["form"].items() for value in values]
    twilio = requests.Session()
    create_url = sandbox_url + entry["path"]
    # Each replay writes under a SID of its own, so no write collides with another.
    replay = replayer(ddb.client(), calls, sid, [new_sid() for _ in range(count + 1)])

    def raw_send(i: int) -> None:
        created = twilio.post(create_url, data=form, headers={"Authorization": sandbox_auth()}, timeout=30)
        assert created.status_code == 201, created.text
        replay(i)

    raw_send(count)
    events = [send_event() for _ in range(count)]

    def handle(i: int) -> None:
        assert handler(events[i], None)["statusCode"] == 202

    handler_ms, raw_ms = compare_p50(handle, raw_send, count)
    sample_sid = send()["sid"]
    handler = load_service("outbound", ddb.counted, TWILIO_API_BASE_URL=sandbox_url).app
    plain = requests_per_event(ddb, lambda: None if send() else None)
    keyed = requests_per_event(ddb, lambda: None if send(new_sid("K")) else None)
    return [
        at_most("warm send p50 vs its raw DynamoDB requests + sandbox POST", handler_ms, raw_ms, "ms", HANDLER_LIMIT),
        Result("DynamoDB requests per send without an Idempotency-Key", plain, None, "requests", "<= 2", plain <= 2),
        Result("DynamoDB requests per send with an Idempotency-Key", keyed, None, "requests", "<= 2", keyed <= 2),
    ], Warm("send", handler_ms, raw_ms, calls, sample_sid)


def whatsapp_window_requests(ddb: DynamoDB, sandbox_url: str) -> list[Result]:
    """What the WhatsApp window costs a send, counted at the proxy: a free-form WhatsApp send to
    a customer who wrote makes one Query of `whatsapp_window` more than an SMS send, and an SMS
    send makes none (services/outbound chalicelib/window.py)."""
    from carrier_core.models import MessageModel, iso, utc_now
    from carrier_core.whatsapp import window_key

    handler = load_service("outbound", ddb.counted, TWILIO_API_BASE_URL=sandbox_url).app
    sender, customer = "whatsapp:+15005550006", "whatsapp:+15005551235"
    at = iso(utc_now())
    MessageModel(
        new_sid(),
        direction="inbound",
        channel="whatsapp",
        from_number=customer,
        to_number=sender,
        status="received",
        wa_window=window_key("default", sender, customer),
        created_at=at,
        updated_at=at,
    ).save()

    def counted(payload: dict[str, str]) -> dict[str, int]:
        ddb.requests(reset=True)
        response = handler(http_event("POST", "/messages", json.dumps(payload), {"content-type": "application/json"}), None)
        assert response["statusCode"] == 202, response
        return ddb.requests()

    sms = counted({"to": "+15005551235", "body": "bench send"})
    whatsapp = counted({"to": customer, "from": sender, "body": "bench send"})
    extra = {op: n - sms.get(op, 0) for op, n in whatsapp.items() if n != sms.get(op, 0)}
    return [
        Result(
            "DynamoDB Queries of the WhatsApp window per SMS send",
            sms.get("DynamoDB_20120810.Query", 0),
            None,
            "requests",
            "0",
            sms.get("DynamoDB_20120810.Query", 0) == 0,
        ),
        Result(
            "DynamoDB requests a free-form WhatsApp send adds over an SMS send",
            sum(extra.values()),
            None,
            "requests",
            "1 (the window's Query)",
            extra == {"DynamoDB_20120810.Query": 1},
        ),
    ]

"""Backoff with full jitter and Retry-After, and the retry worker's claim, send and give-up."""

from __future__ import annotations

import io
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import pytest

from carrier_core import failed_sends
from carrier_core.errors import InvalidPhoneNumber, RateLimited, TwilioUnavailable
from carrier_core.models import FailedMessageModel, MessageModel
from tests.support.outbound import CUSTOMER, SENDER, Outbound, opt_out, outbound, outbound_module, twilio  # noqa: F401

retry = outbound_module("retry")
TwilioCallFailed = retry.TwilioCallFailed


def transient(retry_after: float | None = None) -> Any:
    """A failure that created nothing for certain (a connection never made)."""
    return TwilioCallFailed(TwilioUnavailable("down"), None, retry_after)


def lost() -> Any:
    """A 500: Twilio may have created the message."""
    return TwilioCallFailed(TwilioUnavailable("down", twilio_code=20500), 500, maybe_created=True)


@dataclass(frozen=True)
class Script:
    label: str
    outcomes: list[Any]  # an exception to raise or a value to return, per attempt
    result: str  # "ok", "exhausted" or "permanent"
    attempts: int
    min_slept: float = 0.0
    time_left: float = 20.0
    found: tuple[Any, ...] = ()  # what each search finds: a value, None, or an exception to raise
    searches: int = 0
    doubt: bool = False  # exhausted with the doubt passed on
    earlier: bool = False  # an earlier run left the doubt (maybe_created=True)


SCRIPTS = [
    Script("first try", ["SM1"], "ok", 1),
    Script("two 500s then ok", [transient(), transient(), "SM1"], "ok", 3),
    Script("retry-after is a floor", [TwilioCallFailed(RateLimited("slow"), 429, 1.5), "SM1"], "ok", 2, min_slept=1.5),
    Script("permanent at once", [TwilioCallFailed(InvalidPhoneNumber("bad", twilio_code=21211), 400)], "permanent", 1),
    Script("attempts run out", [transient()] * 10, "exhausted", 4),
    Script("retry-after longer than the time left", [transient(retry_after=30), "SM1"], "exhausted", 1),
    Script("no time for another call", [transient(), "SM1"], "exhausted", 1, time_left=10.0),
    Script("429 is retried without a search", [TwilioCallFailed(RateLimited("slow"), 429), "SM1"], "ok", 2),
    Script("500, then the search finds it", [lost(), "SM2"], "found", 1, found=("SMfound",), searches=1),
    Script("500, nothing found, then sent", [lost(), "SM1"], "ok", 2, found=(None,), searches=1),
    Script("500 on every attempt: searched after each", [lost()] * 4, "exhausted", 4, found=(None,) * 4, searches=4, doubt=True),
    Script("500 and the search fails: no blind retry", [lost(), "SM1"], "exhausted", 1, found=(lost(),), searches=1, doubt=True),
    Script("500 with no time to search", [lost(), "SM1"], "exhausted", 1, time_left=10.0, doubt=True),
    Script("an earlier doubt: searched first, found", ["SM2"], "found", 0, found=("SMfound",), searches=1, earlier=True),
    Script(
        "an earlier doubt, nothing found: a 429 is then retried without another search",
        [TwilioCallFailed(RateLimited("slow"), 429), "SM1"],
        "ok",
        2,
        found=(None,),
        searches=1,
        earlier=True,
    ),
]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.label)
def test_call_with_retries(script: Script) -> None:
    outcomes = iter(script.outcomes)
    slept: list[float] = []

    def call() -> Any:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    findings = iter(script.found)
    searches: list[int] = []

    def find() -> Any:
        searches.append(1)
        outcome = next(findings)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    kwargs = dict(time_left=lambda: script.time_left, sleep=slept.append, rng=random.Random(7), find=find, maybe_created=script.earlier)
    policy = retry.RetryPolicy()
    if script.result == "found":
        assert retry.call_with_retries(call, policy, **kwargs) == ("SMfound", script.attempts)
    elif script.result == "ok":
        assert retry.call_with_retries(call, policy, **kwargs) == ("SM1", script.attempts)
    elif script.result == "permanent":
        with pytest.raises(TwilioCallFailed):
            retry.call_with_retries(call, policy, **kwargs)
    else:
        with pytest.raises(retry.RetriesExhausted) as raised:
            retry.call_with_retries(call, policy, **kwargs)
        assert (raised.value.attempts, raised.value.maybe_created) == (script.attempts, script.doubt)
    assert len(searches) == script.searches
    if not script.searches or script.earlier:
        assert len(slept) == max(script.attempts - 1, 0)
    assert sum(slept) >= script.min_slept


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    rng = random.Random(1)
    for attempt in range(8):
        cap = min(4.0, 0.25 * 2**attempt)
        delays = [retry.backoff(attempt, 0.25, 4.0, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert min(delays) < cap * 0.2 and max(delays) > cap * 0.8  # spread over the whole range


def test_policy_reads_its_overrides_and_refuses_nonsense() -> None:
    assert retry.RetryPolicy.from_env({"OUTBOUND_MAX_ATTEMPTS": "2"}).max_attempts == 2
    with pytest.raises(Exception) as raised:
        retry.RetryPolicy.from_env({"OUTBOUND_MAX_ATTEMPTS": "many"})
    assert getattr(raised.value, "code", None) == "configuration_error"


# ---- the worker --------------------------------------------------------------


def stored_retry(outbound: Outbound, body: str = "try again later") -> str:
    outbound.twilio.fail(500, count=-1)
    response = outbound.post({"to": CUSTOMER, "body": body})
    assert response.status_code == 202
    outbound.twilio.clear()
    sid: str = json.loads(response.body)["sid"]
    return sid


def run_worker(outbound: Outbound, at: float | None = None) -> dict[str, Any]:
    worker = __import__("chalicelib.worker", fromlist=["retry_due"])
    report: dict[str, Any] = worker.retry_due(outbound.settings(), outbound.app.policy, lambda: 60.0, now=at).as_dict()
    return report


def test_worker_leaves_items_that_are_not_due(outbound: Outbound) -> None:
    retry_id = stored_retry(outbound)
    FailedMessageModel(retry_id).update(actions=[FailedMessageModel.next_attempt_at.set(int(time.time()) + 600)])
    assert run_worker(outbound)["due"] == 0
    assert outbound.twilio.requests == []


def test_worker_sends_a_due_item_once_and_it_leaves_the_index(outbound: Outbound) -> None:
    retry_id = stored_retry(outbound)
    later = time.time() + 3600
    report = run_worker(outbound, at=later)
    assert report["sent"] == [retry_id] and len(outbound.twilio.requests) == 1
    failed = FailedMessageModel.get(retry_id)
    assert (failed.state, failed.retry_state, failed.next_attempt_at, failed.claimed_until, failed.attempts) == (
        "sent",
        None,
        None,
        None,
        5,
    )
    message = MessageModel.get(failed.message_sid)
    assert (message.body, message.to_number, message.from_number, message.status) == ("try again later", CUSTOMER, SENDER, "queued")
    # The id the caller got now reads as the message it became.
    assert json.loads(outbound.get(retry_id).body)["sid"] == failed.message_sid
    assert run_worker(outbound, at=later + 60)["due"] == 0
    assert len(outbound.twilio.requests) == 1


def test_a_claimed_item_is_not_sent_by_a_second_worker(outbound: Outbound) -> None:
    retry_id = stored_retry(outbound)
    at = int(time.time()) + 3600
    item = FailedMessageModel.get(retry_id)
    stale_copy = FailedMessageModel.get(retry_id)
    assert failed_sends.claim(item, at, outbound.app.policy.claim_seconds) is True
    assert failed_sends.claim(stale_copy, at, outbound.app.policy.claim_seconds) is False
    assert run_worker(outbound, at=at)["skipped"] == [retry_id]
    assert outbound.twilio.requests == []
    # Once the claim's lease has passed, the item may be taken again.
    assert run_worker(outbound, at=at + outbound.app.policy.claim_seconds + 1)["sent"] == [retry_id]


def test_still_failing_is_rescheduled_with_backoff_then_dead(outbound: Outbound) -> None:
    retry_id = stored_retry(outbound)
    outbound.twilio.fail(503, count=-1)
    at = time.time() + 3600
    report = run_worker(outbound, at=at)
    assert report["rescheduled"] == [retry_id]
    failed = FailedMessageModel.get(retry_id)
    assert (failed.attempts, failed.retry_state, failed.claimed_until) == (5, "pending", None)
    assert failed.next_attempt_at > time.time()
    assert failed.twilio_error.as_dict()["http_status"] == 503
    for _ in range(outbound.app.policy.worker_max_attempts):
        at += 10 * 3600
        if run_worker(outbound, at=at)["dead"]:
            break
    failed = FailedMessageModel.get(retry_id)
    assert (failed.state, failed.retry_state, failed.attempts) == ("dead", None, outbound.app.policy.worker_max_attempts)
    assert json.loads(outbound.get(retry_id).body)["status"] == "failed"


def test_a_permanent_answer_on_retry_is_dead_at_once(outbound: Outbound) -> None:
    outbound.twilio.fail(500, count=-1)
    retry_id = json.loads(outbound.post({"to": "+15005550001", "body": "x"}).body)["sid"]
    outbound.twilio.clear()
    assert run_worker(outbound, at=time.time() + 3600)["dead"] == [retry_id]
    failed = FailedMessageModel.get(retry_id)
    assert (failed.state, failed.category, failed.twilio_error.as_dict()["twilio_code"]) == ("dead", "invalid_phone_number", 21211)
    body = json.loads(outbound.get(retry_id).body)
    assert (body["status"], body["error_code"], body["error"]["code"]) == ("failed", 21211, "invalid_phone_number")


def test_an_opt_out_after_the_failure_is_respected(outbound: Outbound) -> None:
    retry_id = stored_retry(outbound)
    opt_out(CUSTOMER, SENDER)
    assert run_worker(outbound, at=time.time() + 3600)["dead"] == [retry_id]
    assert outbound.twilio.requests == []
    assert FailedMessageModel.get(retry_id).category == "recipient_opted_out"


def test_scheduled_handler_stops_when_the_lambda_time_is_short(outbound: Outbound) -> None:
    retry_id = stored_retry(outbound)
    FailedMessageModel(retry_id).update(actions=[FailedMessageModel.next_attempt_at.set(int(time.time()) - 1)])
    event = outbound.client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
    # chalice.test gives the function a 3 s context: too short for one more Twilio call.
    flushed = io.StringIO()
    outbound.app.runtime.metrics._stream = flushed
    response = outbound.client.lambda_.invoke("retry_failed", event)
    assert response.payload == {"due": 1, "sent": [], "rescheduled": [], "dead": [], "unknown": [], "skipped": []}
    (line,) = [json.loads(text) for text in flushed.getvalue().splitlines()]
    assert line["FailedMessagesBacklog"] == 1
    assert outbound.twilio.requests == []
    assert run_worker(outbound)["sent"] == [retry_id]


@dataclass(frozen=True)
class Transport:
    label: str
    error: Exception
    maybe_created: bool


def _refused() -> Exception:
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


def _transports() -> list[Transport]:
    import requests
    from urllib3.exceptions import ProtocolError

    return [
        Transport("connection refused", _refused(), False),
        Transport("connect timeout", requests.ConnectTimeout("connect timed out"), False),
        Transport("tls handshake", requests.exceptions.SSLError("bad handshake"), False),
        Transport("read timeout", requests.ReadTimeout("read timed out"), True),
        Transport("dropped mid-answer", requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError())), True),
    ]


@pytest.mark.parametrize("case", _transports(), ids=lambda c: c.label)
def test_only_a_connection_never_made_is_certain_to_have_created_nothing(case: Transport) -> None:
    client = outbound_module("twilio_client")
    failure = client.transport_failure(case.error)
    assert (failure.transient, failure.maybe_created, failure.http_status) == (True, case.maybe_created, None)


@pytest.mark.parametrize(
    ("stored", "codes"),
    [
        ({"code": "recipient_unreachable", "twilio_code": 21612, "message": "x"}, ("recipient_unreachable", 21612)),
        ({"code": "twilio_unavailable", "twilio_code": None, "http_status": None}, ("twilio_unavailable", None)),
        # Written before the API's names: Twilio's code under `code`, ours under `category`.
        ({"code": 21612, "category": "recipient_unreachable", "message": "x"}, ("recipient_unreachable", 21612)),
        ({"code": None, "category": "twilio_unavailable"}, ("twilio_unavailable", None)),
    ],
)
def test_a_stored_error_is_read_in_either_spelling(stored: dict[str, Any], codes: tuple[str | None, int | None]) -> None:
    assert failed_sends.error_codes(stored) == codes

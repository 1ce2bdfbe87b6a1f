"""After a lost answer, a send adopts a message Twilio holds only if no other send owns it.

Two identical sends in the search window used to both answer with one SID: the customer got
one message while two callers thought theirs was sent. A message found by the search is now
claimed with a conditional write; a send that cannot be matched for certain is kept as
`unknown` for a reconciler, answered 202, and never sent again by the retry worker.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from carrier_core.metrics import Fact
from carrier_core.models import FailedMessageModel, MessageModel
from tests.support.outbound import CUSTOMER, Outbound, create_at_twilio, outbound, stored, twilio  # noqa: F401

PAYLOAD = {"to": CUSTOMER, "body": "your table is ready"}


def body_of(response: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(response.body)
    return payload


def run_worker(outbound: Outbound, at: float) -> Any:
    worker = __import__("chalicelib.worker", fromlist=["retry_due"])
    return worker.retry_due(outbound.settings(), outbound.app.policy, lambda: 60.0, now=at)


def check_unknown(outbound: Outbound, response: Any, requests_before: int) -> str:
    """A 202 saying the outcome is unknown, kept for a reconciler and never sent again."""
    assert response.status_code == 202, response.body[:300]
    answer = body_of(response)
    assert answer["sid"].startswith("RQ") and answer["status"] == "unknown"
    failed = FailedMessageModel.get(answer["sid"], consistent_read=True)
    assert failed.state == "unknown" and failed.retry_state is None and failed.next_attempt_at is None
    assert failed.maybe_created is True and failed.message_sid is None
    assert body_of(outbound.get(answer["sid"]))["status"] == "unknown"
    report = run_worker(outbound, at=4_000_000_000)
    assert answer["sid"] not in report.sent + report.rescheduled + report.dead + report.unknown
    assert len(outbound.twilio.requests) == requests_before  # the worker sent nothing
    return str(answer["sid"])


@pytest.mark.parametrize("keys", [(None, None), ("first-key", "second-key")], ids=["no keys", "two keys"])
def test_a_5xx_that_created_nothing_never_adopts_anothers_message(outbound: Outbound, keys: tuple[str | None, str | None]) -> None:
    first = outbound.post(PAYLOAD, key=keys[0])
    assert first.status_code == 202
    first_sid = body_of(first)["sid"]
    outbound.twilio.fail(500)  # refused before creating: the only match is the first send's
    second = outbound.post(PAYLOAD, key=keys[1])
    check_unknown(outbound, second, requests_before=2)
    assert len(outbound.twilio.created) == 1 and len(outbound.twilio.lists) == 1
    item = stored(first_sid)
    assert item is not None and item.send_id is not None
    if keys[1] is not None:  # a retry with the key answers the same unknown outcome
        assert body_of(outbound.post(PAYLOAD, key=keys[1]))["sid"] == body_of(second)["sid"]


def test_an_owned_match_is_skipped_for_the_one_that_is_not(outbound: Outbound) -> None:
    assert outbound.post(PAYLOAD).status_code == 202
    outbound.twilio.fail(500, after_create=True)
    second = outbound.post(PAYLOAD)
    assert second.status_code == 202
    first_sid, second_sid = (m["sid"] for m in outbound.twilio.created)
    assert body_of(second)["sid"] == second_sid != first_sid
    owners = {sid: stored(sid).send_id for sid in (first_sid, second_sid)}  # type: ignore[union-attr]
    assert None not in owners.values() and len(set(owners.values())) == 2


def test_two_unowned_matches_that_cannot_be_told_apart_are_unknown(outbound: Outbound) -> None:
    create_at_twilio(outbound.twilio, CUSTOMER, PAYLOAD["body"])
    outbound.twilio.fail(500, after_create=True)
    check_unknown(outbound, outbound.post(PAYLOAD), requests_before=2)
    assert len(outbound.twilio.created) == 2
    assert [m for m in MessageModel.scan() if m.sid in {c["sid"] for c in outbound.twilio.created}] == []


def test_the_worker_keeps_an_unmatched_doubt_unknown(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    assert outbound.post(PAYLOAD).status_code == 202
    # No room for a search in the request: the doubt goes to the worker, which finds only
    # the first send's message, owned.
    monkeypatch.setattr(outbound.app, "policy", replace(outbound.app.policy, budget_seconds=14.0))
    outbound.twilio.fail(500)
    retry_id = body_of(outbound.post(PAYLOAD))["sid"]
    failed = FailedMessageModel.get(retry_id)
    assert failed.maybe_created is True
    report = run_worker(outbound, at=failed.next_attempt_at + 1)
    assert retry_id in report.unknown and Fact("OutboundUnknown") in report.metrics
    assert FailedMessageModel.get(retry_id).state == "unknown"
    assert body_of(outbound.get(retry_id))["status"] == "unknown"
    assert len(outbound.twilio.requests) == 2 and len(outbound.twilio.created) == 1
    assert run_worker(outbound, at=failed.next_attempt_at + 24 * 3600).due == 0

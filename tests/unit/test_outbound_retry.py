"""Backoff with full jitter and Retry-After, bounded by attempts and the time left."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from carrier_core.errors import InvalidPhoneNumber, RateLimited, TwilioUnavailable
from tests.support.outbound import outbound_module

retry = outbound_module("retry")
TwilioCallFailed = retry.TwilioCallFailed


def transient(retry_after: float | None = None) -> Any:
    return TwilioCallFailed(TwilioUnavailable("down"), 500, retry_after)


@dataclass(frozen=True)
class Script:
    label: str
    outcomes: list[Any]  # an exception to raise or a value to return, per attempt
    result: str  # "ok", "exhausted" or "permanent"
    attempts: int
    min_slept: float = 0.0
    time_left: float = 20.0


SCRIPTS = [
    Script("first try", ["SM1"], "ok", 1),
    Script("two 500s then ok", [transient(), transient(), "SM1"], "ok", 3),
    Script("retry-after is a floor", [TwilioCallFailed(RateLimited("slow"), 429, 1.5), "SM1"], "ok", 2, min_slept=1.5),
    Script("permanent at once", [TwilioCallFailed(InvalidPhoneNumber("bad", twilio_code=21211), 400)], "permanent", 1),
    Script("attempts run out", [transient()] * 10, "exhausted", 4),
    Script("retry-after longer than the time left", [transient(retry_after=30), "SM1"], "exhausted", 1),
    Script("no time for another call", [transient(), "SM1"], "exhausted", 1, time_left=10.0),
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

    kwargs = dict(time_left=lambda: script.time_left, sleep=slept.append, rng=random.Random(7))
    policy = retry.RetryPolicy()
    if script.result == "ok":
        assert retry.call_with_retries(call, policy, **kwargs) == ("SM1", script.attempts)
    elif script.result == "permanent":
        with pytest.raises(TwilioCallFailed):
            retry.call_with_retries(call, policy, **kwargs)
    else:
        with pytest.raises(retry.RetriesExhausted) as raised:
            retry.call_with_retries(call, policy, **kwargs)
        assert raised.value.attempts == script.attempts
    assert len(slept) == script.attempts - 1
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

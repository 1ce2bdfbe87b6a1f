"""Retrying Twilio calls: exponential backoff with full jitter, Retry-After honoured, bounded.

Full jitter (sleep a uniform time in [0, min(cap, base * 2**n)]) spreads a burst of
clients apart instead of retrying in lock-step:
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
A Retry-After from Twilio is a floor under that. The loop stops when the attempts run out
or the next wait plus one more call would not fit in the time left, keeping `reserve`
seconds to store the failure, so the request is handed to the retry worker rather than
lost to a timeout.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from carrier_core.errors import ConfigurationError

from chalicelib.twilio_client import CONNECT_TIMEOUT, READ_TIMEOUT, TwilioCallFailed

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a request and the retry worker try before giving up."""

    max_attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 4.0
    # API Gateway answers 504 after 29 s whatever the Lambda does; stay well inside it.
    budget_seconds: float = 20.0
    reserve_seconds: float = 2.0
    # The longest one Twilio call can take (connect + read timeout of the HTTP client).
    attempt_seconds: float = CONNECT_TIMEOUT + READ_TIMEOUT
    # Total Twilio calls for one send, the request's own included, before it is dead.
    worker_max_attempts: int = 12
    worker_base_delay: float = 30.0
    worker_max_delay: float = 3600.0
    claim_seconds: int = 60

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        """Defaults, overridden by OUTBOUND_* variables; a bad value raises ConfigurationError."""
        env = os.environ if environ is None else environ
        overrides: dict[str, float | int] = {}
        for name, kind in (("max_attempts", int), ("budget_seconds", float), ("worker_max_attempts", int), ("worker_base_delay", float)):
            raw = env.get(f"OUTBOUND_{name.upper()}")
            if raw:
                try:
                    value = kind(raw)
                except ValueError as exc:
                    raise ConfigurationError(f"OUTBOUND_{name.upper()} must be a number, not {raw!r}") from exc
                if value <= 0:
                    raise ConfigurationError(f"OUTBOUND_{name.upper()} must be positive")
                overrides[name] = value
        return cls(**overrides)  # type: ignore[arg-type]


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full-jitter delay before retry number `attempt` (0 for the first retry)."""
    return (rng or random).uniform(0, min(cap, base * (2**attempt)))


class RetriesExhausted(Exception):
    """Every attempt the time allowed failed transiently; `last` is the final failure.

    `maybe_created`: some attempt may have created the message (a 5xx or an answer lost
    after sending) and no search has ruled that out yet, so whoever tries next must
    search before sending.
    """

    def __init__(self, last: TwilioCallFailed, attempts: int, maybe_created: bool = False) -> None:
        super().__init__(last.error.message)
        self.last = last
        self.attempts = attempts
        self.maybe_created = maybe_created


def call_with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    time_left: Callable[[], float],
    on_retry: Callable[[TwilioCallFailed, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    find: Callable[[], T | None] | None = None,
    maybe_created: bool = False,
) -> tuple[T, int]:
    """The call's result and the attempts it took; a permanent failure is raised at once.

    Only a failure that certainly created nothing (429, a connection never made) is tried
    again as is. After one that may have created the message (5xx, read timeout), `find`
    runs before the next attempt: what it finds is the result; only when it finds nothing
    is the call made again. A failed search ends the retries, the doubt unresolved.
    `maybe_created` says an earlier run left that doubt, so `find` runs before the first call.
    Anything else `find` raises ends the call with it (adoption.Unmatched: Twilio holds
    matches, none certainly this send's, so neither adopting nor sending again is safe).
    """
    attempts = 0
    doubt = maybe_created
    # Once any attempt may have created the message, a later search is the only proof it
    # did not (a create still in flight at Twilio shows up later), so the doubt is passed
    # on with the failure even after an in-request search found nothing.
    ever_doubted = doubt
    if doubt:
        found = _search(find, None, 0)
        if found is not None:
            return found, 0
        doubt = False
    while True:
        attempts += 1
        try:
            return call(), attempts
        except TwilioCallFailed as failure:
            if not failure.transient:
                raise
            doubt = doubt or failure.maybe_created
            ever_doubted = ever_doubted or doubt
            delay = max(backoff(attempts - 1, policy.base_delay, policy.max_delay, rng), failure.retry_after or 0.0)
            if doubt:
                # Search even after the last attempt: finding the message answers the caller
                # with its SID instead of a retrying send.
                if delay + policy.attempt_seconds > time_left() - policy.reserve_seconds:
                    raise RetriesExhausted(failure, attempts, ever_doubted) from failure
                sleep(delay)  # the wait also gives a slow create time to show in the list
                found = _search(find, failure, attempts)
                if found is not None:
                    return found, attempts
                doubt = False  # searched after every attempt so far: nothing left to doubt
                delay = 0.0
            if attempts >= policy.max_attempts or delay + policy.attempt_seconds > time_left() - policy.reserve_seconds:
                raise RetriesExhausted(failure, attempts, ever_doubted) from failure
            if on_retry is not None:
                on_retry(failure, delay)
            sleep(delay)


def _search(find: Callable[[], T | None] | None, last: TwilioCallFailed | None, attempts: int) -> T | None:
    """What `find` finds; no `find` or a failed search leaves the doubt, ending the retries."""
    if find is None:
        if last is None:
            raise ValueError("maybe_created needs a find() to resolve it")
        raise RetriesExhausted(last, attempts, True)
    try:
        return find()
    except TwilioCallFailed as failure:
        raise RetriesExhausted(last or failure, attempts, True) from failure

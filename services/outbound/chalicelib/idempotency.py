"""Idempotency-Key: the same key and request give the same message, sent to Twilio once.

The first request claims the key with a conditional put before it calls Twilio; a racing
copy fails that condition and, rather than sending, waits for the claim to be completed
with the message's SID and answers with that message. A get-then-put would let both
racers see "no claim" and both send; the condition makes DynamoDB pick exactly one.

The claim is a lease (`locked_until`): a request that dies between claim and completion
does not block its key forever; after the lease a retry takes the key over and sends,
which may send twice if the dead request had reached Twilio. That is the one window left.

The send never sees the key: `guard_for` wraps it the way AWS Lambda Powertools'
idempotency handler wraps a function (claim, run, then complete or release), and a
request without a key gets a guard that only runs it.

Claim and completion are single-item writes, not transactions, so a keyed send costs four
DynamoDB requests (opt-out read, claim, message write, completion) against DESIGN's two.
Folding the opt-out check into the claim (ConditionCheck + Put) and the completion into
the message write (Update + Update) would make it two; that waits for the local stack's
move to DynamoDB Local, whose transactions are atomic: moto cancels a transaction by
restoring whole-table snapshots, which under concurrency once erased a winning claim.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from dataclasses import dataclass
from typing import Protocol

from pynamodb.exceptions import GetError, PutError

from carrier_core.errors import IdempotencyConflict, IdempotencyInProgress, InvalidField, StorageUnavailable
from carrier_core.models import IdempotencyModel, iso, utc_now
from carrier_core.storage import condition_failed

from chalicelib.outcome import SendOutcome

log = logging.getLogger(__name__)

IN_PROGRESS, DONE = "in_progress", "done"
LEASE_SECONDS = 60
KEEP_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


def check_key(value: str | None) -> str | None:
    """The header's key, or None; printable ASCII up to 255 characters."""
    if value is None or value == "":
        return None
    if len(value) > MAX_KEY_LENGTH or not value.isascii() or not value.isprintable():
        raise InvalidField(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return value


@dataclass(frozen=True)
class Claim:
    """A key and the fingerprint of the request that uses it."""

    key: str
    request_hash: str


def try_claim(claim: Claim, now: float) -> bool:
    """True when this request now holds the key; False when another request holds it."""
    record = IdempotencyModel(
        claim.key,
        request_hash=claim.request_hash,
        state=IN_PROGRESS,
        locked_until=int(now) + LEASE_SECONDS,
        created_at=iso(utc_now()),
        expires_at=timedelta(seconds=KEEP_SECONDS),
    )
    m = IdempotencyModel
    # New key: never used, or expired by TTL.
    # Abandoned claim: the same request's earlier try died holding the lease past its end.
    condition = m.key.does_not_exist() | ((m.state == IN_PROGRESS) & (m.locked_until < int(now)) & (m.request_hash == claim.request_hash))
    try:
        record.save(condition=condition)
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise StorageUnavailable() from exc
    return True


def read_claim(key: str) -> IdempotencyModel | None:
    try:
        return IdempotencyModel.get(key, consistent_read=True)
    except IdempotencyModel.DoesNotExist:
        return None
    except GetError as exc:
        raise StorageUnavailable() from exc


def acquire(
    claim: Claim,
    time_left: Callable[[], float],
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """None when this request must send; the SID of the message to answer with otherwise.

    Raises IdempotencyConflict when the key was used for another request, and
    IdempotencyInProgress when the holder is still working as our time runs out.
    """
    delay = 0.05
    while True:
        if try_claim(claim, now()):
            return None
        existing = read_claim(claim.key)
        if existing is not None and existing.request_hash != claim.request_hash:
            raise IdempotencyConflict("this Idempotency-Key was used with a different request")
        if existing is not None and existing.state == DONE and existing.message_sid:
            return str(existing.message_sid)
        # Still held: wait for the holder. Released or abandoned: claim it on the next turn.
        if time_left() < delay + 1:
            raise IdempotencyInProgress()
        sleep(delay)
        delay = min(delay * 2, 0.5)


def complete(claim: Claim, message_sid: str) -> None:
    """Record the message (or retrying send) the key's request produced, for its replays.

    Runs after Twilio accepted, so it never raises: the caller gets its SID either way.
    Caught broadly because PynamoDB 6.1 turns a botocore read timeout into AttributeError.
    """
    m = IdempotencyModel
    try:
        IdempotencyModel(claim.key).update(
            actions=[m.state.set(DONE), m.message_sid.set(message_sid), m.locked_until.remove()],
            condition=m.request_hash == claim.request_hash,
        )
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.error("idempotency claim not completed", extra={"error_type": type(exc).__name__, "message_sid": message_sid})


def release(claim: Claim) -> None:
    """Give the key back after a failure, so the same request may be tried again."""
    m = IdempotencyModel
    try:
        IdempotencyModel(claim.key).delete(condition=(m.state == IN_PROGRESS) & (m.request_hash == claim.request_hash))
    except Exception as exc:  # noqa: BLE001 - a failed release only delays a retry until the lease ends
        log.warning("idempotency claim not released", extra={"error_type": type(exc).__name__})


class Guard(Protocol):
    """Runs a send at most once per key; see guard_for."""

    def run(self, send: Callable[[], SendOutcome]) -> SendOutcome: ...


class NoKey:
    """The guard of a request without an Idempotency-Key: it just sends."""

    def run(self, send: Callable[[], SendOutcome]) -> SendOutcome:
        return send()


@dataclass(frozen=True)
class KeyGuard:
    """Claim the key, run the send, then complete the claim with what the send kept (a
    message or a retrying send) or release it when the send kept nothing.

    `replay` renders the answer for a key an earlier request completed.
    """

    claim: Claim
    time_left: Callable[[], float]
    replay: Callable[[str], SendOutcome]

    def run(self, send: Callable[[], SendOutcome]) -> SendOutcome:
        replay_sid = acquire(self.claim, self.time_left)
        if replay_sid is not None:
            return self.replay(replay_sid)
        try:
            outcome = send()
        except BaseException:
            # Only failures before Twilio accepted reach here (the send returns, never
            # raises, after that), so the same request may be tried again.
            release(self.claim)
            raise
        if outcome.sid is not None:
            complete(self.claim, outcome.sid)
        else:
            release(self.claim)
        return outcome


def guard_for(key: str | None, fingerprint: str, time_left: Callable[[], float], replay: Callable[[str], SendOutcome]) -> Guard:
    """The guard for a request: KeyGuard with an Idempotency-Key, NoKey without."""
    if key is None:
        return NoKey()
    return KeyGuard(Claim(key, fingerprint), time_left, replay)

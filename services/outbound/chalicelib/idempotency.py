"""Idempotency-Key: the same key and request give the same message, sent to Twilio once.

The first request claims the key with a conditional put before it calls Twilio; a racing
copy fails that condition and, rather than sending, waits for the claim to be completed
with the message's SID and answers with that message. A get-then-put would let both
racers see "no claim" and both send; the condition makes DynamoDB pick exactly one.

The claim is a lease (`locked_until`): a request that dies between claim and completion
does not block its key forever; after the lease a retry takes the key over and sends,
which may send twice if the dead request had reached Twilio. That is the one window left.

Claim and completion are single-item writes, not transactions: folding the opt-out check
into the claim and the completion into the message write would save two requests, but
the emulator cancels a transaction by restoring whole-table snapshots, which under
concurrency erased the winning claim and let a racer send a second time.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from dataclasses import dataclass

from pynamodb.exceptions import DeleteError, GetError, PutError, UpdateError

from carrier_core.errors import IdempotencyConflict, IdempotencyInProgress, InvalidField
from carrier_core.models import IdempotencyModel, iso, utc_now
from carrier_core.storage import is_condition_failure, storage_error

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
        if is_condition_failure(exc):
            return False
        raise storage_error(exc) from exc
    return True


def read_claim(key: str) -> IdempotencyModel | None:
    try:
        return IdempotencyModel.get(key, consistent_read=True)
    except IdempotencyModel.DoesNotExist:
        return None
    except GetError as exc:
        raise storage_error(exc) from exc


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
    """Record the message (or retrying send) the key's request produced, for its replays."""
    m = IdempotencyModel
    try:
        IdempotencyModel(claim.key).update(
            actions=[m.state.set(DONE), m.message_sid.set(message_sid), m.locked_until.remove()],
            condition=m.request_hash == claim.request_hash,
        )
    except UpdateError as exc:
        log.warning("idempotency claim not completed", extra={"error_type": type(exc).__name__})


def release(claim: Claim) -> None:
    """Give the key back after a failure, so the same request may be tried again."""
    m = IdempotencyModel
    try:
        IdempotencyModel(claim.key).delete(condition=(m.state == IN_PROGRESS) & (m.request_hash == claim.request_hash))
    except DeleteError as exc:
        log.warning("idempotency claim not released", extra={"error_type": type(exc).__name__})

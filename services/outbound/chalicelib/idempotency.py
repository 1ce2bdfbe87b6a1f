"""Idempotency-Key: the same key and request give the same message, sent to Twilio once.

The first request claims the key with a conditional put before it calls Twilio; a racing
copy fails that condition and, rather than sending, waits for the claim to be completed
with the message's SID and answers with that message. A get-then-put would let both
racers see "no claim" and both send; the condition makes DynamoDB pick exactly one.

The claim is a lease (`locked_until`): a request that dies between claim and completion
does not block its key forever; after the lease a retry with the same request takes the
key over. The dead request may have reached Twilio, so the taker does not send blindly: it
searches Twilio for the message first (search.py), from when the dead claim was made, and
adopts what it finds.

The send never sees the key: KeyGuard wraps it the way AWS Lambda Powertools' idempotency
handler wraps a function (claim, run, then complete or release), and a request without a
key gets NoKey, which only runs it. To keep a keyed send at DESIGN's two DynamoDB
requests, the guard hands the send two companions (transaction.Companion) rather than writing
alone: the claim rides in the opt-out check (ConditionChecks + the claim's Put in one
TransactWriteItems) and the completion in the message write (its Update + the claim's
Update). A send that ends otherwise (refused, stored for retry, write failed) is completed
or released by the guard on its own afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from dataclasses import dataclass
from typing import Protocol

from pynamodb.exceptions import GetError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from carrier_core.errors import IdempotencyConflict, IdempotencyInProgress, InvalidField
from carrier_core.models import IdempotencyModel, iso, utc_now
from carrier_core.storage import storage_error
from carrier_core.tenants import scoped

from chalicelib.outcome import SendOutcome
from chalicelib.request import OutboundRequest
from chalicelib.transaction import Companion, CompanionRefused

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


def _claim_record(claim: Claim, now: float) -> IdempotencyModel:
    # A takeover writes a new record: a new lease and created_at, the same key and request.
    return IdempotencyModel(
        claim.key,
        request_hash=claim.request_hash,
        state=IN_PROGRESS,
        locked_until=int(now) + LEASE_SECONDS,
        created_at=iso(utc_now()),
        expires_at=timedelta(seconds=KEEP_SECONDS),
    )


def _claim_condition(claim: Claim, abandoned: IdempotencyModel | None) -> Condition:
    m = IdempotencyModel
    if abandoned is None:
        # New key: never used, or expired by TTL.
        fresh: Condition = m.key.does_not_exist()
        return fresh
    # Taking over a claim seen abandoned (the same request's try died holding it past its
    # lease): only while it is still that very claim, so of two takers one wins.
    takeover: Condition = (m.state == IN_PROGRESS) & (m.locked_until == abandoned.locked_until) & (m.request_hash == claim.request_hash)
    return takeover


def _completion(claim: Claim, message_sid: str) -> tuple[list[Action], Condition]:
    m = IdempotencyModel
    condition: Condition = m.request_hash == claim.request_hash
    return [m.state.set(DONE), m.message_sid.set(message_sid), m.locked_until.remove()], condition


def read_claim(key: str) -> IdempotencyModel | None:
    try:
        return IdempotencyModel.get(key, consistent_read=True)
    except IdempotencyModel.DoesNotExist:
        return None
    except GetError as exc:
        raise storage_error(exc) from exc


@dataclass(frozen=True)
class Taken:
    """What the holder of a key left: a SID to replay, or a claim abandoned past its lease."""

    replay_sid: str | None = None
    abandoned: IdempotencyModel | None = None


def settle_taken(claim: Claim, now: float, time_left: Callable[[], float], wait: float) -> Taken:
    """Someone holds the key: what to do about it (an empty Taken: wait and try again).

    Raises IdempotencyConflict when the key was used for another request, and
    IdempotencyInProgress when the holder is still working as our time runs out.
    """
    existing = read_claim(claim.key)
    if existing is not None and existing.request_hash != claim.request_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request")
    if existing is not None and existing.state == DONE and existing.message_sid:
        return Taken(replay_sid=str(existing.message_sid))
    if existing is not None and existing.state == IN_PROGRESS and int(existing.locked_until or 0) < int(now):
        return Taken(abandoned=existing)
    # Still held: wait for the holder. Released meanwhile: claim it on the next turn.
    if time_left() < wait + 1:
        raise IdempotencyInProgress()
    return Taken()


def complete(claim: Claim, message_sid: str) -> None:
    """Record the message (or retrying send) the key's request produced, for its replays.

    Runs after Twilio accepted, so it never raises: the caller gets its SID either way.
    Caught broadly because PynamoDB 6.1 turns a botocore read timeout into AttributeError.
    """
    actions, condition = _completion(claim, message_sid)
    try:
        IdempotencyModel(claim.key).update(actions=actions, condition=condition)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.error("idempotency claim not completed", extra={"error_type": type(exc).__name__, "message_sid": message_sid})


def release(claim: Claim) -> None:
    """Give the key back after a failure, so the same request may be tried again."""
    m = IdempotencyModel
    try:
        IdempotencyModel(claim.key).delete(condition=(m.state == IN_PROGRESS) & (m.request_hash == claim.request_hash))
    except Exception as exc:  # noqa: BLE001 - a failed release only delays a retry until the lease ends
        log.warning("idempotency claim not released", extra={"error_type": type(exc).__name__})


class Ledger(Protocol):
    """What a send asks of its guard at its two writes: a companion to fold in, or None;
    and since when an earlier request with this key may have sent it (None: it cannot have)."""

    def claim(self) -> Companion | None: ...

    def completion(self, message_sid: str) -> Companion | None: ...

    def maybe_sent_since(self) -> datetime | None: ...


Send = Callable[[Ledger], SendOutcome]


class Guard(Protocol):
    """Runs a send at most once per key; see guard_for."""

    def run(self, send: Send) -> SendOutcome: ...


class NoKey:
    """The guard of a request without an Idempotency-Key: it just sends."""

    def claim(self) -> Companion | None:
        return None

    def completion(self, message_sid: str) -> Companion | None:
        return None

    def maybe_sent_since(self) -> datetime | None:
        return None

    def run(self, send: Send) -> SendOutcome:
        return send(self)


NO_KEY = NoKey()


class _Write:
    """One companion write of the guard's record, and whether it landed."""

    def __init__(self, add: Callable[[TransactWrite], None]) -> None:
        self._add = add
        self.done = False

    def add_to(self, tx: TransactWrite) -> None:
        self._add(tx)

    def landed(self) -> None:
        self.done = True


class KeyGuard:
    """Claim the key, run the send, then complete the claim with what the send kept (a
    message or a retrying send) or release it when the send kept nothing.

    `replay` renders the answer for a key an earlier request completed. One guard serves
    one request.
    """

    def __init__(
        self,
        claim: Claim,
        time_left: Callable[[], float],
        replay: Callable[[str], SendOutcome],
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._claim = claim
        self._time_left = time_left
        self._replay = replay
        self._now = now
        self._sleep = sleep
        self._claimed: _Write | None = None
        self._completed: _Write | None = None
        self._abandoned: IdempotencyModel | None = None

    def claim(self) -> Companion | None:
        record, condition = _claim_record(self._claim, self._now()), _claim_condition(self._claim, self._abandoned)
        self._claimed = _Write(lambda tx: tx.save(record, condition=condition))
        return self._claimed

    def maybe_sent_since(self) -> datetime | None:
        if self._abandoned is None:
            return None
        return datetime.fromisoformat(self._abandoned.created_at.replace("Z", "+00:00"))

    def completion(self, message_sid: str) -> Companion | None:
        actions, condition = _completion(self._claim, message_sid)
        self._completed = _Write(lambda tx: tx.update(IdempotencyModel(self._claim.key), actions, condition=condition))
        return self._completed

    @property
    def holds_key(self) -> bool:
        return self._claimed is not None and self._claimed.done

    def run(self, send: Send) -> SendOutcome:
        wait = 0.05
        while True:
            self._claimed = self._completed = None
            try:
                outcome = send(self)
            except CompanionRefused:
                # Another request holds the key (its claim failed ours): nothing was written.
                taken = settle_taken(self._claim, self._now(), self._time_left, wait)
                if taken.replay_sid is not None:
                    return self._replay(taken.replay_sid)
                self._abandoned = taken.abandoned
                if taken.abandoned is None:
                    self._sleep(wait)
                    wait = min(wait * 2, 0.5)
                continue
            except BaseException:
                # Only failures before Twilio accepted reach here (the send returns, never
                # raises, after that), so the same request may be tried again.
                if self.holds_key:
                    release(self._claim)
                raise
            if outcome.sid is not None:
                if self._completed is None or not self._completed.done:
                    complete(self._claim, outcome.sid)
            elif self.holds_key:
                release(self._claim)
            return outcome


def guard_for(header: str | None, request: OutboundRequest, time_left: Callable[[], float], replay: Callable[[str], SendOutcome]) -> Guard:
    """The guard for a request: KeyGuard with an Idempotency-Key (`header`, checked, and
    scoped to the request's tenant), NoKey without."""
    key = check_key(header)
    if key is None:
        return NoKey()
    return KeyGuard(Claim(scoped(request.tenant, key), request.fingerprint()), time_left, replay)

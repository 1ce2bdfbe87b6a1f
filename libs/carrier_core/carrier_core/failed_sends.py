"""The failed send's whole life in one place: kept, due, claimed, retried, finished.

A send Twilio did not take is kept in the failed-messages table. One that may be tried
again is `retrying` and sits in the sparse `due` index (retry_state DUE, next_attempt_at);
the outbound service's retry worker claims what is due and finishes it as `sent` or
`dead`, or reschedules it. A permanent refusal is kept as `rejected` for the record, and a
send Twilio may have taken with no message certainly its own as `unknown`, for a
reconciler. Neither of those ever enters the index, so nothing sends them again. The
worker and the operator's CLI both go through these functions.
"""

from __future__ import annotations

import enum
import logging
import uuid
from datetime import datetime
from collections.abc import Mapping
from typing import Any

from pynamodb.exceptions import PutError, QueryError, UpdateError

from carrier_core.logs import mask_phone
from carrier_core.models import FailedMessageModel, expiry, iso, utc_now
from carrier_core.settings import Settings
from carrier_core.storage import after_acceptance, is_condition_failure, storage_error

log = logging.getLogger(__name__)

# Our id for a send Twilio has not accepted yet: GET /messages/RQ... finds it here, and
# once the retry worker sends it, the message it became.
RETRY_PREFIX = "RQ"
# The due index's partition: every item waiting for a retry has this retry_state.
DUE = "pending"


class FailedState(str, enum.Enum):
    """Where a failed send stands."""

    RETRYING = "retrying"
    SENT = "sent"
    DEAD = "dead"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


_SAVED = {FailedState.RETRYING: "send stored for retry", FailedState.UNKNOWN: "send of unknown outcome stored"}


def error_codes(error: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """(our taxonomy code, Twilio's code) of a stored error. Stored with the API's names
    (`code`, `twilio_code`); items written before kept Twilio's code under `code` and ours
    under `category`, and are read as they are."""
    if "category" in error and "twilio_code" not in error:
        ours, theirs = error.get("category"), error.get("code")
    else:
        ours, theirs = error.get("code"), error.get("twilio_code")
    return (str(ours) if ours is not None else None, int(theirs) if theirs is not None else None)


def new_retry_id() -> str:
    return RETRY_PREFIX + uuid.uuid4().hex


def kept(
    request: dict[str, Any],
    twilio_error: dict[str, Any],
    attempts: int,
    next_attempt_at: float | None,
    settings: Settings,
    since: datetime | None = None,
    maybe_created: bool = False,
    state: FailedState = FailedState.REJECTED,
) -> FailedMessageModel:
    """A send Twilio did not take, in memory: due at `next_attempt_at`, or, when that is
    None, kept as `state` (rejected, unknown) outside the due index.

    `since` is when the first attempt began and `maybe_created` whether one may have
    reached Twilio unanswered: the worker then searches from `since` before sending.
    """
    now = utc_now()
    at = iso(now)
    retrying = next_attempt_at is not None
    return FailedMessageModel(
        new_retry_id(),
        tenant=request.get("tenant") or None,
        request=request,
        twilio_error=twilio_error,
        category=str(error_codes(twilio_error)[0]),
        retryable=retrying,
        attempts=attempts,
        retry_state=DUE if retrying else None,
        next_attempt_at=int(next_attempt_at) if next_attempt_at is not None else None,
        state=(FailedState.RETRYING if retrying else state).value,
        first_attempt_at=iso(since or now),
        maybe_created=maybe_created or None,
        created_at=at,
        updated_at=at,
        expires_at=expiry(settings, now),
    )


def save(item: FailedMessageModel) -> FailedMessageModel:
    """Put a new failed send; carrier_core.storage's error when DynamoDB refuses."""
    try:
        item.save(condition=FailedMessageModel.id.does_not_exist())
    except PutError as exc:
        raise storage_error(exc) from exc
    to = str(item.request.as_dict()["to"])  # type: ignore[no-untyped-call]
    log.warning(
        _SAVED.get(FailedState(item.state), "rejected send stored"),
        extra={"retry_id": item.id, "attempts": int(item.attempts), "error_code": item.category, "to": mask_phone(to)},
    )
    return item


def keep_job(
    job_id: str,
    job: str,
    tenant: str | None,
    request: dict[str, Any],
    next_at: int,
    settings: Settings,
    attempts: int = 0,
    error: dict[str, Any] | None = None,
    claimed_until: int | None = None,
    message_sid: str | None = None,
    since: datetime | None = None,
) -> FailedMessageModel:
    """Put a new job for the retry worker (a redaction, an erasure: `job`), due at `next_at`,
    held until `claimed_until` by the caller that runs it first; storage's error when refused."""
    now = utc_now()
    kept = FailedMessageModel(
        job_id,
        tenant=tenant,
        request=request,
        twilio_error=error,
        category=str(error_codes(error)[0]) if error else job,
        retryable=True,
        attempts=attempts,
        retry_state=DUE,
        next_attempt_at=next_at,
        claimed_until=claimed_until,
        state=FailedState.RETRYING.value,
        message_sid=message_sid,
        first_attempt_at=iso(since or now),
        job=job,
        created_at=iso(now),
        updated_at=iso(now),
        expires_at=expiry(settings, now),
    )
    try:
        kept.save(condition=FailedMessageModel.id.does_not_exist())
    except PutError as exc:
        raise storage_error(exc) from exc
    log.info(
        "job kept for the retry worker",
        extra={"retry_id": job_id, "job": job, "message_sid": message_sid, "error_code": error.get("code") if error else None},
    )
    return kept


def due(at: int, limit: int | None = None) -> list[FailedMessageModel]:
    """The sends waiting for a retry whose time has come by `at`, soonest first."""
    try:
        return list(FailedMessageModel.due.query(DUE, FailedMessageModel.next_attempt_at <= at, limit=limit))
    except QueryError as exc:
        raise storage_error(exc) from exc


def waiting() -> list[FailedMessageModel]:
    """Every send waiting for a retry, due or not, soonest first."""
    try:
        return list(FailedMessageModel.due.query(DUE))
    except QueryError as exc:
        raise storage_error(exc) from exc


def make_due(item: FailedMessageModel, at: int) -> bool:
    """Move a waiting send's next try to `at` (an operator's retry); False when it is no
    longer waiting (sent, dead or unknown since it was read)."""
    try:
        item.update(actions=[FailedMessageModel.next_attempt_at.set(at)], condition=FailedMessageModel.retry_state == DUE)
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise storage_error(exc) from exc
    return True


def claim(item: FailedMessageModel, at: int, claim_seconds: int) -> bool:
    """Take the item for `claim_seconds`; False when another worker holds it or it moved on.

    The index is read eventually consistent, so the condition re-checks everything the
    query selected on, against the item itself.
    """
    m = FailedMessageModel
    condition = (
        (m.retry_state == DUE)  # not sent or dead since the index was read
        & (m.next_attempt_at <= at)  # not rescheduled by a worker that just finished it
        & (m.claimed_until.does_not_exist() | (m.claimed_until < at))  # no live claim by another worker
    )
    try:
        item.update(actions=[m.claimed_until.set(at + claim_seconds)], condition=condition)
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise storage_error(exc) from exc
    return True


def finish(
    item: FailedMessageModel,
    state: FailedState,
    attempts: int,
    message_sid: str | None = None,
    error: dict[str, Any] | None = None,
) -> None:
    """Mark a claimed item sent, dead or unknown: it leaves the due index by losing retry_state."""
    m = FailedMessageModel
    actions = [
        m.state.set(state.value),
        m.attempts.set(attempts),
        m.updated_at.set(iso(utc_now())),
        m.retry_state.remove(),
        m.next_attempt_at.remove(),
        m.claimed_until.remove(),
    ]
    if message_sid:
        actions.append(m.message_sid.set(message_sid))
    if state is FailedState.UNKNOWN:
        actions.append(m.maybe_created.set(True))
    if error:
        actions += [m.twilio_error.set(error), m.category.set(str(error_codes(error)[0] or item.category)), m.retryable.set(False)]
    _update_claimed(item, actions)
    log.info("failed send finished", extra={"state": state.value, "attempts": attempts, "message_sid": message_sid})


def reschedule(item: FailedMessageModel, attempts: int, next_at: int, error: dict[str, Any], maybe_created: bool) -> None:
    """Give a claimed item back to the due index, for another try at `next_at`."""
    m = FailedMessageModel
    actions = [
        m.maybe_created.set(True) if maybe_created else m.maybe_created.remove(),
        m.attempts.set(attempts),
        m.next_attempt_at.set(next_at),
        m.twilio_error.set(error),
        m.category.set(str(error_codes(error)[0])),
        m.updated_at.set(iso(utc_now())),
        m.claimed_until.remove(),
    ]
    _update_claimed(item, actions)
    log.info("failed send rescheduled", extra={"attempts": attempts, "next_attempt_at": next_at, "error_code": error_codes(error)[0]})


def _update_claimed(item: FailedMessageModel, actions: list[Any]) -> None:
    """Apply `actions` only while our claim stands; a lost claim or a failed write is
    logged, never raised: a finish may follow Twilio's acceptance."""
    with after_acceptance("failed send not updated", retry_id=item.id):
        item.update(actions=actions, condition=FailedMessageModel.claimed_until == item.claimed_until)

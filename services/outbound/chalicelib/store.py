"""The outbound service's writes: the accepted message, the failed send, the opt-out check."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import GetError, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from carrier_core.errors import RecipientOptedOut
from carrier_core.logs import mask_phone
from carrier_core.models import (
    FailedMessageModel,
    HistoryEntry,
    MediaItem,
    MessageModel,
    OptOutModel,
    expiry,
    iso,
    utc_now,
)
from carrier_core.settings import Settings
from carrier_core.status.machine import UNKNOWN_RANK, known_status, rule_of
from carrier_core.status.store import StatusReport, planned_updates, record_status
from carrier_core.storage import response_code, storage_error
from carrier_core.writes import Transaction, update_item

from chalicelib.adoption import claimed
from chalicelib.request import OutboundRequest
from chalicelib.twilio_client import Accepted, TwilioCallFailed

log = logging.getLogger(__name__)

# Our id for a send Twilio has not accepted yet: GET /messages/RQ... finds it in the
# failed-messages table, and once the retry worker sends it, the message it became.
RETRY_PREFIX = "RQ"
RETRYING, SENT, DEAD, REJECTED = "retrying", "sent", "dead", "rejected"
# Twilio may have sent it, but no message can be told to be its own (adoption.py): kept
# for a reconciler, outside the due index, so the worker never sends it again.
UNKNOWN = "unknown"

class Companion(Protocol):
    """Another item's write that must land in the same transaction as one of ours (an
    Idempotency-Key's claim with the opt-out check, its completion with the message)."""

    def add_to(self, tx: TransactWrite) -> None:
        """Add the write to `tx`, last."""

    def landed(self) -> None:
        """Called once the transaction holding it committed."""


class CompanionRefused(Exception):
    """The companion's own condition failed, so nothing was written."""


def opted_out_error(request: OutboundRequest) -> RecipientOptedOut:
    return RecipientOptedOut("the recipient replied STOP to this sender", twilio_code=21610)


def _transaction() -> Transaction:
    return Transaction(connection=OptOutModel._get_connection().connection)


def _failed_conditions(exc: TransactWriteError) -> list[bool] | None:
    """Per item, whether its condition cancelled the transaction; None when it was not
    cancelled by conditions (a timeout, a throttle: nothing is known)."""
    if response_code(exc) != "TransactionCanceledException":
        return None
    reasons = exc.cancellation_reasons or []
    return [reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons]


def check_opt_out(request: OutboundRequest, companion: Companion | None = None) -> None:
    """Raise RecipientOptedOut when the recipient opted out of any sender of this request.

    One request. Alone: a GetItem for one sender, a BatchGetItem for a number and a
    service. With a companion: one TransactWriteItems of a ConditionCheck per sender and
    the companion's write, which lands only if no opt-out stands; CompanionRefused when
    the companion's own condition failed.
    """
    if companion is not None:
        _check_with(request, companion)
        return
    keys = [(request.to, sender) for sender in request.senders]
    try:
        if len(keys) == 1:
            items = [OptOutModel.get(*keys[0], consistent_read=True)]
        else:
            items = list(OptOutModel.batch_get(keys, consistent_read=True))
    except OptOutModel.DoesNotExist:
        return
    except GetError as exc:
        raise storage_error(exc) from exc
    if any(item.opted_out for item in items):
        log.info("recipient opted out", extra={"to": mask_phone(request.to)})
        raise opted_out_error(request)


def _check_with(request: OutboundRequest, companion: Companion) -> None:
    m = OptOutModel
    try:
        with _transaction() as tx:
            for sender in request.senders:
                # No record, or one that a START turned off: this sender may message them.
                tx.condition_check(OptOutModel, request.to, sender, condition=m.phone.does_not_exist() | (m.opted_out == False))  # noqa: E712
            companion.add_to(tx)  # PynamoDB sends condition checks first, then puts and updates
    except TransactWriteError as exc:
        failed = _failed_conditions(exc)
        checks = len(request.senders)
        if failed is not None and any(failed[checks:]):
            raise CompanionRefused() from exc
        if failed is not None and any(failed[:checks]):
            log.info("recipient opted out", extra={"to": mask_phone(request.to)})
            raise opted_out_error(request) from exc
        raise storage_error(exc) from exc
    companion.landed()


def request_fields(request: OutboundRequest) -> dict[str, Any]:
    """The message attributes a send request determines, whatever became of it."""
    segments = request.segments
    return {
        "direction": "outbound",
        "channel": request.channel,
        "from_number": request.from_number,
        "to_number": request.to,
        "body": request.body,
        "media": [MediaItem(url=url) for url in request.media_urls],
        "num_segments": segments.count,
        "encoding": segments.encoding.value,
        "messaging_service_sid": request.messaging_service_sid,
    }


def accepted_item(request: OutboundRequest, accepted: Accepted, settings: Settings) -> MessageModel:
    """The message as Twilio accepted it, in memory: the resource to render and the keys to write."""
    now = utc_now()
    at = iso(now)
    return MessageModel(
        accepted.sid,
        **request_fields(request),
        status=accepted.status,
        status_rank=rank_of(accepted.status),
        history=[HistoryEntry(status=accepted.status, at=at, source="outbound")],
        account_sid=accepted.account_sid or settings.account_sid,
        created_at=at,
        updated_at=at,
        expires_at=expiry(settings, now),
    )


def rank_of(status: str) -> int:
    known = known_status(status)
    return rule_of(known).rank if known is not None else UNKNOWN_RANK


def write_accepted(item: MessageModel, companion: Companion | None = None, claim: bool = False) -> bool:
    """Record the accepted send through the status machine's own write; False when a
    `claim` (an adopted SID) found the SID owned by another send, and nothing was written.

    Twilio may call the status service before this write lands, and that callback creates
    the item. `record_status` merges either way round: one UpdateItem when our status is
    further than what is stored, a second (history only) when a callback won the race; the
    fields only we know (body, sender, segments, the owning send) are set in both. With a
    companion, each of those updates is a TransactWriteItems with the companion's write, so
    the happy path is still one request.
    """
    fields = {
        "channel": item.channel,
        "from_number": item.from_number,
        "to_number": item.to_number,
        "body": item.body,
        "media": item.media or [],
        "num_segments": item.num_segments,
        "encoding": item.encoding,
        "account_sid": item.account_sid,
        "messaging_service_sid": item.messaging_service_sid,
        "send_id": item.send_id,
    }
    assert item.expires_at is not None, "accepted_item always sets it"
    report = StatusReport(item.status, datetime.fromisoformat(item.created_at), source="outbound")
    if companion is None and not claim:
        record_status(item.sid, report, item.expires_at, fields, authoritative=True)
        return True
    for _, update in planned_updates(item.sid, report, item.expires_at, fields, authoritative=True):
        update = claimed(update) if claim else update
        if companion is None:
            if update_item(MessageModel, update) is not None:
                return True
            continue
        try:
            with _transaction() as tx:
                tx.update_item(MessageModel, update)
                companion.add_to(tx)
        except TransactWriteError as exc:
            failed = _failed_conditions(exc)
            if failed is not None and failed[:1] == [True] and not any(failed[1:]):
                continue  # the message's own condition: try the next way of writing it
            raise storage_error(exc) from exc
        companion.landed()
        return True
    # Already recorded, or, for a claim, owned by another send. The companion is left for
    # its owner to write alone.
    return not claim


def new_retry_id() -> str:
    return RETRY_PREFIX + uuid.uuid4().hex


def failed_item(
    request: OutboundRequest,
    failure: TwilioCallFailed,
    attempts: int,
    next_attempt_at: float | None,
    settings: Settings,
    since: datetime | None = None,
    maybe_created: bool = False,
    state: str = REJECTED,
) -> FailedMessageModel:
    """A send Twilio did not take, to keep with save_failed: due for the retry worker at
    `next_attempt_at`, or, when that is None, kept as `state` (rejected, unknown) for the
    record (it never enters the due index).

    `since` is when the first attempt began and `maybe_created` whether one may have
    reached Twilio unanswered: the worker then searches from `since` before sending.
    """
    now = utc_now()
    at = iso(now)
    retrying = next_attempt_at is not None
    return FailedMessageModel(
        new_retry_id(),
        request=request.to_dict(),
        twilio_error=failure.describe(),
        category=failure.error.code,
        retryable=retrying,
        attempts=attempts,
        retry_state="pending" if retrying else None,
        next_attempt_at=int(next_attempt_at) if next_attempt_at is not None else None,
        state=RETRYING if retrying else state,
        first_attempt_at=iso(since or now),
        maybe_created=maybe_created or None,
        created_at=at,
        updated_at=at,
        expires_at=expiry(settings, now),
    )


def save_failed(item: FailedMessageModel) -> FailedMessageModel:
    """Put a new failed send; carrier_core.storage's error when DynamoDB refuses."""
    try:
        item.save(condition=FailedMessageModel.id.does_not_exist())
    except PutError as exc:
        raise storage_error(exc) from exc
    log.warning(
        {RETRYING: "send stored for retry", UNKNOWN: "send of unknown outcome stored"}.get(item.state, "rejected send stored"),
        extra={"retry_id": item.id, "attempts": int(item.attempts), "error_code": item.category, "to": mask_phone(str(item.request.as_dict()["to"]))},
    )
    return item


def retrying_item(failed: FailedMessageModel) -> MessageModel:
    """A stored failed send as a message resource: our id, status retrying or failed."""
    request = OutboundRequest.from_dict(dict(failed.request.as_dict()))
    error = dict(failed.twilio_error.as_dict()) if failed.twilio_error is not None else {}
    code = error.get("code")
    return MessageModel(
        failed.id,
        **request_fields(request),
        status=failed.state if failed.state in (RETRYING, UNKNOWN) else "failed",
        status_rank=0,
        error_code=int(code) if code is not None else None,
        history=[],
        created_at=failed.created_at,
        updated_at=failed.updated_at,
    )

"""Redaction of one message: its body and media removed here at once, and at Twilio as a job.

Here: one conditional update takes the body out (and of a WhatsApp message's `whatsapp`
object what the customer wrote, chose or shared: carrier_core.whatsapp.redacted_fields),
marks every media item `redacted` with no URL left (a re-host still running finds no item pending and writes nothing) and records who
asked and when (`redaction: requested`); then the bucket's copies are deleted.

At Twilio: the message update with `Body=""`, then a DELETE of each of its media
(https://www.twilio.com/docs/messaging/api/message-resource#update-a-message-resource).
Twilio refuses both until the message is complete (20009). Such a refusal, or Twilio not
answering, keeps the job in the failed-messages table (`job: redact`, id `RD…`) where the
retry worker (chalicelib/worker.py) tries it again with backoff; after REDACTION_GIVE_UP
from the request the job and the message end `failed`. Twilio accepts a deletion for up to
14 days; 13 leaves a day for the last tries. Once `done` (or `failed`) a second redaction
answers the same resource and calls nobody.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action
from twilio.base.exceptions import TwilioException, TwilioRestException

from carrier_core.errors import InvalidField, InvalidMessageId, RedactionRequesterInvalid, TwilioUnavailable
from carrier_core import failed_sends
from carrier_core.failed_sends import RETRY_PREFIX, FailedState
from carrier_core.media.storage import s3_client, split_stored_url
from carrier_core.models import FailedMessageModel, MediaItem, MessageModel, iso, utc_now
from carrier_core.resource import render_message
from carrier_core.settings import Settings
from carrier_core.storage import after_acceptance, is_condition_failure, storage_error
from carrier_core.tenants import tenant_of
from carrier_core.vocabulary import MediaStatus, Redaction
from carrier_core.whatsapp import redacted_fields

from chalicelib.messages import MESSAGE_ID, tenant_item
from chalicelib.request import parse_json_object
from chalicelib.retry import RetryPolicy, backoff
from chalicelib.twilio_client import TwilioCallFailed, get_client, rest_failure, transport_failure

log = logging.getLogger(__name__)

JOB = "redact"
JOB_PREFIX = "RD"
REDACTION_GIVE_UP = timedelta(days=13)
# Who asked: a person's or a system's name for the audit record, never a secret.
REQUESTER = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,127}$")


@dataclass(frozen=True)
class RedactRequest:
    """POST /messages/{sid}/redact: the message and who asked."""

    sid: str
    tenant: str
    requested_by: str

    @classmethod
    def from_json(cls, sid: str, tenant: str, raw_body: str | bytes | None) -> RedactRequest:
        """Validate the path's SID and the body's `requested_by`; taxonomy errors otherwise."""
        if not MESSAGE_ID.fullmatch(sid) or sid.startswith(RETRY_PREFIX):
            raise InvalidMessageId("a message id to redact is SM or MM and 32 hexadecimal digits")
        return cls(sid, tenant, requester(raw_body))


def requester(raw_body: str | bytes | None) -> str:
    """The body of a redaction or an erasure: `{"requested_by": …}` and nothing else."""
    body = parse_json_object(raw_body)
    unknown = sorted(set(body) - {"requested_by"})
    if unknown:
        raise InvalidField(f"unknown field {unknown[0]}; accepted: requested_by")
    who = body.get("requested_by")
    if not isinstance(who, str) or not REQUESTER.fullmatch(who):
        raise RedactionRequesterInvalid("requested_by must name who asks: 1 to 128 printable ASCII characters")
    return who


def redact(request: RedactRequest, settings: Settings, policy: RetryPolicy) -> dict[str, Any]:
    """Redact the message here and try Twilio once; the resource as it then stands."""
    item = tenant_item(MessageModel, request.sid, request.tenant)
    if item.redaction:
        return render_message(item)  # requested (a job holds it), done or failed: nothing more
    if not _mark_requested(item, request):
        return render_message(tenant_item(MessageModel, request.sid, request.tenant))  # a concurrent request won
    _delete_copies(item.media or [], settings)
    run_at_twilio(item, settings, policy, attempts=0, first=utc_now(), job=None)
    return render_message(tenant_item(MessageModel, request.sid, request.tenant))


def _mark_requested(item: MessageModel, request: RedactRequest) -> bool:
    """The one update that removes the body and the media's addresses; False when another
    redaction marked it first."""
    stamp = iso(utc_now())
    media = [MediaItem(url="", content_type=m.content_type, size=m.size, status=MediaStatus.REDACTED.value) for m in item.media or []]
    m = MessageModel
    actions: list[Action] = [
        m.body.remove(),
        m.redaction.set(Redaction.REQUESTED.value),
        m.redaction_requested_by.set(request.requested_by),
        m.redaction_requested_at.set(stamp),
        m.redaction_updated_at.set(stamp),
    ]
    if item.media:
        actions.append(m.media.set(media))
    if item.whatsapp is not None:  # what the customer chose, shared or is called goes too
        actions.append(m.whatsapp.set(redacted_fields(item.whatsapp.as_dict())))
    old_media = item.media
    try:
        item.update(actions=actions, condition=m.redaction.does_not_exist())
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise storage_error(exc) from exc
    item.media = old_media  # the copies still to delete from the bucket
    log.info("message redacted here", extra={"message_sid": item.sid, "num_media": len(old_media or [])})
    return True


def _delete_copies(media: list[MediaItem], settings: Settings) -> None:
    """Delete the bucket's copies; a failure is logged with the key's message, never raised
    (the item no longer points at them, and the bucket's lifecycle expires them)."""
    for entry in media:
        if not entry.stored_url:
            continue
        try:
            bucket, key = split_stored_url(entry.stored_url)
            s3_client(settings.region).delete_object(Bucket=bucket, Key=key)
        except Exception as exc:  # noqa: BLE001  # botocore's errors have no common base worth naming
            log.warning("redacted media copy not deleted", extra={"error_type": type(exc).__name__})


def erase_at_twilio(settings: Settings, sid: str) -> None:
    """Twilio's update with Body="", then a DELETE of each media; raises TwilioCallFailed.
    A message or media Twilio no longer has (404) is already gone there."""
    if not update_body_empty(settings, sid):
        return
    for media_sid in media_sids(settings, sid):
        delete_media(settings, sid, media_sid)


def update_body_empty(settings: Settings, sid: str) -> bool:
    """POST Messages/{sid}.json Body=""; False when Twilio has no such message."""
    client, http = get_client(settings)
    with _twilio_call(http, missing_ok=True) as call:
        client.api.v2010.accounts(settings.account.account_sid).messages(sid).update(body="")
    return not call.missing


def media_sids(settings: Settings, sid: str) -> list[str]:
    """The SIDs of the message's media at Twilio (GET Messages/{sid}/Media.json, every page)."""
    client, http = get_client(settings)
    with _twilio_call(http, missing_ok=True):
        return [str(m.sid) for m in client.api.v2010.accounts(settings.account.account_sid).messages(sid).media.list()]
    return []  # Twilio no longer has the message


def delete_media(settings: Settings, sid: str, media_sid: str) -> None:
    """DELETE Messages/{sid}/Media/{media_sid}.json; one already gone is fine."""
    client, http = get_client(settings)
    with _twilio_call(http, missing_ok=True):
        client.api.v2010.accounts(settings.account.account_sid).messages(sid).media(media_sid).delete()


class _Call:
    missing = False


@contextmanager
def _twilio_call(http: Any, missing_ok: bool) -> Iterator[_Call]:
    """Translate the SDK's failures into TwilioCallFailed; a 404 sets `missing` when allowed."""
    call = _Call()
    try:
        yield call
    except TwilioRestException as exc:
        if missing_ok and int(exc.status) == 404:
            call.missing = True
            return
        raise rest_failure(exc, http.last_response()) from exc
    except TwilioException as exc:
        # A page the SDK could not read (a list's next page refused or malformed): try later.
        raise TwilioCallFailed(TwilioUnavailable(f"Twilio's answer could not be read: {type(exc).__name__}"), None) from exc
    except requests.RequestException as exc:
        raise transport_failure(exc) from exc


def run_at_twilio(
    item: MessageModel, settings: Settings, policy: RetryPolicy, attempts: int, first: datetime, job: FailedMessageModel | None
) -> str:
    """One try at Twilio: 'done', 'rescheduled' or 'failed'. The message's state follows;
    `job` is the kept job the worker claimed (None on the API's first try)."""
    try:
        erase_at_twilio(settings, item.sid)
    except TwilioCallFailed as failure:
        attempts += 1
        later = failure.error.retryable or failure.transient
        if later and utc_now() - first < REDACTION_GIVE_UP:
            wait = max(backoff(attempts - 1, policy.worker_base_delay, policy.worker_max_delay), failure.retry_after or 0.0)
            _keep(item, job, attempts, int(time.time() + wait), failure.describe(), first, settings)
            return "rescheduled"
        _finish(item, job, Redaction.FAILED, attempts, failure.describe())
        return "failed"
    _finish(item, job, Redaction.DONE, attempts + 1, None)
    return "done"


def _keep(
    item: MessageModel,
    job: FailedMessageModel | None,
    attempts: int,
    next_at: int,
    error: dict[str, Any],
    first: datetime,
    settings: Settings,
) -> None:
    if job is not None:
        failed_sends.reschedule(job, attempts, next_at, error, maybe_created=False)
        return
    failed_sends.keep_job(
        JOB_PREFIX + uuid.uuid4().hex, JOB, item.tenant, {"sid": item.sid, "tenant": tenant_of(item.tenant)}, next_at, settings,
        attempts=attempts, error=error, message_sid=item.sid, since=first,
    )  # fmt: skip


def _finish(item: MessageModel, job: FailedMessageModel | None, state: Redaction, attempts: int, error: dict[str, Any] | None) -> None:
    """The message's redaction ends `state`; a kept job leaves the due index. Twilio's copy
    may be gone already, so a failed write is logged, never raised."""
    m = MessageModel
    with after_acceptance("redaction state not updated", message_sid=item.sid):
        # Only while the message is stored: an update would otherwise create a bare item.
        item.update(actions=[m.redaction.set(state.value), m.redaction_updated_at.set(iso(utc_now()))], condition=m.sid.exists())
    if job is not None:
        done = FailedState.SENT if state is Redaction.DONE else FailedState.DEAD
        failed_sends.finish(job, done, attempts, message_sid=item.sid, error=error)
    log.info("redaction finished", extra={"message_sid": item.sid, "state": state.value, "attempts": attempts})


def retry_job(job: FailedMessageModel, settings: Settings, policy: RetryPolicy) -> str:
    """The worker's run of a kept redaction: 'sent' (done), 'rescheduled' or 'dead' (failed)."""
    sid = str(job.request.as_dict()["sid"])
    try:
        item = MessageModel.get(sid, consistent_read=True)
    except MessageModel.DoesNotExist:
        # Expired here (TTL) since the job was kept: Twilio's copy is still worth deleting,
        # but no state is left to show; the job ends with what Twilio answered.
        item = MessageModel(sid, tenant=job.tenant, direction="", status="", created_at="", updated_at="")
    stamp = job.first_attempt_at or job.created_at
    first = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    outcome = run_at_twilio(item, settings, policy, int(job.attempts), first, job)
    return {"done": "sent", "failed": "dead"}.get(outcome, outcome)

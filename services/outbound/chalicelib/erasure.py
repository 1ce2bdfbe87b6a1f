"""Erasure of a customer: every message to or from them redacted, here and at Twilio.

`POST /contacts/{identity}/erase` keeps a job (`ER…`, `job: erase`) in the failed-messages
table and runs it at once for up to ERASE_BUDGET seconds; the retry worker
(chalicelib/worker.py) runs what is left. A run pages the messages table's `customer` index
(which projects the redaction state, no body) for the customer's messages from before the
request that are not redacted yet, and redacts each one as `POST /messages/{sid}/redact`
does (chalicelib/redaction.py): the body and media here at once, Twilio's copy tried once
and otherwise kept as that message's own redaction job. A run that finds nothing left
finishes the job. Nothing is counted into the job, so a run cut short by the Lambda's
time, or a second request for the same customer, only continues.

`GET /erasures/{id}` counts, through the same index, the customer's messages of the job
by redaction state: `done`, `failed` and `pending` (requested, or not reached yet). The
index is read eventually consistent, so a count may trail a redaction by a moment. The
request's own answer, when its run got through every message, counts what that run saw and
did instead, without reading the index again.

The customer's opt-out is kept: a STOP must still be honoured after the erasure. A bare
number (`+E164`) is the customer on SMS/MMS and on WhatsApp (`whatsapp:+E164`); a WhatsApp
identity (`whatsapp:+E164`, `whatsapp:CC.ID`) is that identity alone. Messages after the
request are not part of it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pynamodb.exceptions import QueryError

from carrier_core import failed_sends
from carrier_core.errors import ErasureNotFound, InvalidPhoneNumber
from carrier_core.failed_sends import FailedState
from carrier_core.logs import mask_phone
from carrier_core.models import FailedMessageModel, MessageModel, iso, utc_now
from carrier_core.phone import parse_address
from carrier_core.settings import Settings
from carrier_core.storage import storage_error
from carrier_core.tenants import scoped, stored_tenant, tenant_of
from carrier_core.vocabulary import Redaction

from chalicelib.messages import tenant_item
from chalicelib.redaction import RedactRequest, redact, requester
from chalicelib.retry import RetryPolicy

log = logging.getLogger(__name__)

JOB = "erase"
JOB_PREFIX = "ER"
ERASURE_ID = re.compile(r"^ER[0-9a-f]{32}$")
# How long the API request itself erases before answering; the worker does the rest.
ERASE_BUDGET = 10.0
# A run stops for the worker's next turn when less time than this is left.
MARGIN = 3.0
# A job the API left unfinished is due for the worker this many seconds later.
RESUME_AFTER = 30


@dataclass(frozen=True)
class EraseRequest:
    """POST /contacts/{identity}/erase: the customer, the tenant and who asked."""

    identity: str
    tenant: str
    requested_by: str

    @classmethod
    def from_json(cls, identity: str, tenant: str, raw_body: str | bytes | None) -> EraseRequest:
        """Validate the path's identity and the body's `requested_by`; taxonomy errors otherwise."""
        address = parse_address(unquote(identity), "identity", InvalidPhoneNumber, bsuid=True)
        return cls(str(address), tenant, requester(raw_body))

    def customer_keys(self) -> list[str]:
        """The `customer` index's keys of this identity (carrier_core.models.CustomerIndex)."""
        identities = [self.identity] if ":" in self.identity else [self.identity, f"whatsapp:{self.identity}"]
        return [scoped(self.tenant, identity) for identity in identities]


def start(request: EraseRequest, settings: Settings, policy: RetryPolicy, time_left: Callable[[], float]) -> dict[str, Any]:
    """Keep the job, run it for the time given, and answer its progress."""
    # Held by this request while it runs; the worker takes what is left after.
    resume = int(time.time()) + RESUME_AFTER
    wanted = {"customers": request.customer_keys(), "requested_by": request.requested_by, "until": iso(utc_now())}
    job = failed_sends.keep_job(
        JOB_PREFIX + uuid.uuid4().hex, JOB, stored_tenant(request.tenant), wanted, resume, settings, claimed_until=resume
    )
    log.info("erasure requested", extra={"erasure_id": job.id, "customer": mask_phone(request.identity)})
    states = run(job, settings, policy, time_left)
    if states is not None:
        failed_sends.finish(job, FailedState.SENT, 1)
    return progress(job, states)


def run(job: FailedMessageModel, settings: Settings, policy: RetryPolicy, time_left: Callable[[], float]) -> list[str | None] | None:
    """Redact what is left of the job's messages. Once nothing is left, the redaction state
    of every one of them (a message redacted now as its redaction answered, read
    consistently, not as the index may still show it); None when the time ran out first."""
    wanted = dict(job.request.as_dict())
    who, tenant = str(wanted["requested_by"]), tenant_of(job.tenant)
    states: list[str | None] = []
    for sid, redaction in _messages(job):
        if redaction is None:
            if time_left() < MARGIN:
                return None
            redaction = redact(RedactRequest(sid, tenant, who), settings, policy)["redaction"]
        states.append(redaction)
    return states


def retry_job(job: FailedMessageModel, settings: Settings, policy: RetryPolicy, time_left: Callable[[], float]) -> str:
    """The worker's run of a kept erasure: 'sent' once every message is redacted here (and
    at Twilio, or kept as its own redaction job), else 'rescheduled'."""
    attempts = int(job.attempts) + 1
    if run(job, settings, policy, time_left) is not None:
        failed_sends.finish(job, FailedState.SENT, attempts)
        return "sent"
    failed_sends.reschedule(job, attempts, int(time.time()) + RESUME_AFTER, {"code": "erasure_in_progress"}, maybe_created=False)
    return "rescheduled"


def read(erasure_id: str, tenant: str) -> dict[str, Any]:
    """GET /erasures/{id}: the job's progress; another tenant's job is unknown."""
    unknown = ErasureNotFound(f"no erasure with id {erasure_id}")
    if not ERASURE_ID.fullmatch(erasure_id):
        raise unknown
    job = tenant_item(FailedMessageModel, erasure_id, tenant, unknown)
    if job.job != JOB:
        raise unknown
    return progress(job)


def progress(job: FailedMessageModel, states: list[str | None] | None = None) -> dict[str, Any]:
    """The job's resource: its messages counted by redaction state (`states`, when a run
    just went through all of them; else as the index shows them)."""
    counts = {"total": 0, "done": 0, "pending": 0, "failed": 0}
    for redaction in states if states is not None else (state for _sid, state in _messages(job)):
        counts["total"] += 1
        key = {Redaction.DONE.value: "done", Redaction.FAILED.value: "failed"}.get(redaction or "", "pending")
        counts[key] += 1
    state = "running" if counts["pending"] else ("failed" if counts["failed"] else "done")
    wanted = dict(job.request.as_dict())
    return {
        "id": job.id,
        "state": state,
        "customers": [mask_phone(key.rpartition("/")[2]) for key in wanted["customers"]],
        "requested_by": wanted["requested_by"],
        "requested_at": job.created_at,
        "messages": counts,
    }


def _messages(job: FailedMessageModel) -> Iterator[tuple[str, str | None]]:
    """(sid, redaction state) of each of the job's messages: the customer's, up to the
    request, oldest first, one index page at a time."""
    wanted = dict(job.request.as_dict())
    try:
        for customer in wanted["customers"]:
            query = MessageModel.by_customer.query(customer, MessageModel.created_at <= str(wanted["until"]))
            for entry in query:
                yield entry.sid, entry.redaction
    except QueryError as exc:
        raise storage_error(exc) from exc

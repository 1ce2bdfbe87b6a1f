"""Sending a message: one core (`deliver`) for the API and the retry worker.

deliver: opt-out check -> WhatsApp window (free-form WhatsApp only) -> the template (content_sid
only: approved for WhatsApp, its variables) -> media checked and converted -> Twilio, retried
only where that cannot send twice -> one write.
The API turns what it returns into a SendOutcome (send_message); the worker into the
failed send's next state. Neither sees an Idempotency-Key: that is the guard around the
API's call (idempotency.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from carrier_core import failed_sends
from carrier_core.errors import CarrierError, TwilioUnavailable
from carrier_core.failed_sends import FailedState
from carrier_core.logs import append_keys, mask_phone
from carrier_core.models import MessageModel, utc_now
from carrier_core.optout import TWILIO_OPTED_OUT, record_twilio_opt_out
from carrier_core.resource import render_message
from carrier_core.settings import Settings
from carrier_core.status.machine import loggable_status
from carrier_core.storage import after_acceptance

from chalicelib.idempotency import NO_KEY, Ledger
from chalicelib.prepared import PreparedMedia
from chalicelib.outcome import Kind, SendOutcome
from chalicelib.request import OutboundRequest
from chalicelib.retry import RetriesExhausted, RetryPolicy, backoff, call_with_retries
from chalicelib.adoption import Unmatched, find_own
from chalicelib.accepted import write_accepted
from chalicelib.messages import accepted_item, retrying_item
from chalicelib.optouts import check_opt_out
from chalicelib.twilio_client import Accepted, TwilioCallFailed, create_message
from chalicelib.window import check_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    """Twilio has the message. From here on nothing may turn into an error."""

    item: MessageModel
    attempts: int
    adopted: bool
    stored: bool
    retried: tuple[str, ...]


@dataclass(frozen=True)
class Refused:
    """Refused for good: by our opt-out table (`failure` None) or by Twilio."""

    error: CarrierError
    failure: TwilioCallFailed | None
    opt_out_learned: bool = False


@dataclass(frozen=True)
class Unsent:
    """Every attempt the time allowed failed transiently; `maybe_created` when one may have
    reached Twilio and no search ruled it out since."""

    failure: TwilioCallFailed
    attempts: int
    maybe_created: bool
    retried: tuple[str, ...]


@dataclass(frozen=True)
class Uncertain:
    """Twilio may have the message, but none it holds is certainly this send's (adoption.py):
    kept for a reconciler, never sent again. `failure`: this run's last failed attempt."""

    failure: TwilioCallFailed | None
    attempts: int
    retried: tuple[str, ...]


Delivery = Sent | Refused | Unsent | Uncertain


def _prepare_media(urls: tuple[str, ...], settings: Settings) -> PreparedMedia:
    """chalicelib.media's checks and conversions, for a send that has media."""
    if not urls:
        return PreparedMedia()
    # Imported on the first send with media: the probes, the SSRF guard and the S3 client
    # stay out of every cold start and every send without media.
    from chalicelib.media import prepare_media

    return prepare_media(urls, settings)


def deliver(
    request: OutboundRequest,
    settings: Settings,
    policy: RetryPolicy,
    time_left: Callable[[], float],
    since: datetime,
    send_id: str,
    maybe_created: bool = False,
    ledger: Ledger = NO_KEY,
) -> Delivery:
    """Send `request` unless its recipient opted out; never raises once Twilio accepted.

    `since`: when the first attempt at this send began, where a search for a message an
    earlier attempt may have created starts. `send_id`: who owns the SID this send gets
    or adopts (adoption.py). `maybe_created`: an earlier run left that doubt (the worker),
    so the search comes before any new attempt. `ledger`: the guard's writes to fold into
    the opt-out check and the message write (none without a key).
    """
    try:
        check_opt_out(request, ledger.claim())
        check_window(request, utc_now())
        if request.content_sid is not None:
            # Deferred: a send without a template never loads the Content API's client (the
            # cold start `make bench` measures).
            from chalicelib.templates import check_template

            check_template(request, settings)
        media = _prepare_media(request.media_urls, settings)
    except CarrierError as refused:
        if refused.http_status >= 500 or refused.retryable:
            # Failed for now, before anything reached Twilio's Messages API (a store or
            # the Content API): the caller, or the worker, tries again.
            raise
        return Refused(refused, None)
    # What Twilio gets: converted images as links to our copies. A stored retry keeps the
    # caller's URLs and converts again: links expire and carry a signature.
    sent = replace(request, media_urls=media.sent_urls) if media.items else request
    earlier = ledger.maybe_sent_since()
    if earlier is not None:
        # This key's earlier request died after claiming it: it may have reached Twilio.
        since, maybe_created = min(since, earlier), True
    retried: list[str] = []

    def on_retry(failure: TwilioCallFailed, delay: float) -> None:
        retried.append(failure.error.code)
        log.info(
            "retrying twilio",
            extra={"error_code": failure.error.code, "delay_seconds": round(delay, 3), "maybe_created": failure.maybe_created},
        )

    failures: list[TwilioCallFailed] = []

    def create() -> Accepted:
        try:
            return create_message(settings, sent)
        except TwilioCallFailed as failure:
            failures.append(failure)
            raise

    try:
        accepted, attempts = call_with_retries(
            create,
            policy,
            time_left,
            on_retry,
            find=lambda: find_own(settings, sent, since, send_id),
            maybe_created=maybe_created,
        )
    except RetriesExhausted as exhausted:
        return Unsent(exhausted.last, exhausted.attempts, exhausted.maybe_created, tuple(retried))
    except TwilioCallFailed as failure:
        return Refused(failure.error, failure, opt_out_learned=_learn_opt_out(request, failure))
    except Unmatched:
        return _uncertain(failures, retried)
    append_keys(message_sid=accepted.sid)
    log.info(
        "twilio accepted",
        extra={"attempts": attempts, "status": loggable_status(accepted.status), "adopted": accepted.adopted, "to": mask_phone(request.to)},
    )
    recorded = _record(request, accepted, settings, ledger, media, send_id)
    if recorded is None:
        return _uncertain(failures, retried)
    return Sent(recorded[0], attempts, accepted.adopted, recorded[1], tuple(retried))


def _uncertain(failures: list[TwilioCallFailed], retried: list[str]) -> Uncertain:
    log.warning("twilio outcome unknown", extra={"attempts": len(failures)})
    return Uncertain(failures[-1] if failures else None, len(failures), tuple(retried))


def _record(
    request: OutboundRequest, accepted: Accepted, settings: Settings, ledger: Ledger, media: PreparedMedia, send_id: str
) -> tuple[MessageModel, bool] | None:
    """Write the accepted message; (item, whether it was stored), or None when an adopted
    SID could not be claimed (another send owns it, or the claim's write failed).

    Twilio has it now, so no failure here may become an error the caller would retry
    (sending it twice): the status callbacks still create the item, and the caller gets the
    message as Twilio accepted it.
    """
    at = utc_now()
    sent = [m.item() for m in media.items] if media.items else None  # the caller's URLs, and what was sent
    item = accepted_item(request, accepted, settings, at, send_id, sent)
    landed = False
    with after_acceptance("accepted message not stored", message_sid=accepted.sid, adopted=accepted.adopted) as failed:
        landed = write_accepted(request, accepted, at, settings, send_id, sent, ledger.completion(accepted.sid), claim=accepted.adopted)
    if failed.code is not None:
        return None if accepted.adopted else (item, False)
    return (item, True) if landed else None


def _learn_opt_out(request: OutboundRequest, failure: TwilioCallFailed) -> bool:
    """On Twilio's 21610, record the opt-out so the next send stops here; True if recorded."""
    if failure.error.twilio_code != TWILIO_OPTED_OUT:
        return False
    try:
        record_twilio_opt_out(request.to, request.senders, tenant=request.tenant)
    except CarrierError as exc:
        # The caller's 403 stands either way; Twilio will refuse the next send too.
        log.warning("opt-out not recorded", extra={"error_code": exc.code})
        return False
    return True


def send_message(
    request: OutboundRequest, settings: Settings, policy: RetryPolicy, time_left: Callable[[], float], ledger: Ledger = NO_KEY
) -> SendOutcome:
    """The API's send: the accepted message, a refusal, or a send stored for the worker."""
    since = datetime.now(timezone.utc)
    delivery = deliver(request, settings, policy, time_left, since, uuid.uuid4().hex, ledger=ledger)
    if isinstance(delivery, Sent):
        return SendOutcome(
            Kind.SENT,
            render_message(delivery.item),
            channel=request.channel,
            retried=delivery.retried,
            adopted=delivery.adopted,
            stored=delivery.stored,
        )
    if isinstance(delivery, Refused):
        if delivery.failure is not None:
            _keep_rejected(request, delivery.failure, settings)
        return SendOutcome(Kind.REFUSED, error=delivery.error, opt_out_learned=delivery.opt_out_learned, channel=request.channel)
    if isinstance(delivery, Uncertain):
        return _stored_unknown(request, delivery, since, settings)
    return _stored_for_retry(request, delivery, since, settings, policy)


def _keep_rejected(request: OutboundRequest, failure: TwilioCallFailed, settings: Settings) -> None:
    """Record a permanent refusal for operators; the caller's 4xx does not depend on it."""
    try:
        failed_sends.save(failed_sends.kept(request.to_dict(), failure.describe(), 1, None, settings))
    except CarrierError as exc:
        log.warning("rejected send not stored", extra={"error_code": exc.code})


def _stored_for_retry(request: OutboundRequest, unsent: Unsent, since: datetime, settings: Settings, policy: RetryPolicy) -> SendOutcome:
    """Hand the send to the retry worker; a store failure is a 503, never a silent loss."""
    failure = unsent.failure
    wait = max(failure.retry_after or 0.0, backoff(0, policy.worker_base_delay, policy.worker_max_delay))
    kept = failed_sends.kept(
        request.to_dict(), failure.describe(), unsent.attempts, time.time() + wait, settings, since, unsent.maybe_created
    )
    failed = failed_sends.save(kept)
    return SendOutcome(Kind.RETRYING, render_message(retrying_item(failed)), retried=unsent.retried, channel=request.channel)


def _stored_unknown(request: OutboundRequest, uncertain: Uncertain, since: datetime, settings: Settings) -> SendOutcome:
    """Keep a send of unknown outcome for a reconciler: 202, status unknown, never retried.

    Twilio may have sent it, so even a failed store is no error the caller would retry:
    the answer is rendered from the item that was not stored, and logged.
    """
    failure = uncertain.failure or TwilioCallFailed(TwilioUnavailable("an earlier try may have sent it"), None, maybe_created=True)
    failed = failed_sends.kept(
        request.to_dict(), failure.describe(), uncertain.attempts, None, settings, since, maybe_created=True, state=FailedState.UNKNOWN
    )
    with after_acceptance("send of unknown outcome not stored", retry_id=failed.id):
        failed_sends.save(failed)
    return SendOutcome(Kind.UNKNOWN, render_message(retrying_item(failed)), retried=uncertain.retried, channel=request.channel)

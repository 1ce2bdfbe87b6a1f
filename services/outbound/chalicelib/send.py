"""Sending a message: opt-out, idempotency, Twilio with retries, then one write of the result."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from carrier_core.errors import CarrierError
from carrier_core.logs import append_keys, mask_phone
from carrier_core.metrics import Metrics
from carrier_core.resource import render_message
from carrier_core.settings import Settings

from chalicelib import idempotency
from chalicelib.media import PreparedMedia, prepare_media
from chalicelib.messages import get_message
from chalicelib.request import OutboundRequest
from chalicelib.retry import RetriesExhausted, RetryPolicy, backoff, call_with_retries
from chalicelib.store import accepted_item, check_opt_out, retrying_item, store_failed, write_accepted
from chalicelib.twilio_client import Accepted, TwilioCallFailed, create_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    """The message resource to answer with, and whether an earlier request produced it."""

    resource: dict[str, Any]
    replayed: bool = False


def send_message(
    request: OutboundRequest,
    key: str | None,
    settings: Settings,
    policy: RetryPolicy,
    metrics: Metrics,
    time_left: Callable[[], float],
) -> SendResult:
    """Send once; answer with the accepted message, or a `retrying` one stored for the worker."""
    claim = idempotency.Claim(key, request.fingerprint()) if key else None
    if claim is not None:
        replay_sid = idempotency.acquire(claim, time_left)
        if replay_sid is not None:
            metrics.add("OutboundReplayed")
            return SendResult(get_message(replay_sid), replayed=True)
    try:
        check_opt_out(request)
        media = prepare_media(request.media_urls, settings)
    except Exception as exc:
        if claim is not None:
            idempotency.release(claim)
        if isinstance(exc, CarrierError) and exc.http_status < 500:
            metrics.add("OutboundRejected", error_code=exc.code)
        raise
    # What Twilio gets: converted images as links to our copies. A stored retry keeps the
    # caller's URLs and converts again (worker.py): links expire and carry a signature.
    sent = replace(request, media_urls=media.sent_urls) if media.items else request
    try:
        accepted = _call_twilio(sent, settings, policy, metrics, time_left)
    except RetriesExhausted as exhausted:
        return _stored_for_retry(request, claim, exhausted, settings, policy, metrics)
    except TwilioCallFailed as failure:
        if claim is not None:
            idempotency.release(claim)
        metrics.add("OutboundRejected", error_code=failure.error.code)
        _keep_rejected(request, failure, settings)
        raise failure.error from failure
    except Exception:
        if claim is not None:
            idempotency.release(claim)
        raise
    return SendResult(render_message(_record(request, accepted, claim, settings, metrics, media)))


def _call_twilio(
    request: OutboundRequest, settings: Settings, policy: RetryPolicy, metrics: Metrics, time_left: Callable[[], float]
) -> Accepted:
    def on_retry(failure: TwilioCallFailed, delay: float) -> None:
        metrics.add("TwilioRetried", error_code=failure.error.code)
        log.info("retrying twilio", extra={"error_code": failure.error.code, "delay_seconds": round(delay, 3)})

    accepted, attempts = call_with_retries(lambda: create_message(settings, request), policy, time_left, on_retry)
    append_keys(message_sid=accepted.sid)
    log.info("twilio accepted", extra={"attempts": attempts, "status": accepted.status, "to": mask_phone(request.to)})
    return accepted


def _record(
    request: OutboundRequest, accepted: Accepted, claim: idempotency.Claim | None, settings: Settings, metrics: Metrics, media: PreparedMedia
) -> Any:
    """Write the accepted message. Twilio has it now, so a failed write must not become an
    error the caller would retry (sending it twice): the status callbacks still create the
    item, and the caller gets the message as Twilio accepted it."""
    item = accepted_item(request, accepted, settings)
    if media.items:
        item.media = [m.item() for m in media.items]  # the caller's URLs, and what was sent
    metrics.add("OutboundAccepted", channel=request.channel)
    try:
        item = write_accepted(item)
    except CarrierError as exc:
        log.error("accepted message not stored", extra={"message_sid": accepted.sid, "error_code": exc.code})
    if claim is not None:
        idempotency.complete(claim, accepted.sid)  # even unstored: a replay must not send it again
    return item


def _keep_rejected(request: OutboundRequest, failure: TwilioCallFailed, settings: Settings) -> None:
    """Record a permanent refusal for operators; the caller's 4xx does not depend on it."""
    try:
        store_failed(request, failure, 1, None, settings)
    except CarrierError as exc:
        log.warning("rejected send not stored", extra={"error_code": exc.code})


def _stored_for_retry(
    request: OutboundRequest,
    claim: idempotency.Claim | None,
    exhausted: RetriesExhausted,
    settings: Settings,
    policy: RetryPolicy,
    metrics: Metrics,
) -> SendResult:
    """Hand the send to the retry worker; a store failure is a 503, never a silent loss."""
    failure = exhausted.last
    wait = max(failure.retry_after or 0.0, backoff(0, policy.worker_base_delay, policy.worker_max_delay))
    try:
        failed = store_failed(request, failure, exhausted.attempts, time.time() + wait, settings)
    except CarrierError:
        if claim is not None:
            idempotency.release(claim)
        raise
    if claim is not None:
        idempotency.complete(claim, failed.id)
    metrics.add("OutboundRetrying")
    return SendResult(render_message(retrying_item(failed)))

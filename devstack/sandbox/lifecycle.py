"""What happens after a create: the status moves on and signed callbacks go to StatusCallback.

Twilio's test credentials never send status callbacks and have no magic numbers for delivery
failures, so the sandbox adds its own recipients for them (OUTCOMES), outside the range
of Twilio's magic numbers. Every other recipient is delivered.
Callback fields: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from carrier_core.logs import mask_phone
from carrier_core.settings import LOCAL_DEFAULT_FROM
from carrier_core.signature import compute_signature
from devstack.sandbox.messages import API_VERSION, Message, segments_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How a message to one recipient ends."""

    status: str
    error_code: int | None = None
    error_message: str | None = None


DELIVERED = Outcome("delivered")
OUTCOMES: dict[str, Outcome] = {
    "+15005550011": Outcome("undelivered", 30003, "Unreachable destination handset"),
    "+15005550012": Outcome("failed", 30008, "Unknown error"),
    "+15005550013": Outcome("undelivered", 30005, "Unknown destination handset"),
    "+15005550014": Outcome("undelivered", 30006, "Landline or unreachable carrier"),
    "+15005550015": Outcome("undelivered", 30007, "Message filtered"),
    # Accepted, then refused because the recipient opted out at Twilio (as a STOP sent to
    # another of the account's numbers in a messaging service can make it).
    "+15005550016": Outcome("failed", 21610, "Attempt to send to unsubscribed recipient"),
    # Accepted, then failed by WhatsApp's rate limit for the sender (63018): every send to it.
    "+15005550017": Outcome("failed", 63018, "Rate limit exceeded for Channel"),
}

# Per segment, US long code; the price is only there so `price` is real-shaped once sent.
PRICE_PER_SEGMENT = 0.0079
CALLBACK_ATTEMPTS = 4
CALLBACK_TIMEOUT = 5.0


def outcome_for(to: str) -> Outcome:
    return OUTCOMES.get(to.rpartition(":")[2], DELIVERED)


def steps_for(message: Message) -> list[Outcome]:
    """The statuses the message passes through after the create, each with a callback."""
    outcome = Outcome("failed", *message.failure) if message.failure else outcome_for(message.request.to)
    if outcome.status == "failed":
        return [Outcome("queued"), outcome]
    return [Outcome("queued"), Outcome("sent"), outcome]


def raw_dlr_done_date(moment: datetime) -> str:
    """The carrier's delivery-receipt time, YYMMDDhhmm, as Twilio relays it."""
    return moment.astimezone(timezone.utc).strftime("%y%m%d%H%M")


def callback_params(message: Message) -> list[tuple[str, str]]:
    """The form Twilio posts to StatusCallback for the message's current status."""
    pairs = [
        ("SmsSid", message.sid),
        ("SmsStatus", message.status),
        ("MessageStatus", message.status),
        ("To", message.request.to),
    ]
    if message.request.messaging_service_sid:
        pairs.append(("MessagingServiceSid", message.request.messaging_service_sid))
    pairs += [
        ("MessageSid", message.sid),
        ("AccountSid", message.account_sid),
        ("From", message.from_ or ""),
        ("ApiVersion", API_VERSION),
    ]
    if message.error_code is not None:
        pairs.append(("ErrorCode", str(message.error_code)))
    if message.status in ("delivered", "undelivered"):
        pairs.append(("RawDlrDoneDate", raw_dlr_done_date(message.date_updated)))
    return pairs


class Scheduler:
    """Runs jobs at a time on a small pool; a job never holds a worker while it waits."""

    def __init__(self, workers: int = 8) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._pending = 0  # jobs booked and not yet finished
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="sandbox-lifecycle")
        self._thread = threading.Thread(target=self._run, name="sandbox-scheduler", daemon=True)
        self._thread.start()

    def at(self, due: float, job: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._order), job))
            self._pending += 1
            self._cond.notify()

    @property
    def pending(self) -> int:
        """Jobs booked and not finished. A step books the next before it finishes, so this
        is 0 only once every message has sent its last callback."""
        with self._cond:
            return self._pending

    def _finish(self, job: Callable[[], None]) -> None:
        try:
            _logged(job)
        finally:
            with self._cond:
                self._pending -= 1

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._stopped:
                    return
                _, _, job = heapq.heappop(self._heap)
            self._pool.submit(self._finish, job)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _logged(job: Callable[[], None]) -> None:
    try:
        job()
    except Exception:
        log.exception("sandbox lifecycle step failed")


class CallbackSender:
    """POSTs signed status callbacks, retrying failures, and keeps a record of each one."""

    def __init__(self, backoff: float = 0.1, limit: int | None = None) -> None:
        self._backoff = backoff
        self._lock = threading.Lock()
        self.sent: deque[dict[str, Any]] = deque(maxlen=limit)

    def post(self, url: str, params: list[tuple[str, str]], auth_token: str) -> None:
        """Deliver one callback signed with `auth_token` (that of the message's account);
        every outcome, success or not, is kept in `sent`."""
        # As Twilio does: the fragment (connection overrides) is neither requested nor signed.
        url, _, overrides = url.partition("#")
        data = urlencode(params).encode("utf-8")
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": compute_signature(auth_token, url, params),
            # One token per event, the same on every retry, so the receiver can drop repeats.
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }
        status: int | None = None
        error: str | None = None
        attempt = 0
        for attempt in range(1, CALLBACK_ATTEMPTS + 1):
            status, error = _attempt(url, data, headers)
            if status is not None and (status < 500 and status != 429):
                break
            if attempt < CALLBACK_ATTEMPTS:
                time.sleep(self._backoff * 2 ** (attempt - 1))
        record = {
            "time": datetime.now(timezone.utc).isoformat(),
            "url": url,
            "overrides": overrides or None,
            "params": dict(params),
            "status": status,
            "attempts": attempt,
            "error": error,
        }
        with self._lock:
            self.sent.append(record)
        if status is None or not 200 <= status < 300:
            fields = dict(params)
            log.warning(
                "status callback not accepted",
                extra={
                    "message_sid": fields["MessageSid"],
                    "message_status": fields["MessageStatus"],
                    "to": mask_phone(fields["To"]),
                    "http_status": status,
                    "error": error,
                    "attempts": attempt,
                },
            )

    def records(self, clear: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self.sent)
            if clear:
                self.sent.clear()
        return records


def _attempt(url: str, data: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
    """One POST: the HTTP status, or None and the reason when nothing answered."""
    try:
        # `url` is a StatusCallback that messages.py accepted only as an http(s) URL (21609 otherwise).
        with urlopen(Request(url, data=data, headers=headers, method="POST"), timeout=CALLBACK_TIMEOUT) as response:  # nosec B310
            response.read()
            return int(response.status), None
    except HTTPError as exc:
        exc.read()
        return exc.code, None
    except (URLError, OSError) as exc:
        return None, type(exc).__name__


class Lifecycle:
    """Moves each created message through its statuses, one step per `delay` seconds.
    `auth_token(account_sid)` is the account's token when a callback goes out, so a
    callback after a rotation is signed with the new one, as Twilio signs."""

    def __init__(self, lock: threading.Lock, sender: CallbackSender, delay: float, auth_token: Callable[[str], str]) -> None:
        self._lock = lock
        self._sender = sender
        self._delay = delay
        self._auth_token = auth_token
        self._scheduler = Scheduler()
        # Scheduled messages' times, apart: `pending` counts steps to come, not messages
        # waiting for their SendAt (which may be days away).
        self._timers = Scheduler(workers=1)

    def begin(self, message: Message) -> None:
        self._schedule(message, steps_for(message), 0)

    def after(self, seconds: float, job: Callable[[], None]) -> None:
        """Run `job` once `seconds` have passed (a scheduled message's time)."""
        self._timers.at(time.monotonic() + max(0.0, seconds), job)

    def announce(self, message: Message) -> None:
        """Send the callback of the message's current status (a cancel's), off the caller's thread."""
        with self._lock:
            params = callback_params(message)
        if message.request.status_callback:
            url = message.request.status_callback
            self._scheduler.at(time.monotonic(), lambda: self._sender.post(url, params, self._auth_token(message.account_sid)))

    @property
    def pending(self) -> int:
        """Status steps (each with its callback) still to come, over every message."""
        return self._scheduler.pending

    def _schedule(self, message: Message, steps: list[Outcome], index: int) -> None:
        if index < len(steps):
            self._scheduler.at(time.monotonic() + self._delay, lambda: self._step(message, steps, index))

    def _step(self, message: Message, steps: list[Outcome], index: int) -> None:
        with self._lock:
            advance(message, steps[index], datetime.now(timezone.utc))
            params = callback_params(message)
        if message.request.status_callback:
            self._sender.post(message.request.status_callback, params, self._auth_token(message.account_sid))
        # The next status goes out only after this callback was answered, so they arrive in order.
        self._schedule(message, steps, index + 1)

    def stop(self) -> None:
        self._scheduler.stop()
        self._timers.stop()


def advance(message: Message, outcome: Outcome, now: datetime) -> None:
    """Apply one status to the stored message, as a later GET shows it."""
    message.status = outcome.status
    message.date_updated = now
    if message.from_ is None:  # a Messaging Service picks its sender when it queues
        message.from_ = LOCAL_DEFAULT_FROM
        message.segments = segments_for(message.request)
    if outcome.status == "sent":
        message.date_sent = now
        message.price = f"-{PRICE_PER_SEGMENT * message.segments:.5f}"
    if outcome.error_code is not None:
        message.error_code = outcome.error_code
        message.error_message = outcome.error_message

"""StatusCallback: Twilio's message status callback form as a typed value object.

Field reference: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carrier_core.errors import InvalidField, MissingField
from carrier_core.optout import TWILIO_OPTED_OUT
from carrier_core.status.machine import MessageStatus, known_status
from carrier_core.status.store import StatusReport
from carrier_core.vocabulary import channel_of
from carrier_core.webhook import message_sid, messaging_service_sid, whole_number

SOURCE = "callback"


@dataclass(frozen=True)
class StatusCallback:
    """What Twilio told us about one of our messages."""

    message_sid: str
    status: str
    error_code: int | None = None
    account_sid: str | None = None
    messaging_service_sid: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    raw_dlr_done_date: str | None = None
    channel_status_message: str | None = None

    @property
    def known(self) -> MessageStatus | None:
        """The status, or None when Twilio sent one this code does not know (kept all the same)."""
        return known_status(self.status)

    @property
    def channel(self) -> str:
        """The channel as far as a callback tells: WhatsApp by its address prefix, MMS by its SID."""
        return channel_of(self.from_number, self.to_number, media=self.message_sid.startswith("MM")).value

    @property
    def opted_out(self) -> bool:
        """Twilio refused the message because the recipient opted out (21610)."""
        return self.error_code == TWILIO_OPTED_OUT

    @property
    def senders(self) -> tuple[str, ...]:
        """The business senders the recipient opted out of: the number and/or the service."""
        return tuple(s for s in (self.from_number, self.messaging_service_sid) if s)

    @classmethod
    def from_form(cls, pairs: Sequence[tuple[str, str]]) -> StatusCallback:
        """Build from the form's pairs; raises MissingField or InvalidField."""
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form and form[name] != value:
                raise InvalidField(f"{name} appears more than once with different values")
            form[name] = value
        sid = message_sid(form)
        status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
        if not status:
            raise MissingField("MessageStatus is required")
        return cls(
            message_sid=sid,
            status=status,
            error_code=whole_number(form, "ErrorCode"),
            account_sid=form.get("AccountSid") or None,
            messaging_service_sid=messaging_service_sid(form),
            from_number=form.get("From") or None,
            to_number=form.get("To") or None,
            raw_dlr_done_date=form.get("RawDlrDoneDate") or None,
            channel_status_message=form.get("ChannelStatusMessage") or None,
        )

    def report(self, at: datetime) -> StatusReport:
        """The status report this callback makes, received at `at`."""
        return StatusReport(
            status=self.status,
            at=at,
            source=SOURCE,
            error_code=self.error_code,
            raw_dlr_done_date=self.raw_dlr_done_date,
            channel_status_message=self.channel_status_message,
        )

    def fields(self) -> dict[str, Any]:
        """What the callback tells about the message itself, kept when nothing else stored it."""
        return {
            "channel": self.channel,
            "from_number": self.from_number,
            "to_number": self.to_number,
            "account_sid": self.account_sid,
            "messaging_service_sid": self.messaging_service_sid,
        }

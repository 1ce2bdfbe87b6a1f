"""Real-shaped Twilio status callback forms, and a fresh in-process table to record them in.

Shapes follow https://www.twilio.com/docs/messaging/guides/track-outbound-message-status:
both the Message* names and the older Sms* ones, RawDlrDoneDate on carrier receipts, the
Channel* fields on WhatsApp.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from moto import mock_aws

from carrier_core.models import MessageModel, bind_models
from carrier_core.settings import Settings
from tests.support.forms import ACCOUNT_SID, BUSINESS, CUSTOMER, Pairs, new_sid, replace

# moto intercepts calls to AWS's own endpoint; the local stage insists on an endpoint.
MOTO_ENDPOINT = "https://dynamodb.us-east-1.amazonaws.com"
# RawDlrDoneDate is the carrier's YYMMDDhhmm of the receipt.
DLR_DONE = "2611241407"


def status_callback(
    status: str,
    sid: str | None = None,
    error_code: int | None = None,
    whatsapp: bool = False,
    **extra: str,
) -> Pairs:
    """The form Twilio posts to a StatusCallback URL when message `sid` reaches `status`."""
    sid = sid or new_sid("SM")
    sender, recipient = (f"whatsapp:{BUSINESS}", f"whatsapp:{CUSTOMER}") if whatsapp else (BUSINESS, CUSTOMER)
    pairs: Pairs = [
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", recipient),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", sender),
        ("ApiVersion", "2010-04-01"),
    ]
    if error_code is not None:
        pairs.append(("ErrorCode", str(error_code)))
    if status in ("delivered", "undelivered") and not whatsapp:
        pairs.append(("RawDlrDoneDate", DLR_DONE))
    if whatsapp:
        pairs += [
            ("ChannelPrefix", "whatsapp"),
            ("ChannelInstallSid", "XE" + uuid.uuid5(uuid.NAMESPACE_URL, sid).hex),
            ("ChannelToAddress", CUSTOMER),
            ("StructuredMessage", "false"),
        ]
        if error_code is not None:
            pairs.append(("ChannelStatusMessage", "Message failed to send because more than 24 hours have passed"))
    return replace(pairs, **extra)


@contextmanager
def moto_messages_table() -> Iterator[None]:
    """The messages table in moto, in process, with the models bound to it for the duration."""
    environ = {"STAGE": "local", "DYNAMODB_ENDPOINT": MOTO_ENDPOINT, "STATUS_WEBHOOK_URL": "https://status.example.com/twilio/status"}
    with mock_aws():
        bind_models(Settings.from_env("status", environ=environ))
        MessageModel.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
        yield

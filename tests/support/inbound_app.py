"""The inbound app in process: the webhook harness with the inbound service's unit settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.webhooks import WebhookHarness, webhook_harness

TOKEN = "unit-test-auth-token-000000000000"
SECONDARY = "unit-test-secondary-token-0000000"
INBOUND_URL = "https://carrier.example.com/twilio/inbound"

UNIT_ENV = {
    "STAGE": "dev",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": TOKEN,
    "TWILIO_AUTH_TOKEN_SECONDARY": SECONDARY,
    "INBOUND_WEBHOOK_URL": INBOUND_URL,
    "STATUS_WEBHOOK_URL": "https://carrier.example.com/twilio/status",
    "DYNAMODB_ENDPOINT": "",
}

InboundHarness = WebhookHarness


@contextmanager
def inbound_harness() -> Iterator[WebhookHarness]:
    """Fresh tables in moto and a fresh import of the inbound app, counting DynamoDB API calls."""
    with webhook_harness("inbound", UNIT_ENV, INBOUND_URL, TOKEN) as harness:
        yield harness

"""The inbound app in-process: chalice's test client over moto's in-process DynamoDB."""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from chalice.test import Client
from moto import mock_aws

from carrier_core.models import ALL_MODELS, MessageModel
from tests.support.apps import load_app, project_dir
from tests.support.forms import encode, sign

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


@dataclass
class InboundHarness:
    app: ModuleType
    client: Client
    calls: Counter[str]

    def post(self, pairs: list[tuple[str, str]], token: str = TOKEN, url: str = INBOUND_URL, **headers: str) -> Any:
        all_headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(url, pairs, token),
            **headers,
        }
        return self.client.http.post("/twilio/inbound", headers=all_headers, body=encode(pairs))


@contextmanager
def inbound_harness() -> Iterator[InboundHarness]:
    """Fresh tables in moto and a fresh import of the app, counting DynamoDB API calls."""
    saved = dict(os.environ)
    os.environ.update(UNIT_ENV)
    try:
        with mock_aws():
            app = load_app("inbound")
            for model in ALL_MODELS:
                model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
            calls: Counter[str] = Counter()

            def count(event_name: str, **_: Any) -> None:
                calls[event_name.rsplit(".", 1)[-1]] += 1

            events = MessageModel._get_connection().connection.client.meta.events
            events.register("before-parameter-build.dynamodb", count)
            with Client(app.app, stage_name="dev", project_dir=project_dir("inbound")) as client:
                yield InboundHarness(app, client, calls)
    finally:
        os.environ.clear()
        os.environ.update(saved)

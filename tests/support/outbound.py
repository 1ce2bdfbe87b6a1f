"""The outbound app in process: moto for DynamoDB, the in-process Twilio sandbox for the REST API."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
import requests
from chalice.test import Client
from moto import mock_aws

from carrier_core.models import ALL_MODELS, MessageModel, OptOutModel, bind_models
from carrier_core.settings import Settings
from tests.support.apps import ROOT, load_app
from tests.support.sandbox import ACCOUNT_SID, AUTH_TOKEN, TwilioView, running_twilio

STATUS_URL = "https://status.example.com/twilio/status"
SENDER = "+15005550006"
CUSTOMER = "+15005550010"


def outbound_environ(twilio_url: str, **extra: str) -> dict[str, str]:
    """A deployed-like stage (moto intercepts only AWS's own endpoints, so no emulator URL)."""
    return {
        "STAGE": "dev",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": twilio_url,
        "TWILIO_DEFAULT_FROM_NUMBER": SENDER,
        "STATUS_WEBHOOK_URL": STATUS_URL,
        # Unit tests keep in-request retries quick.
        "OUTBOUND_BUDGET_SECONDS": "20",
        **extra,
    }


@dataclass
class Outbound:
    """A loaded app, its test client, and the Twilio sandbox behind it."""

    app: ModuleType
    client: Client
    twilio: TwilioView

    def post(self, payload: Any, key: str | None = None, headers: dict[str, str] | None = None) -> Any:
        all_headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {}), **(headers or {})}
        body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        return self.client.http.post("/messages", headers=all_headers, body=body)

    def get(self, sid: str) -> Any:
        return self.client.http.get(f"/messages/{sid}")

    def settings(self) -> Settings:
        settings: Settings = self.app.runtime.settings
        return settings


def outbound_module(name: str) -> ModuleType:
    """Import services/outbound/chalicelib/<name> without the app (no settings needed)."""
    for loaded in list(sys.modules):
        if loaded == "chalicelib" or loaded.startswith("chalicelib."):
            del sys.modules[loaded]
    path = str(ROOT / "services" / "outbound")
    sys.path.insert(0, path)
    try:
        return importlib.import_module(f"chalicelib.{name}")
    finally:
        sys.path.remove(path)


def create_tables() -> None:
    for model in ALL_MODELS:
        model.create_table(wait=False, billing_mode="PAY_PER_REQUEST")


def opt_out(phone: str, sender: str, opted_out: bool = True) -> None:
    OptOutModel(
        phone,
        sender,
        opted_out=opted_out,
        keyword="STOP" if opted_out else "START",
        message_sid="SM" + "0" * 32,
        updated_at="2026-01-01T00:00:00.000Z",
    ).save()


def create_at_twilio(twilio: TwilioView, to: str, body: str) -> None:
    """A message Twilio holds that no send of ours owns: one a request created before it
    died unanswered, or the same text sent by someone else (the console, another system)."""
    url = f"{twilio.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    response = requests.post(url, data={"To": to, "From": SENDER, "Body": body}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)
    assert response.status_code == 201, response.text[:300]


def stored(sid: str) -> MessageModel | None:
    try:
        return MessageModel.get(sid, consistent_read=True)
    except MessageModel.DoesNotExist:
        return None


def example_media(real: Any, probed: Any) -> Any:
    """The media check, answering for https://example.com/... itself (no network in unit
    tests): a small JPEG. Any other URL is probed for real."""

    def probe(url: str, settings: Settings, deadline: float) -> Any:
        if url.startswith("https://example.com/"):
            return probed(url, "image/jpeg", 1024)
        return real(url, settings, deadline)

    return probe


@pytest.fixture
def twilio() -> Iterator[TwilioView]:
    with running_twilio() as sandbox:
        yield sandbox


@pytest.fixture
def outbound(twilio: TwilioView, monkeypatch: pytest.MonkeyPatch) -> Iterator[Outbound]:
    for name in ("TWILIO_EDGE", "TWILIO_REGION", "DYNAMODB_ENDPOINT", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in outbound_environ(twilio.url).items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        module = load_app("outbound")
        bind_models(module.runtime.settings)
        create_tables()
        from chalicelib import media, templates, twilio_client

        monkeypatch.setattr(media, "probe", example_media(media.probe, media.Probed))
        twilio_client.reset_client()
        templates.reset()
        with Client(module.app, stage_name="dev") as client:
            yield Outbound(module, client, twilio)
        twilio_client.reset_client()
        templates.reset()


@pytest.fixture
def media_env() -> Iterator[tuple[Settings, Any]]:
    """The local stage's settings for chalicelib/media (SSRF guard off), with moto's bucket."""
    with mock_aws():
        env = {"STAGE": "local", "DYNAMODB_ENDPOINT": "http://127.0.0.1:1", "STATUS_WEBHOOK_URL": "http://x/twilio/status"}
        settings = Settings.from_env("outbound", environ=env)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=settings.media_bucket)
        yield settings, s3

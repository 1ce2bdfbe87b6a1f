"""Signed Twilio webhooks, posted to any service: in process (chalice's test client over moto)
or over HTTP to the local stack (tests.support.stack), with DynamoDB requests counted.

Every signature comes from twilio.request_validator.RequestValidator (tests.support.forms.sign).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from chalice.test import Client
from moto import mock_aws
from pynamodb.models import Model
from twilio.request_validator import RequestValidator

from carrier_core.models import ALL_MODELS
from tests.support.apps import load_app, project_dir
from tests.support.forms import encode, sign

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
FORM_HEADERS = {"Content-Type": FORM}


def signed_form(
    url: str,
    pairs: Sequence[tuple[str, str]],
    token: str,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a form webhook Twilio signed for `url` with `token`.

    `signature` replaces the computed one (a forged or empty header); `headers` are added last,
    so they can replace the Content-Type or the signature too.
    """
    sig = signature if signature is not None else sign(url, pairs, token)
    return encode(pairs).encode(), {**FORM_HEADERS, "X-Twilio-Signature": sig, **(headers or {})}


def signed_json(url: str, body: bytes, token: str, declared: bytes | None = None) -> tuple[str, dict[str, str]]:
    """A JSON webhook as Twilio signs one: `url` plus `bodySHA256` (the hex SHA-256 of
    `declared`, by default the body itself), signed with no form parameters. Returns the
    query Twilio adds and the headers."""
    digest = hashlib.sha256(body if declared is None else declared).hexdigest()
    query = ("&" if "?" in url else "?") + "bodySHA256=" + digest
    signature = RequestValidator(token).compute_signature(url + query, {})
    return query, {"Content-Type": JSON, "X-Twilio-Signature": signature}


def count_dynamodb_requests(models: Iterable[type[Model]] = ALL_MODELS) -> Counter[str]:
    """DynamoDB API calls from now on, by operation, over the models' clients (botocore's
    before-parameter-build event fires once per request, retries aside)."""
    calls: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    clients = {id(c): c for c in (model._get_connection().connection.client for model in models)}
    for client in clients.values():  # models may share a client: count each request once
        client.meta.events.register("before-parameter-build.dynamodb", count)
    return calls


def post_webhook(client: Client, service: str, url: str, pairs: Sequence[tuple[str, str]], token: str, **headers: str) -> Any:
    """POST a signed form to /twilio/<service> through a chalice test client."""
    body, all_headers = signed_form(url, pairs, token, headers=headers)
    return client.http.post(f"/twilio/{service}", headers=all_headers, body=body)


@dataclass
class WebhookHarness:
    """A service's app loaded afresh over moto, its test client, and its DynamoDB request count."""

    service: str
    app: ModuleType
    client: Client
    calls: Counter[str]
    url: str  # the public URL the app checks signatures against
    token: str

    def post(self, pairs: Sequence[tuple[str, str]], token: str | None = None, url: str | None = None, **headers: str) -> Any:
        """A form signed for `url` (the public URL) with `token` (the service's own)."""
        return post_webhook(self.client, self.service, url or self.url, pairs, token or self.token, **headers)

    def post_json(self, body: bytes, token: str | None = None, declared: bytes | None = None) -> Any:
        """A JSON body signed with bodySHA256 (declaring `declared` instead, to forge one)."""
        query, headers = signed_json(self.url, body, token or self.token, declared)
        return self.client.http.post(f"/twilio/{self.service}{query}", headers=headers, body=body)


@contextmanager
def webhook_harness(
    service: str,
    environ: dict[str, str],
    url: str,
    token: str,
    stage: str = "dev",
    tables: Iterable[type[Model]] = ALL_MODELS,
) -> Iterator[WebhookHarness]:
    """Fresh `tables` in moto and a fresh import of the app under `environ`, counting every
    DynamoDB request; the environment is restored afterwards."""
    saved = dict(os.environ)
    os.environ.update(environ)
    try:
        with mock_aws():
            app = load_app(service)
            for model in tables:
                model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
            calls = count_dynamodb_requests(tables)
            with Client(app.app, stage_name=stage, project_dir=project_dir(service)) as client:
                yield WebhookHarness(service, app, client, calls, url, token)
    finally:
        os.environ.clear()
        os.environ.update(saved)

"""`omni-twilio numbers`' requests to Twilio, checked by Prism against Twilio's specs.

The command runs in-process, aimed (TWILIO_API_BASE_URL) at a Prism proxy serving api v2010
and Messaging v1 together, as the sandbox serves them, in front of an in-process sandbox. The
proxy runs without `--errors`: it forwards every request and reports in each answer's
`sl-violations` header what it found wrong with the request or the sandbox's answer. Every
request the command makes must be clean, and every answer clean but for Twilio's relative
page links (tests/contract/test_outbound_requests.py: PAGE_LINKS), so the command really
walks the sandbox's pages; a malformed request must be reported.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from typer.testing import CliRunner

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_API_KEY_SECRET, LOCAL_API_KEY_SID, LOCAL_AUTH_TOKEN
from carrier_core.webhook import with_overrides
from devstack.sandbox import Sandbox, SandboxServer, start
from omni_cli import context, numbers
from omni_cli.main import app
from tests.contract.conftest import run_prism
from tests.support.prism import violations
from tests.support.sandbox import TWILIO_MESSAGING_SPEC, TWILIO_SPEC, running_sandbox

AUTH = (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)
PAGE_LINKS = {"uri", "first_page_uri", "next_page_uri", "previous_page_uri"}
SPARE = itertools.count(400)  # numbers no other test buys


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    params: dict[str, str]
    form: dict[str, str]
    status: int
    found: list[dict[str, Any]]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    # The API key the command authenticates with locally (omni_cli.context).
    yield from running_sandbox(api_key=True)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxServer) -> Iterator[str]:
    work = tmp_path_factory.mktemp("prism-numbers")
    with run_prism(work, "proxy", sandbox.url, specs=(TWILIO_SPEC, TWILIO_MESSAGING_SPEC), errors=False) as url:
        yield url


@pytest.fixture
def exchanges(proxy: str, monkeypatch: pytest.MonkeyPatch) -> list[Exchange]:
    """Every request the command makes through the proxy, with what Prism found."""
    for name in ("DEVSTACK_PORT_BASE", "INBOUND_WEBHOOK_URL", "STATUS_WEBHOOK_URL", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWILIO_API_BASE_URL", proxy)
    seen: list[Exchange] = []
    real = context.http

    def recording(method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        response = real(method, url, what, **kwargs)
        found = violations(dict(response.headers))
        seen.append(
            Exchange(
                method, urlsplit(url).path, dict(kwargs.get("params") or {}), dict(kwargs.get("data") or {}), response.status_code, found
            )
        )
        return response

    monkeypatch.setattr(numbers, "http", recording)
    return seen


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["numbers", *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def clean(exchange: Exchange) -> bool:
    """Nothing wrong with the request, nor with the answer but its relative page links."""
    return all(
        v["location"][:2] == ["response", "body"] and v["location"][-1] in PAGE_LINKS and v.get("code") == "format" for v in exchange.found
    )


def buy(sandbox: SandboxServer, number: str, **fields: str) -> dict[str, Any]:
    url = f"{sandbox.url}/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/IncomingPhoneNumbers.json"
    response = requests.post(url, data={"PhoneNumber": number, **fields}, auth=AUTH, timeout=10)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def new_service(sandbox: SandboxServer, **fields: str) -> dict[str, Any]:
    response = requests.post(f"{sandbox.url}/v1/Services", data={"FriendlyName": "Support", **fields}, auth=AUTH, timeout=10)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_configure_a_number_makes_requests_twilios_spec_accepts(sandbox: SandboxServer, exchanges: list[Exchange]) -> None:
    number = buy(sandbox, "+15005550300")
    run("configure", "+15005550300")
    find, update = exchanges
    assert (find.method, find.path, find.params["PhoneNumber"]) == (
        "GET",
        f"/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/IncomingPhoneNumbers.json",
        "+15005550300",
    )
    assert (update.method, update.path) == ("POST", f"/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/IncomingPhoneNumbers/{number['sid']}.json")
    assert update.form == {"SmsUrl": with_overrides("http://127.0.0.1:8001/twilio/inbound"), "SmsMethod": "POST"}
    for exchange in exchanges:
        assert exchange.status == 200 and clean(exchange), exchange
    assert find.found, "the list's relative page links are reported: Prism did check the answer"


def test_configure_a_service_makes_requests_twilios_spec_accepts(sandbox: SandboxServer, exchanges: list[Exchange]) -> None:
    service = new_service(sandbox)
    run("configure", service["sid"])
    [update] = exchanges
    assert (update.method, update.path, update.status) == ("POST", f"/v1/Services/{service['sid']}", 200)
    assert update.form == {
        "InboundRequestUrl": with_overrides("http://127.0.0.1:8001/twilio/inbound"),
        "InboundMethod": "POST",
        "StatusCallback": with_overrides("http://127.0.0.1:8002/twilio/status"),
    }
    assert update.found == [], update.found


def test_list_walks_every_page_with_requests_twilios_spec_accepts(
    sandbox: SandboxServer, exchanges: list[Exchange], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(numbers, "PAGE_SIZE", 2)
    for n in range(3):
        buy(sandbox, f"+1500555031{n}")
        new_service(sandbox, FriendlyName=f"service {n}")
    run("list", "--json")
    paths = [e.path for e in exchanges]
    assert paths.count(f"/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/IncomingPhoneNumbers.json") >= 2
    assert paths.count("/v1/Services") >= 2, "the second page of services, reached through the proxy too"
    for exchange in exchanges:
        assert exchange.status == 200 and clean(exchange), exchange


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        ("number", {"SmsUrl": "not a url", "SmsMethod": "POST"}, "SmsUrl"),
        ("number", {"SmsUrl": "https://x.example.com/in", "SmsMethod": "PUT"}, "SmsMethod"),
        ("service", {"InboundRequestUrl": "https://x.example.com/in", "InboundMethod": "PATCH"}, "InboundMethod"),
        ("service", {"StatusCallback": "status please"}, "StatusCallback"),
    ],
)
def test_the_proxy_reports_a_malformed_update(proxy: str, sandbox: SandboxServer, path: str, form: dict[str, str], field: str) -> None:
    if path == "number":
        sid = buy(sandbox, f"+15005550{next(SPARE):03d}")["sid"]
        url = f"{proxy}/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/IncomingPhoneNumbers/{sid}.json"
    else:
        url = f"{proxy}/v1/Services/{new_service(sandbox)['sid']}"
    response = requests.post(url, data=form, auth=AUTH, timeout=10)
    found = violations(dict(response.headers))
    assert ["request", "body", field] in [v["location"] for v in found], found

"""The Content API requests the outbound service and `omni-twilio templates` make, checked by
Prism against Twilio's own spec, `twilio_content_v1` (from the npm package package.json pins).

Both run in-process, aimed (TWILIO_CONTENT_API_BASE_URL) at a Prism proxy serving the spec in
front of an in-process sandbox. The proxy runs without `--errors`: it forwards every request
and reports in each answer's `sl-violations` header what it found wrong with the request or
with the sandbox's answer. Every request must be clean and every answer too, so the sandbox's
templates are Twilio-shaped; a malformed request must be reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from typer.testing import CliRunner

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_API_KEY_SECRET, LOCAL_API_KEY_SID, LOCAL_AUTH_TOKEN, Settings
from devstack.sandbox import Sandbox, SandboxServer, start
from omni_cli import context, templates
from omni_cli.main import app
from tests.contract.conftest import run_prism
from tests.support.apps import load_app
from tests.support.outbound import outbound_environ
from tests.support.prism import violations
from tests.support.sandbox import TWILIO_SPECS, running_sandbox

TWILIO_CONTENT_SPEC = TWILIO_SPECS / "twilio_content_v1.json"
AUTH = (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)


@dataclass(frozen=True)
class Exchange:
    path: str
    params: dict[str, str]
    status: int
    found: list[dict[str, Any]]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    yield from running_sandbox(api_key=True)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxServer) -> Iterator[str]:
    work = tmp_path_factory.mktemp("prism-content")
    with run_prism(work, "proxy", sandbox.url, specs=(TWILIO_CONTENT_SPEC,), errors=False) as url:
        yield url


def add(sandbox: SandboxServer, **spec: Any) -> str:
    response = requests.post(sandbox.url + "/_sandbox/content", json={"friendly_name": "order_update", **spec}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


# ---- the outbound service's lookups ---------------------------------------------------


@pytest.fixture
def outbound(proxy: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, Settings]]:
    # The sandbox's own credentials: the service reads templates as the stack's account.
    environ = outbound_environ(sandbox.url, TWILIO_CONTENT_API_BASE_URL=proxy)
    environ.update(TWILIO_ACCOUNT_SID=LOCAL_ACCOUNT_SID, TWILIO_AUTH_TOKEN=LOCAL_AUTH_TOKEN)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    loaded = load_app("outbound")
    from chalicelib import templates as outbound_templates  # the module load_app just imported

    outbound_templates.reset()
    yield outbound_templates, loaded.runtime.settings
    outbound_templates.reset()


def test_the_outbound_services_template_lookups_are_what_twilios_spec_describes(
    outbound: tuple[ModuleType, Settings], sandbox: SandboxServer
) -> None:
    lookups, settings = outbound
    sid = add(sandbox, variables={"1": "Zoë", "order": "A-1"}, whatsapp={"status": "paused"})
    http = lookups._client(settings).http_client
    assert lookups.declared_variables(settings, sid) == frozenset({"1", "order"})
    fetched = http.last_response()
    assert fetched is not None and fetched.status_code == 200
    assert violations(fetched.headers) == []
    assert lookups.whatsapp_approval(settings, sid).status == "paused"
    approval = http.last_response()
    assert approval is not None and approval.status_code == 200
    assert violations(approval.headers) == []


# ---- omni-twilio templates ------------------------------------------------------------


@pytest.fixture
def exchanges(proxy: str, monkeypatch: pytest.MonkeyPatch) -> list[Exchange]:
    """Every request the command makes through the proxy, with what Prism found."""
    for name in ("DEVSTACK_PORT_BASE", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET", "TWILIO_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWILIO_CONTENT_API_BASE_URL", proxy)
    seen: list[Exchange] = []
    real = context.http

    def recording(method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        response = real(method, url, what, **kwargs)
        seen.append(
            Exchange(urlsplit(url).path, dict(kwargs.get("params") or {}), response.status_code, violations(dict(response.headers)))
        )
        return response

    monkeypatch.setattr(templates, "http", recording)
    return seen


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["templates", *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def test_templates_list_walks_every_page_with_requests_twilios_spec_accepts(
    sandbox: SandboxServer, exchanges: list[Exchange], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(templates, "PAGE_SIZE", 2)
    sids = [add(sandbox, friendly_name=f"t{n}") for n in range(3)]
    run("list", "--json")
    paths = [e.path for e in exchanges]
    assert paths.count("/v1/Content") >= 2, "the second page, reached through the proxy too"
    for sid in sids:
        assert f"/v1/Content/{sid}/ApprovalRequests" in paths
    for exchange in exchanges:
        assert exchange.status == 200 and exchange.found == [], exchange


def test_templates_show_makes_requests_twilios_spec_accepts(sandbox: SandboxServer, exchanges: list[Exchange]) -> None:
    sid = add(sandbox, variables={"1": "x"}, whatsapp={"status": "rejected", "rejection_reason": "wording"})
    run("show", sid)
    assert [e.path for e in exchanges] == [f"/v1/Content/{sid}", f"/v1/Content/{sid}/ApprovalRequests"]
    for exchange in exchanges:
        assert exchange.status == 200 and exchange.found == [], exchange


@pytest.mark.parametrize(
    ("path", "params", "location"),
    [
        ("/v1/Content/HX123", {}, ["request", "path", "sid"]),
        ("/v1/Content/HX123/ApprovalRequests", {}, ["request", "path", "sid"]),
        ("/v1/Content", {"PageSize": "0"}, ["request", "query", "pagesize"]),
    ],
)
def test_the_proxy_reports_a_malformed_request(proxy: str, path: str, params: dict[str, str], location: list[str]) -> None:
    # Prism names a parameter in lower case in what it reports.
    response = requests.get(proxy + path, params=params, auth=AUTH, timeout=10)
    found = violations(dict(response.headers))
    assert location in [v["location"] for v in found], found

"""`omni-twilio templates list` and `templates show` for the default tenant, against an
in-process sandbox playing Twilio's Content API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from typer.testing import CliRunner, Result

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_API_KEY_SECRET, LOCAL_API_KEY_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import Sandbox, SandboxServer, start
from tests.support.sandbox import running_sandbox
from omni_cli.main import app

OTHER_SID = "AC" + "e" * 32


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    for server in running_sandbox(api_key=True):
        for name in ("DEVSTACK_PORT_BASE", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET", "TWILIO_API_BASE_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("TWILIO_CONTENT_API_BASE_URL", server.url)
        yield server


def cli(*args: str, columns: int = 250) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})


def failure(*args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def add(sandbox: SandboxServer, **spec: Any) -> str:
    response = requests.post(sandbox.url + "/_sandbox/content", json={"friendly_name": "order_update", **spec}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


def test_list_shows_each_template_its_status_and_variables(sandbox: SandboxServer) -> None:
    approved = add(sandbox, friendly_name="order_update", variables={"1": "Zoë", "order": "A-1"}, language="es")
    paused = add(sandbox, friendly_name="appointment_reminder", whatsapp={"status": "paused"})
    never = add(sandbox, friendly_name="welcome", whatsapp=None)
    result = cli("templates", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert (listed["tenant"], listed["account_sid"]) == ("default", LOCAL_ACCOUNT_SID)
    assert [(i["name"], i["sid"], i["language"], i["status"], i["variables"]) for i in listed["items"]] == [
        ("appointment_reminder", paused, "en", "paused", []),
        ("order_update", approved, "es", "approved", ["1", "order"]),
        ("welcome", never, "en", "unsubmitted", []),
    ]
    table = cli("templates", "list")
    assert table.exit_code == 0, table.output
    assert "3, 1 approved for WhatsApp" in table.output
    for sid in (approved, paused, never):
        assert sid in table.output


def test_a_narrow_terminal_never_cuts_a_sid(sandbox: SandboxServer) -> None:
    sid = add(sandbox, friendly_name="a_rather_long_template_name_for_reminders", variables={f"v{n}": "x" for n in range(8)})
    result = cli("templates", "list", columns=60)
    assert result.exit_code == 0, result.output
    assert sid in result.output and "left out at 60 columns" in result.output


def test_show_prints_the_approval_the_variables_and_the_content(sandbox: SandboxServer) -> None:
    sid = add(
        sandbox,
        variables={"1": "Zoë", "order": "A-1"},
        body="Hi {{1}}, order {{order}} has shipped",
        whatsapp={"status": "rejected", "category": "MARKETING", "rejection_reason": "promotional wording"},
    )
    result = cli("templates", "show", sid)
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert f"sid {sid}" in lines
    assert "whatsapp status rejected" in lines
    assert "whatsapp category MARKETING" in lines
    assert "whatsapp rejection reason promotional wording" in lines
    assert "variable order sample 'A-1'" in lines
    assert "content twilio/text Hi {{1}}, order {{order}} has shipped" in lines
    shown = json.loads(cli("templates", "show", sid, "--json").output)
    assert (shown["sid"], shown["variables"], shown["whatsapp"]["status"]) == (sid, {"1": "Zoë", "order": "A-1"}, "rejected")


def test_a_template_of_another_account_or_none_is_one_line(sandbox: SandboxServer) -> None:
    requests.post(sandbox.url + "/_sandbox/accounts", json={"account_sid": OTHER_SID, "auth_token": "t"}, timeout=10).raise_for_status()
    theirs = add(sandbox, account_sid=OTHER_SID)
    assert failure("templates", "show", theirs) == f"Error: account {LOCAL_ACCOUNT_SID} has no template {theirs}"
    assert failure("templates", "show", "HX12") == "Error: HX_SID: a template's SID is HX followed by 32 hexadecimal digits"
    assert json.loads(cli("templates", "list", "--json").output)["items"] == []


def test_a_stack_that_is_down_is_one_line_naming_the_sandbox(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_CONTENT_API_BASE_URL")
    line = failure("--port-base", "25990", "templates", "list")
    assert line == "Error: cannot reach the local stack's Twilio sandbox at http://127.0.0.1:25994: is the stack running (make dev)?"

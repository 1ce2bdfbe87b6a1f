"""`omni-twilio numbers configure` and `numbers list` for the default tenant, against an
in-process sandbox playing Twilio (tenants: tests/e2e/test_numbers.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from typer.testing import CliRunner, Result

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_API_KEY_SECRET, LOCAL_API_KEY_SID, LOCAL_AUTH_TOKEN
from carrier_core.webhook import with_overrides
from devstack.sandbox import Sandbox, SandboxServer, start
from tests.support.sandbox import running_sandbox
from omni_cli.main import app

NUMBER, LONGER = "+15005550100", "+150055501001"  # Twilio's PhoneNumber filter finds both for NUMBER
AUTH = (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)
INBOUND = "http://127.0.0.1:8001/twilio/inbound"
STATUS = "http://127.0.0.1:8002/twilio/status"
VOICE_STATUS = "https://voice.example.com/call-status"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    for server in running_sandbox(api_key=True):
        for name in ("DEVSTACK_PORT_BASE", "INBOUND_WEBHOOK_URL", "STATUS_WEBHOOK_URL", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("TWILIO_API_BASE_URL", server.url)
        yield server


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def failure(*args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def buy(sandbox: SandboxServer, number: str, **fields: str) -> dict[str, Any]:
    url = f"{sandbox.url}/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/IncomingPhoneNumbers.json"
    response = requests.post(url, data={"PhoneNumber": number, **fields}, auth=AUTH, timeout=10)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def number_of(sandbox: SandboxServer, sid: str) -> dict[str, Any]:
    url = f"{sandbox.url}/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/IncomingPhoneNumbers/{sid}.json"
    body: dict[str, Any] = requests.get(url, auth=AUTH, timeout=10).json()
    return body


def new_service(sandbox: SandboxServer, **fields: str) -> dict[str, Any]:
    response = requests.post(f"{sandbox.url}/v1/Services", data={"FriendlyName": "Support", **fields}, auth=AUTH, timeout=10)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def service_of(sandbox: SandboxServer, sid: str) -> dict[str, Any]:
    body: dict[str, Any] = requests.get(f"{sandbox.url}/v1/Services/{sid}", auth=AUTH, timeout=10).json()
    return body


def listed(*args: str) -> dict[str, Any]:
    result = cli(*args, "numbers", "list", "--json")
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.output)
    return body


def test_configure_points_the_numbers_sms_url_here_with_the_overrides(sandbox: SandboxServer) -> None:
    longer = buy(sandbox, LONGER, SmsUrl="https://elsewhere.example.com/in")
    number = buy(sandbox, NUMBER, StatusCallback=VOICE_STATUS)
    result = cli("numbers", "configure", NUMBER)
    assert result.exit_code == 0, result.output
    after = number_of(sandbox, number["sid"])
    assert (after["sms_url"], after["sms_method"]) == (with_overrides(INBOUND), "POST")
    assert after["status_callback"] == VOICE_STATUS, "a number's StatusCallback is its calls': left alone"
    assert number_of(sandbox, longer["sid"])["sms_url"] == "https://elsewhere.example.com/in", "only the number named"
    assert NUMBER not in result.output and "***0100" in result.output
    assert with_overrides(INBOUND) in result.output


def test_configure_with_an_inbound_url_uses_it(sandbox: SandboxServer) -> None:
    number = buy(sandbox, NUMBER)
    assert cli("--inbound-url", "https://in.example.com/prod", "numbers", "configure", NUMBER).exit_code == 0
    assert number_of(sandbox, number["sid"])["sms_url"] == with_overrides("https://in.example.com/prod/twilio/inbound")


def test_configure_warns_when_an_application_takes_the_numbers_messages(sandbox: SandboxServer) -> None:
    buy(sandbox, NUMBER, SmsApplicationSid="AP" + "1" * 32)
    result = cli("numbers", "configure", NUMBER)
    assert result.exit_code == 0 and "warning" in result.output and "AP" + "1" * 32 in result.output


def test_configure_a_number_the_account_does_not_own_fails_in_one_masked_line(sandbox: SandboxServer) -> None:
    buy(sandbox, LONGER)
    line = failure("numbers", "configure", NUMBER)
    assert line == f"Error: account {LOCAL_ACCOUNT_SID} has no number ***0100"


def test_configure_points_a_services_inbound_and_status_here(sandbox: SandboxServer) -> None:
    service = new_service(sandbox, InboundRequestUrl="https://elsewhere.example.com/in", FallbackUrl="https://fallback.example.com/")
    result = cli("numbers", "configure", service["sid"])
    assert result.exit_code == 0, result.output
    after = service_of(sandbox, service["sid"])
    assert (after["inbound_request_url"], after["inbound_method"]) == (with_overrides(INBOUND), "POST")
    assert after["status_callback"] == with_overrides(STATUS)
    assert after["fallback_url"] == "https://fallback.example.com/", "nothing else is changed"
    assert "warning" not in result.output


def test_configure_warns_when_the_service_hands_inbound_to_its_numbers(sandbox: SandboxServer) -> None:
    service = new_service(sandbox, UseInboundWebhookOnNumber="true")
    result = cli("numbers", "configure", service["sid"])
    assert result.exit_code == 0 and "use_inbound_webhook_on_number" in result.output
    assert service_of(sandbox, service["sid"])["use_inbound_webhook_on_number"] is True, "left as the operator set it"


def test_configure_an_unknown_service_fails_in_one_line(sandbox: SandboxServer) -> None:
    assert failure("numbers", "configure", "MG" + "0" * 32) == f"Error: account {LOCAL_ACCOUNT_SID} has no Messaging Service MG{'0' * 32}"


@pytest.mark.parametrize("target", ["5005550100", "+05005550100", "whatsapp:+15005550100", "MG123", "PN" + "0" * 32, ""])
def test_configure_refuses_what_is_neither_before_any_request(sandbox: SandboxServer, target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("omni_cli.numbers.http", lambda *a, **k: pytest.fail("no request for a malformed target"))
    assert "NUMBER_OR_MG" in failure("numbers", "configure", target)


def test_twilios_error_is_one_line(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_API_KEY_SID", "SK" + "9" * 32)
    monkeypatch.setenv("TWILIO_API_KEY_SECRET", "not-the-secret")
    assert failure("numbers", "list") == "Error: Twilio answered 401 listing incoming_phone_numbers: 20003 Authenticate"


def test_list_flags_what_points_elsewhere_or_lacks_the_overrides(sandbox: SandboxServer) -> None:
    here = buy(sandbox, "+15005550101", SmsUrl=with_overrides(INBOUND))
    bare = buy(sandbox, "+15005550102", SmsUrl=INBOUND)
    elsewhere = buy(sandbox, "+15005550103", SmsUrl=with_overrides("https://other.example.com/twilio/inbound"))
    unset = buy(sandbox, "+15005550104", SmsUrl=with_overrides(INBOUND), SmsMethod="GET")
    app_number = buy(sandbox, "+15005550105", SmsUrl=with_overrides(INBOUND), SmsApplicationSid="AP" + "2" * 32)
    service_ok = new_service(sandbox, InboundRequestUrl=with_overrides(INBOUND), StatusCallback=with_overrides(STATUS))
    service_off = new_service(
        sandbox,
        InboundRequestUrl=with_overrides(INBOUND),
        StatusCallback="https://other.example.com/status",
        UseInboundWebhookOnNumber="true",
    )
    report = listed()
    assert (report["tenant"], report["account_sid"]) == ("default", LOCAL_ACCOUNT_SID)
    assert report["wanted"] == {"inbound": with_overrides(INBOUND), "status": with_overrides(STATUS)}
    problems = {item["sid"]: item["problems"] for item in report["items"]}
    assert problems[here["sid"]] == []
    assert problems[bare["sid"]] == ["inbound lacks the connection overrides"]
    assert problems[elsewhere["sid"]] == ["inbound points elsewhere"]
    assert problems[unset["sid"]] == ["inbound method is GET, not POST"]
    assert problems[app_number["sid"]] == [f"its messages go to application AP{'2' * 32}, not its SmsUrl"]
    assert problems[service_ok["sid"]] == []
    assert problems[service_off["sid"]] == [
        "status points elsewhere",
        "inbound messages go to each number's own SmsUrl (use_inbound_webhook_on_number)",
    ]
    assert report["flagged"] == 5
    numbers = [item for item in report["items"] if item["kind"] == "number"]
    assert [item["phone"] for item in numbers] == ["***0101", "***0102", "***0103", "***0104", "***0105"]
    assert listed("--show-numbers")["items"][0]["phone"] == "+15005550101"


def test_list_says_a_number_without_a_url_has_none(sandbox: SandboxServer) -> None:
    buy(sandbox, NUMBER)
    new_service(sandbox)
    assert [item["problems"] for item in listed()["items"]] == [["no inbound URL"], ["no inbound URL", "no status URL"]]


def test_list_table_masks_numbers_and_shows_each_line(sandbox: SandboxServer) -> None:
    buy(sandbox, NUMBER, SmsUrl="https://other.example.com/in")
    result = cli("numbers", "list")
    assert result.exit_code == 0, result.output
    assert NUMBER not in result.output and "***0100" in result.output
    assert "inbound points elsewhere" in result.output and "1 flagged" in result.output


def test_list_reads_every_page(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("omni_cli.numbers.PAGE_SIZE", 2)
    for n in range(5):
        buy(sandbox, f"+1500555020{n}")
        new_service(sandbox, FriendlyName=f"service {n}")
    items = listed()["items"]
    assert sum(1 for item in items if item["kind"] == "number") == 5
    assert sum(1 for item in items if item["kind"] == "service") == 5

"""`omni-twilio show`: the SID is checked before any request is made from it; the start of
one is completed within the tenant's messages, or refused in one line."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from omni_cli.main import app


def refuse_http(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("no request may leave for a malformed SID")


@pytest.mark.parametrize(
    "sid",
    [
        "../health",
        "SM",
        "SM" + "0" * 33,
        "XX" + "0" * 32,
        "SM" + "g" * 32,
        "SM" + "0" * 32 + "/media/0",
        "SM" + "0" * 32 + "\n",
        "%2e%2e",
        "",
    ],
)
def test_show_refuses_what_is_not_a_message_sid(monkeypatch: pytest.MonkeyPatch, sid: str) -> None:
    monkeypatch.setattr("omni_cli.messages.http", refuse_http)
    monkeypatch.setattr("omni_cli.ids.matching", refuse_http)
    result = CliRunner().invoke(app, ["show", sid])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "SM or MM" in lines[0], result.output


@pytest.mark.parametrize("sid", ["SM" + "0" * 32, "MM" + "AbCdEf" + "0" * 26, "RQ" + "1" * 32])
def test_show_asks_for_a_well_formed_id(monkeypatch: pytest.MonkeyPatch, sid: str) -> None:
    monkeypatch.delenv("DEVSTACK_PORT_BASE", raising=False)
    asked: list[str] = []

    class NotFound:
        status_code = 404

    def fake_http(method: str, url: str, what: str, **kwargs: Any) -> Any:
        asked.append(url)
        return NotFound()

    monkeypatch.setattr("omni_cli.messages.http", fake_http)
    result = CliRunner().invoke(app, ["show", sid])
    assert result.exit_code == 1 and result.output.strip() == f"Error: message {sid} not found"
    assert asked == [f"http://127.0.0.1:8003/messages/{sid}"]


@pytest.mark.parametrize(
    "found,expected",
    [
        (["SM6aba" + "0" * 28], None),
        ([], "Error: no message of tenant default has an id starting with SM6aba"),
        (
            ["SM6aba" + "0" * 28, "SM6aba" + "1" * 28],
            "Error: SM6aba is ambiguous: 2 messages of tenant default start with it; give more of the id",
        ),
    ],
)
def test_show_completes_the_start_of_a_sid(monkeypatch: pytest.MonkeyPatch, found: list[str], expected: str | None) -> None:
    monkeypatch.delenv("DEVSTACK_PORT_BASE", raising=False)
    looked_up: list[tuple[str, str | None]] = []
    asked: list[str] = []

    def matching(profile: Any, prefix: str, tenant: str | None) -> list[str]:
        looked_up.append((prefix, tenant))
        return found

    class NotFound:
        status_code = 404

    def fake_http(method: str, url: str, what: str, **kwargs: Any) -> Any:
        asked.append(url)
        return NotFound()

    monkeypatch.setattr("omni_cli.ids.matching", matching)
    monkeypatch.setattr("omni_cli.messages.http", fake_http)
    result = CliRunner().invoke(app, ["show", "SM6aba"])
    assert looked_up == [("SM6aba", "default")]
    if expected is None:  # the one match is read, whole
        assert asked == [f"http://127.0.0.1:8003/messages/{found[0]}"]
    else:
        assert result.exit_code == 1 and result.output.strip() == expected and not asked

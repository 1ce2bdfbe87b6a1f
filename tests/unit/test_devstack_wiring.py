"""`make dev`'s wiring: a public base URL, real Twilio, and explicit URLs that win.

No stack is started and nothing is sent: the environment the parts would run with is
computed as `make dev` computes it, and the outbound service's Twilio client is built
from it the way the service builds it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_API_KEY_SID, LOCAL_AUTH_TOKEN, Settings
from carrier_core.tenants import webhook_url
from devstack.stack import Layout, banner, child_env
from devstack.wiring import REAL_TWILIO, WiringError, wiring_for
from tests.support.outbound import outbound_module

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = Layout(29900)
TUNNEL = "https://my-tunnel.example.app"
REAL_SID = "AC" + "5" * 32
REAL_TOKEN = "0123456789abcdef0123456789abcdef"
WIRED: tuple[str, ...] = (
    "PUBLIC_URL",
    "TWILIO",
    "INBOUND_WEBHOOK_URL",
    "STATUS_WEBHOOK_URL",
    "TWILIO_API_BASE_URL",
    "TWILIO_CONTENT_API_BASE_URL",
)
WIRED += ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET")


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The test's environment without any of the settings the wiring reads."""
    for name in WIRED:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


def test_by_default_everything_is_local(environ: pytest.MonkeyPatch) -> None:
    env = child_env(LAYOUT)
    assert env["INBOUND_WEBHOOK_URL"] == LAYOUT.url("inbound") + "/twilio/inbound"
    assert env["STATUS_WEBHOOK_URL"] == LAYOUT.url("status") + "/twilio/status"
    assert env["TWILIO_API_BASE_URL"] == LAYOUT.url("sandbox")
    assert env["TWILIO_CONTENT_API_BASE_URL"] == LAYOUT.url("sandbox")  # templates too
    assert env["TWILIO_API_KEY_SID"] == LOCAL_API_KEY_SID


def test_the_parts_import_the_checkout_first_then_the_callers_pythonpath(environ: pytest.MonkeyPatch) -> None:
    environ.delenv("PYTHONPATH", raising=False)
    assert child_env(LAYOUT)["PYTHONPATH"] == str(ROOT)
    environ.setenv("PYTHONPATH", "/elsewhere/libs/carrier_core")
    assert child_env(LAYOUT)["PYTHONPATH"] == f"{ROOT}{os.pathsep}/elsewhere/libs/carrier_core"


def test_a_public_url_is_what_webhooks_are_checked_against_and_what_twilio_is_handed(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("PUBLIC_URL", TUNNEL + "/")
    env = child_env(LAYOUT)
    assert (env["INBOUND_WEBHOOK_URL"], env["STATUS_WEBHOOK_URL"]) == (f"{TUNNEL}/twilio/inbound", f"{TUNNEL}/twilio/status")
    assert env["TWILIO_API_BASE_URL"] == LAYOUT.url("sandbox")
    # What the services read from that environment: the URLs signatures are checked against
    # (tenant routes derived from them) and the StatusCallback a send hands Twilio.
    for service in ("inbound", "status"):
        settings = Settings.from_env(service, {**env, "STAGE": "local"})
        assert settings.account.inbound_webhook_url == f"{TUNNEL}/twilio/inbound"
        assert settings.account.status_webhook_url == f"{TUNNEL}/twilio/status"
        assert webhook_url(settings.account.inbound_webhook_url, "acme", "inbound") == f"{TUNNEL}/twilio/acme/inbound"
    outbound = Settings.from_env("outbound", {**env, "STAGE": "local"})
    assert outbound.account.status_webhook_url == f"{TUNNEL}/twilio/status"
    shown = banner(LAYOUT)
    assert f"{TUNNEL}/twilio/inbound  (from PUBLIC_URL={TUNNEL}; signatures are checked against it)" in shown
    assert f"{TUNNEL}/twilio/status  (from PUBLIC_URL={TUNNEL}" in shown


def test_explicit_urls_win_over_local_defaults_and_the_public_url(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("PUBLIC_URL", TUNNEL)
    environ.setenv("INBOUND_WEBHOOK_URL", "https://inbound.example.app/twilio/inbound")
    environ.setenv("TWILIO_API_BASE_URL", "http://127.0.0.1:4010")
    env = child_env(LAYOUT)
    assert env["INBOUND_WEBHOOK_URL"] == "https://inbound.example.app/twilio/inbound"
    assert env["STATUS_WEBHOOK_URL"] == f"{TUNNEL}/twilio/status"
    assert env["TWILIO_API_BASE_URL"] == "http://127.0.0.1:4010"
    shown = banner(LAYOUT)
    assert "https://inbound.example.app/twilio/inbound  (from INBOUND_WEBHOOK_URL)" in shown
    assert "http://127.0.0.1:4010  the local sandbox  (from TWILIO_API_BASE_URL)" in shown


@pytest.mark.parametrize("bad", ["my-tunnel.example.app", "ftp://x.example", f"{TUNNEL}/?a=1"])
def test_a_public_url_that_is_not_a_base_url_is_refused(environ: pytest.MonkeyPatch, bad: str) -> None:
    environ.setenv("PUBLIC_URL", bad)
    with pytest.raises(WiringError, match="PUBLIC_URL must be a base URL"):
        child_env(LAYOUT)


def test_real_twilio_talks_to_api_twilio_com_with_the_environments_credentials(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("TWILIO", "real")
    environ.setenv("TWILIO_ACCOUNT_SID", REAL_SID)
    environ.setenv("TWILIO_AUTH_TOKEN", REAL_TOKEN)
    env = child_env(LAYOUT)
    assert "TWILIO_API_BASE_URL" not in env and "TWILIO_CONTENT_API_BASE_URL" not in env
    assert "TWILIO_API_KEY_SID" not in env  # never the sandbox's key against real Twilio
    settings = Settings.from_env("outbound", {**env, "STAGE": "local"})
    client_module = outbound_module("twilio_client")
    client = client_module.build_client(settings, client_module.KeepingHttpClient())
    assert client.api.base_url == REAL_TWILIO
    assert (client.username, client.password, client.account_sid) == (REAL_SID, REAL_TOKEN, REAL_SID)
    assert f"{REAL_TWILIO}  real Twilio (TWILIO=real)" in banner(LAYOUT)


def test_an_explicit_api_base_url_still_wins_in_real_mode(environ: pytest.MonkeyPatch) -> None:
    for name, value in {"TWILIO": "real", "TWILIO_ACCOUNT_SID": REAL_SID, "TWILIO_AUTH_TOKEN": REAL_TOKEN}.items():
        environ.setenv(name, value)
    environ.setenv("TWILIO_API_BASE_URL", "http://127.0.0.1:4010")
    assert child_env(LAYOUT)["TWILIO_API_BASE_URL"] == "http://127.0.0.1:4010"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({}, "needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
        ({"TWILIO_ACCOUNT_SID": REAL_SID}, "needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
        (
            {"TWILIO_ACCOUNT_SID": LOCAL_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": LOCAL_AUTH_TOKEN},
            "refuses the local sandbox's default credentials",
        ),
        ({"TWILIO_ACCOUNT_SID": REAL_SID, "TWILIO_AUTH_TOKEN": LOCAL_AUTH_TOKEN}, "refuses the local sandbox's default credentials"),
    ],
)
def test_real_twilio_is_refused_without_real_credentials(given: dict[str, str], says: str) -> None:
    with pytest.raises(WiringError, match=says):
        wiring_for({"TWILIO": "real", **given}, LAYOUT.service_env())


def test_an_unknown_twilio_mode_is_refused() -> None:
    with pytest.raises(WiringError, match="is not one of sandbox, real"):
        wiring_for({"TWILIO": "live"}, LAYOUT.service_env())


def test_make_dev_refuses_real_twilio_without_credentials_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in WIRED}
    env.update(TWILIO="real", DEVSTACK_PORT_BASE="29900", DEVSTACK_DATA_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "devstack"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "make dev: TWILIO=real needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN of your Twilio account in the environment"
    ]
    assert not any(tmp_path.iterdir())  # refused before anything started

"""The sandbox hosting several accounts: each authenticates with its own credentials only,
sees only its own messages and media, and signs its callbacks with its own token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import Sandbox, SandboxServer, start
from tests.support.forms import MultiForm
from tests.support.sandbox import CallbackReceiver, Received, callback_receiver, running_sandbox, twilio_client

SENDER, CUSTOMER = "+15005550006", "+15005550010"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@dataclass(frozen=True)
class Creds:
    sid: str
    token: str
    key_sid: str
    key_secret: str

    @property
    def spec(self) -> dict[str, str]:
        return {"account_sid": self.sid, "auth_token": self.token, "api_key_sid": self.key_sid, "api_key_secret": self.key_secret}

    @property
    def secrets(self) -> tuple[str, str]:
        return (self.token, self.key_secret)

    def both(self) -> dict[str, tuple[str, str]]:
        """Basic-auth pairs that authenticate as this account: its token and its API key."""
        return {"token": (self.sid, self.token), "key": (self.key_sid, self.key_secret)}


ACME = Creds("AC" + "a" * 32, "acme-auth-token", "SK" + "a" * 32, "acme-api-key-secret")
GLOBEX = Creds("AC" + "B" * 32, "globex-auth-token", "SK" + "b" * 32, "globex-api-key-secret")
FIRST = (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    yield from running_sandbox()


@pytest.fixture
def two(server: SandboxServer) -> SandboxServer:
    """The sandbox with ACME and GLOBEX added beside its first account."""
    for creds in (ACME, GLOBEX):
        assert add(server, creds.spec).status_code == 201
    return server


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    yield from callback_receiver()


def add(server: SandboxServer, spec: Any) -> requests.Response:
    return requests.post(server.url + "/_sandbox/accounts", json=spec, timeout=10)


def rotate(server: SandboxServer, sid: str, spec: Any) -> requests.Response:
    return requests.put(f"{server.url}/_sandbox/accounts/{sid}", json=spec, timeout=10)


def messages_url(server: SandboxServer, account: str) -> str:
    return f"{server.url}/2010-04-01/Accounts/{account}/Messages.json"


def create(server: SandboxServer, account: str, auth: tuple[str, str], **fields: str) -> requests.Response:
    form = {"To": CUSTOMER, "From": SENDER, "Body": "hello", **fields}
    return requests.post(messages_url(server, account), data=form, auth=auth, timeout=10)


def fetch(server: SandboxServer, account: str, sid: str, auth: tuple[str, str]) -> requests.Response:
    return requests.get(f"{server.url}/2010-04-01/Accounts/{account}/Messages/{sid}.json", auth=auth, timeout=10)


def code(response: requests.Response) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


def no_secret_in(text: str, *creds: Creds) -> bool:
    return not any(secret in text for c in creds for secret in c.secrets) and LOCAL_AUTH_TOKEN not in text


# --- the control API ------------------------------------------------------------------------


def test_the_first_account_is_there_from_the_start_and_shows_no_secret(server: SandboxServer) -> None:
    response = requests.get(server.url + "/_sandbox/accounts", timeout=10)
    assert response.status_code == 200
    [first] = response.json()
    assert (first["account_sid"], first["api_key_sids"]) == (LOCAL_ACCOUNT_SID, [])
    assert no_secret_in(response.text)


def test_an_account_is_added_once_the_same_again_is_200_another_is_409(server: SandboxServer) -> None:
    created = add(server, ACME.spec)
    assert created.status_code == 201, created.text
    view = created.json()
    assert set(view) == {"account_sid", "api_key_sids", "date_created", "date_updated"}
    assert (view["account_sid"], view["api_key_sids"]) == (ACME.sid, [ACME.key_sid])
    assert no_secret_in(created.text, ACME)
    again = add(server, ACME.spec)
    assert (again.status_code, again.json()) == (200, view)
    conflicts = [
        ({**ACME.spec, "auth_token": "another-token"}, "auth_token"),
        ({**ACME.spec, "api_key_secret": "another-secret"}, "api_key_secret"),
        ({**ACME.spec, "api_key_sid": "SK" + "c" * 32}, "api_key_sid"),
        ({"account_sid": ACME.sid, "auth_token": ACME.token}, "api_key_sid"),  # it has a key this one lacks
    ]
    for spec, field in conflicts:
        response = add(server, spec)
        assert (response.status_code, response.json()["field"]) == (409, field), spec
        assert no_secret_in(response.text, ACME) and "another-" not in response.text
    # Nothing changed: the account still authenticates with what it was made with.
    assert create(server, ACME.sid, (ACME.sid, ACME.token)).status_code == 201
    listed = requests.get(server.url + "/_sandbox/accounts", timeout=10).json()
    assert [a["account_sid"] for a in listed] == [LOCAL_ACCOUNT_SID, ACME.sid]
    assert requests.get(f"{server.url}/_sandbox/accounts/{ACME.sid}", timeout=10).json() == view
    assert add(server, {"account_sid": LOCAL_ACCOUNT_SID, "auth_token": LOCAL_AUTH_TOKEN}).status_code == 200


def test_an_account_without_an_api_key_authenticates_with_its_token(server: SandboxServer) -> None:
    sid, token = "AC" + "d" * 32, "dee-token"
    response = add(server, {"account_sid": sid, "auth_token": token, "api_key_sid": None, "api_key_secret": None})
    assert response.status_code == 201 and response.json()["api_key_sids"] == []
    assert add(server, {"account_sid": sid, "auth_token": token}).status_code == 200
    assert create(server, sid, (sid, token)).status_code == 201


BAD_SPECS: list[tuple[str, Any, str | None]] = [
    ("not an object", ["AC"], None),
    ("null", None, None),
    ("no account_sid", {"auth_token": "t"}, "account_sid"),
    ("account_sid short", {**ACME.spec, "account_sid": "AC" + "a" * 31}, "account_sid"),
    ("account_sid not hex", {**ACME.spec, "account_sid": "AC" + "g" * 32}, "account_sid"),
    ("account_sid an API key", {**ACME.spec, "account_sid": ACME.key_sid}, "account_sid"),
    ("account_sid a number", {**ACME.spec, "account_sid": 12}, "account_sid"),
    ("no auth_token", {"account_sid": ACME.sid}, "auth_token"),
    ("empty auth_token", {**ACME.spec, "auth_token": ""}, "auth_token"),
    ("auth_token a number", {**ACME.spec, "auth_token": 123}, "auth_token"),
    ("api_key_sid not SK", {**ACME.spec, "api_key_sid": "AC" + "a" * 32}, "api_key_sid"),
    ("api_key_sid short", {**ACME.spec, "api_key_sid": "SK123"}, "api_key_sid"),
    ("api_key_sid without its secret", {**ACME.spec, "api_key_secret": None}, "api_key_secret"),
    ("api_key_secret without its SID", {**ACME.spec, "api_key_sid": None}, "api_key_sid"),
    ("empty api_key_secret", {**ACME.spec, "api_key_secret": ""}, "api_key_secret"),
    ("unknown field", {**ACME.spec, "secondary_auth_token": "x"}, "secondary_auth_token"),
]


@pytest.mark.parametrize(("label", "spec", "field"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_input_is_400_naming_the_field(server: SandboxServer, label: str, spec: Any, field: str | None) -> None:
    response = add(server, spec)
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["status"], body["field"]) == (400, field) and body["message"]
    assert no_secret_in(response.text, ACME)
    assert [a["account_sid"] for a in requests.get(server.url + "/_sandbox/accounts", timeout=10).json()] == [LOCAL_ACCOUNT_SID]


def test_a_body_that_is_no_json_is_400(server: SandboxServer) -> None:
    response = requests.post(server.url + "/_sandbox/accounts", data=b"account_sid=AC", timeout=10)
    assert (response.status_code, response.json()["field"]) == (400, None)


def test_hex_case_is_accepted_and_one_sid_in_two_cases_is_409(server: SandboxServer) -> None:
    assert add(server, GLOBEX.spec).status_code == 201  # GLOBEX's SID is upper-case hex
    response = add(server, {**GLOBEX.spec, "account_sid": "AC" + GLOBEX.sid[2:].lower(), "api_key_sid": None, "api_key_secret": None})
    assert (response.status_code, response.json()["field"]) == (409, "account_sid")


def test_an_api_key_belongs_to_one_account(two: SandboxServer) -> None:
    spec = {"account_sid": "AC" + "e" * 32, "auth_token": "e", "api_key_sid": ACME.key_sid, "api_key_secret": "e"}
    response = add(two, spec)
    assert (response.status_code, response.json()["field"]) == (409, "api_key_sid")
    response = rotate(two, GLOBEX.sid, {"api_key_sid": ACME.key_sid.upper(), "api_key_secret": "x"})
    assert (response.status_code, response.json()["field"]) == (409, "api_key_sid")
    assert create(two, ACME.sid, (ACME.key_sid, ACME.key_secret)).status_code == 201


# --- authentication, per account ------------------------------------------------------------


def test_each_account_authenticates_only_with_its_own_token_or_key(two: SandboxServer) -> None:
    accounts = {"first": FIRST, "acme": (ACME.sid, ACME.token), "globex": (GLOBEX.sid, GLOBEX.token)}
    credentials = {
        "first token": FIRST,
        **{f"acme {how}": pair for how, pair in ACME.both().items()},
        **{f"globex {how}": pair for how, pair in GLOBEX.both().items()},
    }
    for name, (account, _) in accounts.items():
        for label, auth in credentials.items():
            response = create(two, account, auth)
            if label.startswith(name):
                assert response.status_code == 201, (name, label, response.text)
                assert response.json()["account_sid"] == account
                assert response.json()["uri"].startswith(f"/2010-04-01/Accounts/{account}/Messages/")
            else:
                assert code(response) == (401, 20003), (name, label)
                assert code(requests.get(messages_url(two, account), auth=auth, timeout=10)) == (401, 20003), (name, label)
    log = requests.get(two.url + "/_sandbox/requests", timeout=10).json()
    created = [(e["path"].split("/")[3], e["auth_user"]) for e in log if e["status"] == 201]
    assert created == [
        (LOCAL_ACCOUNT_SID, LOCAL_ACCOUNT_SID),
        (ACME.sid, ACME.sid),
        (ACME.sid, ACME.key_sid),
        (GLOBEX.sid, GLOBEX.sid),
        (GLOBEX.sid, GLOBEX.key_sid),
    ]
    assert {m.account_sid for m in two.sandbox.messages.values()} == {LOCAL_ACCOUNT_SID, ACME.sid, GLOBEX.sid}
    assert len(two.sandbox.messages) == 5
    assert no_secret_in(str(log), ACME, GLOBEX)


def test_a_path_of_an_account_not_hosted_is_404_for_any_hosted_accounts_credentials(two: SandboxServer) -> None:
    stranger = "AC" + "f" * 32
    for auth in (FIRST, (ACME.sid, ACME.token), (GLOBEX.key_sid, GLOBEX.key_secret)):
        assert code(create(two, stranger, auth)) == (404, 20404)
    assert code(create(two, stranger, (ACME.sid, GLOBEX.token))) == (401, 20003)
    assert code(create(two, stranger, (stranger, "anything"))) == (401, 20003)
    assert not two.sandbox.messages


def test_the_sdk_with_an_api_key_reaches_its_own_account_only(two: SandboxServer) -> None:
    client = twilio_client(two.url, ACME.key_sid, ACME.key_secret)
    client.account_sid = ACME.sid  # as Client(key_sid, secret, account_sid=...) sets it
    message = client.messages.create(to=CUSTOMER, from_=SENDER, body="via acme's key")
    assert message.account_sid == ACME.sid
    assert client.messages(message.sid).fetch().body == "via acme's key"
    with pytest.raises(TwilioRestException) as raised:
        client.api.v2010.accounts(GLOBEX.sid).messages.create(to=CUSTOMER, from_=SENDER, body="x")
    assert (raised.value.status, raised.value.code) == (401, 20003)
    with pytest.raises(TwilioException, match="20003"):  # the SDK's list raises its base class
        client.api.v2010.accounts(GLOBEX.sid).messages.list()


# --- messages and media belong to their account ---------------------------------------------


def test_another_accounts_message_is_404_and_each_list_holds_its_own(two: SandboxServer) -> None:
    acme_auth, globex_auth = (ACME.sid, ACME.token), (GLOBEX.key_sid, GLOBEX.key_secret)
    acme = [create(two, ACME.sid, acme_auth, Body=f"acme {i}").json()["sid"] for i in range(2)]
    globex = create(two, GLOBEX.sid, globex_auth, Body="globex").json()["sid"]
    first = create(two, LOCAL_ACCOUNT_SID, FIRST, Body="first").json()["sid"]
    assert fetch(two, ACME.sid, acme[0], acme_auth).json()["body"] == "acme 0"
    for account, sid, auth in (
        (ACME.sid, globex, acme_auth),
        (ACME.sid, first, acme_auth),
        (GLOBEX.sid, acme[0], globex_auth),
        (LOCAL_ACCOUNT_SID, globex, FIRST),
    ):
        response = fetch(two, account, sid, auth)
        assert code(response) == (404, 20404), (account, sid)
        assert response.json()["message"] == f"The requested resource /2010-04-01/Accounts/{account}/Messages/{sid}.json was not found"
    # Another account's credentials on the path of the message's account: 401, nothing shown.
    assert code(fetch(two, GLOBEX.sid, globex, acme_auth)) == (401, 20003)

    def listed(account: str, auth: tuple[str, str]) -> list[str]:
        page = requests.get(messages_url(two, account), params={"To": CUSTOMER}, auth=auth, timeout=10).json()
        return [m["sid"] for m in page["messages"]]

    assert listed(ACME.sid, acme_auth) == acme[::-1]
    assert listed(GLOBEX.sid, globex_auth) == [globex]
    assert listed(LOCAL_ACCOUNT_SID, FIRST) == [first]


def test_media_belongs_to_the_account_it_is_hosted_under(two: SandboxServer) -> None:
    def host(query: str) -> requests.Response:
        return requests.post(two.url + "/_sandbox/media" + query, data=PNG, headers={"Content-Type": "image/png"}, timeout=10)

    hosted = host(f"?account_sid={ACME.sid}")
    assert hosted.status_code == 201, hosted.text
    url = hosted.json()["url"]
    assert f"/Accounts/{ACME.sid}/Messages/" in url
    assert requests.get(url, auth=(ACME.key_sid, ACME.key_secret), timeout=10).content == PNG
    assert requests.get(url + ".json", auth=(ACME.sid, ACME.token), timeout=10).json()["account_sid"] == ACME.sid
    assert code(requests.get(url, auth=(GLOBEX.sid, GLOBEX.token), timeout=10)) == (401, 20003)
    elsewhere = url.replace(ACME.sid, GLOBEX.sid)
    for method in ("GET", "DELETE"):
        assert code(requests.request(method, elsewhere + ".json", auth=(GLOBEX.sid, GLOBEX.token), timeout=10)) == (404, 20404)
    assert requests.get(url, auth=(ACME.sid, ACME.token), timeout=10).status_code == 200
    first = host("").json()["url"]  # no account_sid: the first account, as before
    assert f"/Accounts/{LOCAL_ACCOUNT_SID}/" in first
    assert code(host("?account_sid=AC" + "f" * 32)) == (400, 20001)


# --- status callbacks -----------------------------------------------------------------------


def wait_callbacks(receiver: CallbackReceiver, sid: str, count: int, timeout: float = 10) -> list[Received]:
    deadline = time.monotonic() + timeout
    while len(receiver.for_sid(sid)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return receiver.for_sid(sid)


def signed_with(token: str, url: str, callback: Received) -> bool:
    return bool(RequestValidator(token).validate(url, MultiForm(callback.pairs), callback.headers["X-Twilio-Signature"]))


def test_callbacks_carry_their_account_and_are_signed_with_its_token(two: SandboxServer, receiver: CallbackReceiver) -> None:
    url = receiver.base_url + "/twilio/status"
    tokens = {LOCAL_ACCOUNT_SID: LOCAL_AUTH_TOKEN, ACME.sid: ACME.token, GLOBEX.sid: GLOBEX.token}
    auths = {LOCAL_ACCOUNT_SID: FIRST, ACME.sid: (ACME.key_sid, ACME.key_secret), GLOBEX.sid: (GLOBEX.sid, GLOBEX.token)}
    sent = {account: create(two, account, auth, StatusCallback=url).json()["sid"] for account, auth in auths.items()}
    for account, sid in sent.items():
        callbacks = wait_callbacks(receiver, sid, 3)
        assert [c.form["MessageStatus"] for c in callbacks] == ["queued", "sent", "delivered"]
        for callback in callbacks:
            assert callback.form["AccountSid"] == account
            assert [signed_with(token, url, callback) for token in tokens.values()] == [a == account for a in tokens]


# --- rotation -------------------------------------------------------------------------------


def test_a_rotated_token_replaces_the_old_one_and_the_key_is_kept(two: SandboxServer, receiver: CallbackReceiver) -> None:
    before = requests.get(f"{two.url}/_sandbox/accounts/{ACME.sid}", timeout=10).json()
    time.sleep(0.01)
    response = rotate(two, ACME.sid, {"auth_token": "acme-rotated-token"})
    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["account_sid"], view["api_key_sids"], view["date_created"]) == (ACME.sid, [ACME.key_sid], before["date_created"])
    assert view["date_updated"] > before["date_updated"]
    assert "acme-rotated-token" not in response.text
    assert code(create(two, ACME.sid, (ACME.sid, ACME.token))) == (401, 20003)
    assert create(two, ACME.sid, (ACME.sid, "acme-rotated-token")).status_code == 201
    assert create(two, ACME.sid, (ACME.key_sid, ACME.key_secret)).status_code == 201
    assert create(two, GLOBEX.sid, (GLOBEX.sid, GLOBEX.token)).status_code == 201  # the others untouched
    # POST with the old values is now a conflict; with the new ones, the same account.
    assert add(two, ACME.spec).status_code == 409
    assert add(two, {**ACME.spec, "auth_token": "acme-rotated-token"}).status_code == 200
    url = receiver.base_url + "/twilio/status"
    sid = create(two, ACME.sid, (ACME.key_sid, ACME.key_secret), StatusCallback=url).json()["sid"]
    callbacks = wait_callbacks(receiver, sid, 3)
    assert len(callbacks) == 3
    assert all(signed_with("acme-rotated-token", url, c) and not signed_with(ACME.token, url, c) for c in callbacks)


def test_a_rotated_api_key_replaces_the_old_one(two: SandboxServer) -> None:
    new_key = "SK" + "9" * 32
    response = rotate(two, ACME.sid, {"account_sid": ACME.sid, "api_key_sid": new_key, "api_key_secret": "new-secret"})
    assert response.status_code == 200 and response.json()["api_key_sids"] == [new_key]
    assert code(create(two, ACME.sid, (ACME.key_sid, ACME.key_secret))) == (401, 20003)
    assert create(two, ACME.sid, (new_key, "new-secret")).status_code == 201
    assert create(two, ACME.sid, (ACME.sid, ACME.token)).status_code == 201  # the token kept
    # The old key is free again: another account may have it.
    assert rotate(two, GLOBEX.sid, {"api_key_sid": ACME.key_sid, "api_key_secret": "reused"}).status_code == 200


def test_the_first_accounts_token_rotates_too(server: SandboxServer) -> None:
    assert rotate(server, LOCAL_ACCOUNT_SID, {"auth_token": "first-rotated"}).status_code == 200
    assert server.sandbox.auth_token == "first-rotated"
    assert code(create(server, LOCAL_ACCOUNT_SID, FIRST)) == (401, 20003)
    assert create(server, LOCAL_ACCOUNT_SID, (LOCAL_ACCOUNT_SID, "first-rotated")).status_code == 201


BAD_ROTATIONS: list[tuple[str, Any, int, str | None]] = [
    ("nothing to rotate", {}, 400, "auth_token"),
    ("empty token", {"auth_token": ""}, 400, "auth_token"),
    ("key without secret", {"api_key_sid": "SK" + "9" * 32}, 400, "api_key_secret"),
    ("bad key", {"api_key_sid": "SK9", "api_key_secret": "s"}, 400, "api_key_sid"),
    ("another account in the body", {"account_sid": GLOBEX.sid, "auth_token": "x"}, 400, "account_sid"),
    ("unknown field", {"auth_token": "x", "token": "y"}, 400, "token"),
]


@pytest.mark.parametrize(("label", "spec", "status", "field"), BAD_ROTATIONS, ids=[b[0] for b in BAD_ROTATIONS])
def test_a_bad_rotation_is_refused_and_changes_nothing(two: SandboxServer, label: str, spec: Any, status: int, field: str | None) -> None:
    response = rotate(two, ACME.sid, spec)
    assert (response.status_code, response.json()["field"]) == (status, field), response.text
    assert create(two, ACME.sid, (ACME.sid, ACME.token)).status_code == 201
    assert create(two, ACME.sid, (ACME.key_sid, ACME.key_secret)).status_code == 201


def test_rotating_or_reading_an_account_not_hosted_is_404(server: SandboxServer) -> None:
    stranger = "AC" + "f" * 32
    for response in (rotate(server, stranger, {"auth_token": "x"}), requests.get(f"{server.url}/_sandbox/accounts/{stranger}", timeout=10)):
        assert (response.status_code, response.json()["code"]) == (404, 20404)
    assert requests.delete(f"{server.url}/_sandbox/accounts/{LOCAL_ACCOUNT_SID}", timeout=10).status_code == 404


def test_callbacks_after_a_rotation_are_signed_with_the_new_token(receiver: CallbackReceiver) -> None:
    """A message on its way when the token rotates: its later callbacks carry the new one."""
    server = start(Sandbox(LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, callback_delay=0.6))
    try:
        assert add(server, ACME.spec).status_code == 201
        url = receiver.base_url + "/twilio/status"
        sid = create(server, ACME.sid, (ACME.sid, ACME.token), StatusCallback=url).json()["sid"]
        [queued] = wait_callbacks(receiver, sid, 1)
        assert rotate(server, ACME.sid, {"auth_token": "acme-rotated-token"}).status_code == 200
        callbacks = wait_callbacks(receiver, sid, 3)
        assert [c.form["MessageStatus"] for c in callbacks] == ["queued", "sent", "delivered"]
        assert signed_with(ACME.token, url, queued) and not signed_with("acme-rotated-token", url, queued)
        for callback in callbacks[1:]:
            assert signed_with("acme-rotated-token", url, callback) and not signed_with(ACME.token, url, callback)
    finally:
        server.shutdown()
        server.server_close()

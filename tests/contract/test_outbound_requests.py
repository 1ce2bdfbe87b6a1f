"""The outbound service's own Twilio requests, made by its own client code, checked by Prism.

Each payload goes through what `POST /messages` runs: OutboundRequest.from_json (our
validation) and chalicelib.twilio_client.create_message (our HTTP client under the Twilio
SDK). Prism, serving Twilio's OpenAPI spec, must accept every one; a request that slips
past our validation with a value Twilio's spec forbids must be refused by Prism. The same
holds for the Messages list the service searches after an answer was lost.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest
import requests

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, Settings
from devstack.sandbox import SandboxServer
from tests.support.apps import load_app
from tests.support.outbound import outbound_environ
from tests.support.prism import violations

CUSTOMER = "+15005550010"
EXAMPLE_SID = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

PAYLOADS: dict[str, dict[str, Any]] = {
    "sms from the default sender": {"to": CUSTOMER, "body": "Your order shipped"},
    "explicit sender": {"to": CUSTOMER, "from": "+15005550006", "body": "hi"},
    "messaging service": {"to": CUSTOMER, "messaging_service_sid": "MG" + "0" * 32, "body": "hi"},
    "mms with two media": {"to": CUSTOMER, "body": "look", "media_urls": ["https://example.com/a.jpg", "https://example.com/b.png"]},
    "media only": {"to": CUSTOMER, "media_urls": ["https://example.com/a.jpg"]},
    "own status callback": {"to": CUSTOMER, "body": "hi", "status_callback": "https://hooks.example.com/status?tenant=7"},
    "validity, and a price that is not sent": {"to": CUSTOMER, "body": "hi", "validity_period": 600, "max_price": 0.05},
    "whatsapp": {"to": "whatsapp:" + CUSTOMER, "from": "whatsapp:+15005550006", "body": "hola"},
    "unicode body": {"to": CUSTOMER, "body": "¿Llegó? 🚚 " * 20},
    # SendAt and ScheduleType=fixed, always with a MessagingServiceSid (chalicelib/schedule.py).
    "scheduled through a messaging service": {
        "to": CUSTOMER,
        "messaging_service_sid": "MG" + "0" * 32,
        "body": "your appointment is tomorrow",
        "send_at": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat(timespec="seconds"),
    },
}


@pytest.fixture
def outbound(prism_base_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, Settings]]:
    for name, value in outbound_environ(prism_base_url).items():
        monkeypatch.setenv(name, value)
    app = load_app("outbound")
    from chalicelib import twilio_client  # the module load_app just imported

    twilio_client.reset_client()
    yield twilio_client, app.runtime.settings
    twilio_client.reset_client()


def request_of(payload: dict[str, Any], settings: Settings) -> Any:
    from chalicelib.request import OutboundRequest

    return OutboundRequest.from_json(json.dumps(payload).encode(), settings)


@pytest.mark.parametrize("label", sorted(PAYLOADS))
def test_prism_accepts_what_the_outbound_service_sends(outbound: tuple[ModuleType, Settings], label: str) -> None:
    twilio_client, settings = outbound
    accepted = twilio_client.create_message(settings, request_of(PAYLOADS[label], settings))
    assert accepted.sid == EXAMPLE_SID
    _, http = twilio_client.get_client(settings)
    answer = http.last_response()
    assert answer is not None and answer.status_code == 201
    assert violations(answer.headers) == []


@pytest.mark.parametrize(
    ("label", "change"),
    [
        ("validity period not a number", {"validity_period": "abc"}),
        ("status callback not a URL", {"status_callback": "not a url"}),
    ],
)
def test_prism_refuses_what_our_validation_would_stop(outbound: tuple[ModuleType, Settings], label: str, change: dict[str, Any]) -> None:
    """Built past from_json, as a bug in our validation would: Prism is the second line."""
    twilio_client, settings = outbound
    request = dataclasses.replace(request_of(PAYLOADS["sms from the default sender"], settings), **change)
    with pytest.raises(twilio_client.TwilioCallFailed) as failed:
        twilio_client.create_message(settings, request)
    assert failed.value.http_status is not None and 400 <= failed.value.http_status < 500


# Twilio answers a list with relative page links ("/2010-04-01/Accounts/AC…/Messages.json?…"),
# which the SDK joins to its base URL; the spec types them `format: uri`, which Prism reads
# as absolute. Those violations of the answer are Twilio's own, and the only ones allowed.
PAGE_LINKS = {"uri", "first_page_uri", "next_page_uri", "previous_page_uri"}


def only_relative_page_links(answer_text: str) -> bool:
    """True when Prism's complaints are all about the answer's relative page links."""
    found = json.loads(answer_text).get("validation", [])
    return bool(found) and all(
        v["location"][:2] == ["response", "body"] and v["location"][-1] in PAGE_LINKS and v["code"] == "format" for v in found
    )


def test_prism_accepts_the_search_for_a_lost_answer(outbound: tuple[ModuleType, Settings]) -> None:
    """The Messages list the service reads after a 5xx or a read timeout: To, From,
    DateSent> and PageSize, as the spec names them. Prism finds nothing wrong with the
    request; its own example answer trips over the page links (see PAGE_LINKS), and the
    search then fails the way a failed search must: as a doubt, not an error."""
    twilio_client, settings = outbound
    from chalicelib.search import find_messages

    with pytest.raises(twilio_client.TwilioCallFailed) as failed:
        find_messages(settings, request_of(PAYLOADS["explicit sender"], settings), datetime.now(timezone.utc))
    assert failed.value.maybe_created is True
    _, http = twilio_client.get_client(settings)
    answer = http.last_response()
    assert answer is not None and only_relative_page_links(answer.text), answer.text if answer else None


def test_the_sandbox_list_matches_the_spec_but_for_relative_links(prism_sandbox_url: str, contract_sandbox: SandboxServer) -> None:
    path = f"/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/Messages.json"
    auth = (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)
    body = f"list me {time.time()}"
    created = requests.post(prism_sandbox_url + path, data={"To": CUSTOMER, "From": "+15005550006", "Body": body}, auth=auth, timeout=10)
    assert created.status_code == 201
    since = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = {"To": CUSTOMER, "From": "+15005550006", "DateSent>": since, "PageSize": "2"}
    answer = requests.get(prism_sandbox_url + path, params=query, auth=auth, timeout=10)
    assert only_relative_page_links(answer.text), answer.text
    # The same request straight to the sandbox lists the message, newest first.
    direct = requests.get(contract_sandbox.url + path, params=query, auth=auth, timeout=10).json()
    assert direct["messages"][0]["sid"] == created.json()["sid"]


def recorded(http: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any, int, list[Any]]]:
    """Every request the client's HTTP client makes from now on, as (method, path after
    /2010-04-01/, form, Prism's status, Prism's violations)."""
    seen: list[tuple[str, str, Any, int, list[Any]]] = []
    send = http.request

    def recording(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        answer = send(method, url, *args, **kwargs)
        seen.append((method.upper(), url.split("/2010-04-01/")[1], kwargs.get("data"), answer.status_code, violations(answer.headers)))
        return answer

    monkeypatch.setattr(http, "request", recording)
    return seen


def test_prism_accepts_the_redaction_update_and_media_delete(
    outbound: tuple[ModuleType, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """chalicelib.redaction's two writes at Twilio: the message update with Body="" and a
    Media DELETE. Prism runs with --errors, so a request the spec refuses is answered 422."""
    twilio_client, settings = outbound
    from chalicelib.redaction import delete_media, update_body_empty

    _, http = twilio_client.get_client(settings)
    seen = recorded(http, monkeypatch)
    media_sid = "ME" + "a" * 32
    assert update_body_empty(settings, EXAMPLE_SID) is True
    delete_media(settings, EXAMPLE_SID, media_sid)
    account = settings.account.account_sid
    assert seen == [
        ("POST", f"Accounts/{account}/Messages/{EXAMPLE_SID}.json", {"Body": ""}, 200, []),
        ("DELETE", f"Accounts/{account}/Messages/{EXAMPLE_SID}/Media/{media_sid}.json", None, 204, []),
    ]
    # The spec is checked: a media SID of the wrong shape is refused.
    with pytest.raises(twilio_client.TwilioCallFailed) as refused:
        delete_media(settings, EXAMPLE_SID, "ME-not-a-media-sid")
    assert refused.value.http_status is not None and 400 <= refused.value.http_status < 500


def test_prism_accepts_the_media_list_of_a_redaction(outbound: tuple[ModuleType, Settings]) -> None:
    """The Media list read between the two: Prism finds nothing wrong with the request; its
    own example answer trips over the relative page links (PAGE_LINKS), which the service
    takes as Twilio not answering, so the redaction is tried again later, never lost."""
    twilio_client, settings = outbound
    from chalicelib.redaction import media_sids

    with pytest.raises(twilio_client.TwilioCallFailed) as failed:
        media_sids(settings, EXAMPLE_SID)
    assert failed.value.transient
    _, http = twilio_client.get_client(settings)
    answer = http.last_response()
    assert answer is not None and only_relative_page_links(answer.text), answer.text if answer else None


def test_prism_accepts_the_cancel_of_a_scheduled_message(outbound: tuple[ModuleType, Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    """chalicelib.cancel's write at Twilio: the message update with Status=canceled, the only
    value Twilio's update takes for Status (the spec's enum); another is refused."""
    twilio_client, settings = outbound
    _, http = twilio_client.get_client(settings)
    seen = recorded(http, monkeypatch)
    twilio_client.cancel_message(settings, EXAMPLE_SID)
    account = settings.account.account_sid
    assert seen == [("POST", f"Accounts/{account}/Messages/{EXAMPLE_SID}.json", {"Status": "canceled"}, 200, [])]
    client, _ = twilio_client.get_client(settings)
    with pytest.raises(Exception) as refused:  # the SDK's TwilioRestException: Prism's 422
        client.api.v2010.accounts(account).messages(EXAMPLE_SID).update(status="sent")
    assert getattr(refused.value, "status", None) == 422


def test_a_scheduled_send_carries_sendat_with_its_messaging_service(
    outbound: tuple[ModuleType, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the scheduled payload above puts on the wire, as Prism accepted it."""
    twilio_client, settings = outbound
    _, http = twilio_client.get_client(settings)
    seen = recorded(http, monkeypatch)
    twilio_client.create_message(settings, request_of(PAYLOADS["scheduled through a messaging service"], settings))
    ((_method, _path, form, status, problems),) = seen
    assert (status, problems, form["ScheduleType"]) == (201, [], "fixed")
    assert form["MessagingServiceSid"] == "MG" + "0" * 32 and "From" not in form
    assert datetime.fromisoformat(form["SendAt"].replace("Z", "+00:00")) > datetime.now(timezone.utc)

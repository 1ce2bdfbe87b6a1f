"""Drive inbound, status and outbound with known secrets, numbers and bodies, then scan every
line the stack wrote: none of them may appear, whatever path the request took."""

from __future__ import annotations

import uuid

from carrier_core.settings import LOCAL_AUTH_TOKEN
from tests.support.callbacks import status_callback
from tests.support.forms import encode, mms, new_sid, replace, sign, sms
from tests.support.outbound_stack import post_message
from tests.support.stack import FORM_HEADERS, RunningStack


def number(n: int) -> str:
    """A test number no other test uses, so finding its digits can only mean this test's leak."""
    return f"+1500555{7400 + n:04d}"


def test_no_secret_number_or_body_reaches_any_log(stack: RunningStack) -> None:
    marker = uuid.uuid4().hex[:8]
    bodies = [
        f"inbound body {marker} one",
        f"inbound body {marker} bad",
        f"outbound body {marker} sent",
        f"outbound body {marker} refused",
        f"outbound body {marker} invalid",
    ]
    media_secret = f"mediatoken{marker}"
    signatures: list[str] = []

    def webhook(service: str, pairs: list[tuple[str, str]], token: str = LOCAL_AUTH_TOKEN) -> int:
        url = stack.webhook_url(service)
        signature = sign(url, pairs, token)
        signatures.append(signature)
        response = stack.http.post(url, data=encode(pairs).encode(), headers={**FORM_HEADERS, "X-Twilio-Signature": signature}, timeout=30)
        return response.status_code

    # Inbound: stored, STOP, media behind a credentialed URL, a bad signature, a refused form.
    assert webhook("inbound", sms(body=bodies[0], From=number(1))) == 200
    assert webhook("inbound", sms(body="STOP", From=number(2))) == 200
    with_media = replace(mms(1), From=number(3), MediaUrl0=f"https://user:{media_secret}@media.example.com/a.jpg?token={media_secret}")
    assert webhook("inbound", with_media) == 200
    assert webhook("inbound", sms(body=bodies[0], From=number(4)), token="not-the-token") == 403
    assert webhook("inbound", sms(body=bodies[1], From=number(5), NumMedia="\u00b2")) == 400
    # Status: numbers in From/To, in ChannelStatusMessage, and as an unknown status.
    sid = new_sid()
    assert webhook("status", status_callback("sent", sid=sid, From=number(6), To=number(7))) == 204
    assert (
        webhook("status", status_callback("undelivered", sid=sid, error_code=30003, ChannelStatusMessage=f"no route to {number(8)}")) == 204
    )
    assert webhook("status", status_callback(number(9))) == 204
    # Outbound: a send, a refusal by Twilio (magic invalid number), an invalid request, a read.
    sent = post_message(stack, {"to": number(10), "body": bodies[2]}, key=f"key-{marker}")
    assert sent.status_code == 202
    assert post_message(stack, {"to": "+15005550001", "body": bodies[3]}).status_code == 400
    assert post_message(stack, {"to": number(11), "body": bodies[4], "validity_period": 0}).status_code == 400
    assert stack.get_message(sent.json()["sid"]).status_code == 200

    log = stack.log_text()
    assert "inbound stored" in log and "status callback recorded" in log and "twilio accepted" in log
    forbidden = [LOCAL_AUTH_TOKEN, media_secret, f"key-{marker}", *bodies, *signatures] + [number(n)[2:] for n in range(1, 12)]
    leaked = [value for value in forbidden if value in log]
    assert leaked == []

"""Send a signed Twilio webhook to the local stack, as Twilio would.

    .venv/bin/python -m devstack.send inbound Body="Hello" From=+15005550010
    .venv/bin/python -m devstack.send status MessageSid=SM... MessageStatus=delivered

Fields given as NAME=VALUE replace or add to a real-shaped default form; the signature is
computed with Twilio's own RequestValidator and the local auth token (or TWILIO_AUTH_TOKEN).
"""

from __future__ import annotations

import argparse
import os
import uuid
from urllib.parse import urlencode
from urllib.request import Request, urlopen
from urllib.error import HTTPError

from twilio.request_validator import RequestValidator

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, LOCAL_DEFAULT_FROM
from omni_cli import stackrecord

PORTS = {"inbound": 1, "status": 2}


def default_form(kind: str) -> dict[str, str]:
    sid = "SM" + uuid.uuid4().hex
    account = os.environ.get("TWILIO_ACCOUNT_SID", LOCAL_ACCOUNT_SID)
    if kind == "status":
        return {
            "MessageSid": sid,
            "MessageStatus": "delivered",
            "AccountSid": account,
            "ApiVersion": "2010-04-01",
            "From": LOCAL_DEFAULT_FROM,
            "To": "+15005550010",
        }
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": account,
        "From": "+15005550010",
        "To": LOCAL_DEFAULT_FROM,
        "Body": "Hello from the local stack",
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }


def webhook_url(kind: str) -> str:
    """The running stack's webhook URL of `kind`, its ports found as the CLI finds them:
    DEVSTACK_PORT_BASE, else the record `make dev` writes (.dev/stack.json), else 8000."""
    return f"http://127.0.0.1:{stackrecord.port_base() + PORTS[kind]}/twilio/{kind}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(PORTS))
    parser.add_argument("fields", nargs="*", metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    form = default_form(args.kind)
    form.update(field.split("=", 1) for field in args.fields)
    try:
        url = webhook_url(args.kind)
    except stackrecord.BadPortBase as exc:
        parser.error(str(exc))
    token = os.environ.get("TWILIO_AUTH_TOKEN", LOCAL_AUTH_TOKEN)
    signature = RequestValidator(token).compute_signature(url, form)
    request = Request(
        url,
        data=urlencode(form).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    try:
        # The request goes to a local service's http URL built from the stack's layout.
        with urlopen(request, timeout=10) as response:  # nosec B310
            print(response.status, response.read().decode())
    except HTTPError as exc:
        print(exc.code, exc.read().decode())
    print(f"MessageSid={form['MessageSid']}")


if __name__ == "__main__":
    main()

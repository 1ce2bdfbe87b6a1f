"""Inbound service: Twilio's incoming-message webhook. Routes only: parse, call, render."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chalice import Chalice, Response

from carrier_core.health import check_tables
from carrier_core.logs import append_keys
from carrier_core.models import MessageModel, OptOutModel
from carrier_core.runtime import Runtime
from carrier_core.settings import TwilioAccount
from carrier_core.signature import FormPairs
from carrier_core.tenants import read_routed_webhook
from carrier_core.version import running_version
from carrier_core.web import handles_errors
from carrier_core.webhook import FORM, JSON

from chalicelib.message import InboundMessage
from chalicelib.store import store_inbound

# Twilio reads the reply as TwiML; an empty <Response/> sends nothing back to the customer.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

app = Chalice(app_name="omni-twilio-inbound")
# What /health reports: Terraform's SERVICE_VERSION, else the zip's chalicelib/VERSION.
VERSION = running_version(Path(__file__).parent)
runtime = Runtime("inbound")
runtime.start_unless_packaging()
runtime.attach(app, Response)


@app.route("/twilio/inbound", methods=["POST"], content_types=[FORM, JSON])
@handles_errors(Response)
def inbound() -> Response:
    return receive(*read_routed_webhook(runtime.tenants, None, app.current_request, "inbound"))


@app.route("/twilio/{tenant}/inbound", methods=["POST"], content_types=[FORM, JSON])
@handles_errors(Response)
def tenant_inbound(tenant: str) -> Response:
    return receive(*read_routed_webhook(runtime.tenants, tenant, app.current_request, "inbound"))


def receive(account: TwilioAccount, form: FormPairs) -> Response:
    message = InboundMessage.from_form(form)
    append_keys(message_sid=message.message_sid)
    is_new = store_inbound(message, runtime.settings, account.tenant)
    runtime.metrics.add("InboundStored" if is_new else "InboundDuplicate", channel=message.channel)
    return Response(body=EMPTY_TWIML, headers={"Content-Type": "text/xml"}, status_code=200)


@app.route("/health", methods=["GET"])
@handles_errors(Response)
def health() -> Response:
    return Response(body={"status": "ok", "version": VERSION, "tables": check_tables([MessageModel, OptOutModel])}, status_code=200)


# Media re-host, off the webhook's path: Terraform maps the messages stream to this function
# (infra/modules/service/media.tf); the ARN here only serves `chalice package`.
@app.on_dynamodb_record(
    stream_arn=os.environ.get(
        "MESSAGES_STREAM_ARN", "arn:aws:dynamodb:us-east-1:000000000000:table/omni-twilio-local-messages/stream/local"
    )
)
def rehost_media(event: Any) -> dict[str, Any]:
    # Imported here: the webhook's cold start (the same zip, another function) never pays for it.
    from carrier_core.media.rehost import rehost_worker

    return rehost_worker(runtime.settings).handle(event.to_dict()["Records"]).response()

"""Inbound service: Twilio's incoming-message webhook. Routes only: parse, call, render."""
from __future__ import annotations

from chalice import Chalice, Response

from carrier_core.health import check_tables
from carrier_core.logs import append_keys
from carrier_core.models import MessageModel, OptOutModel
from carrier_core.runtime import Runtime
from carrier_core.web import handles_errors
from carrier_core.webhook import FORM, JSON, read_webhook

from chalicelib.message import InboundMessage
from chalicelib.store import store_inbound

# Twilio reads the reply as TwiML; an empty <Response/> sends nothing back to the customer.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

app = Chalice(app_name="omni-twilio-inbound")
runtime = Runtime("inbound")
runtime.start_unless_packaging()
runtime.attach(app, Response)


@app.route("/twilio/inbound", methods=["POST"], content_types=[FORM, JSON])
@handles_errors(Response)
def inbound() -> Response:
    settings = runtime.settings
    form = read_webhook(app.current_request, settings.auth_tokens, settings.inbound_webhook_url, settings.webhook_shared_keys)
    message = InboundMessage.from_form(form)
    append_keys(message_sid=message.message_sid)
    is_new = store_inbound(message, settings)
    runtime.metrics.add("InboundStored" if is_new else "InboundDuplicate", channel=message.channel)
    return Response(body=EMPTY_TWIML, headers={"Content-Type": "text/xml"}, status_code=200)


@app.route("/health", methods=["GET"])
@handles_errors(Response)
def health() -> Response:
    return Response(body={"status": "ok", "tables": check_tables([MessageModel, OptOutModel])}, status_code=200)

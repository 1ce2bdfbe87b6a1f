"""Status service: Twilio's message status callbacks. Routes only: parse, call, render."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chalice import Chalice, Response

from carrier_core.health import check_tables
from carrier_core.models import MessageModel
from carrier_core.runtime import Runtime
from carrier_core.settings import TwilioAccount
from carrier_core.signature import FormPairs
from carrier_core.tenants import read_routed_webhook
from carrier_core.version import running_version
from carrier_core.web import handles_errors
from carrier_core.webhook import FORM, JSON

from chalicelib.callback import StatusCallback
from chalicelib.requeue import rate_limited, requeue_rate_limited
from chalicelib.store import metrics_for, record_callback

app = Chalice(app_name="omni-twilio-status")
# What /health reports: Terraform's SERVICE_VERSION, else the zip's chalicelib/VERSION.
VERSION = running_version(Path(__file__).parent)
runtime = Runtime("status")
runtime.start_unless_packaging()
runtime.attach(app, Response)


@app.route("/twilio/status", methods=["POST"], content_types=[FORM, JSON])
@handles_errors(Response)
def status() -> Response:
    return record(*read_routed_webhook(runtime.tenants, None, app.current_request, "status"))


@app.route("/twilio/{tenant}/status", methods=["POST"], content_types=[FORM, JSON])
@handles_errors(Response)
def tenant_status(tenant: str) -> Response:
    return record(*read_routed_webhook(runtime.tenants, tenant, app.current_request, "status"))


def record(account: TwilioAccount, form: FormPairs) -> Response:
    callback = StatusCallback.from_form(form)
    recorded = record_callback(callback, runtime.settings, account.tenant)
    if rate_limited(callback):
        # WhatsApp's rate limit (63018): the message is sent again once, later.
        requeue_rate_limited(callback, runtime.settings, account)
    runtime.metrics.emit(metrics_for(callback, recorded))
    # Twilio reads nothing from the answer; 204 says so and costs no body.
    return Response(body="", status_code=204)


@app.route("/health", methods=["GET"])
@handles_errors(Response)
def health() -> Response:
    return Response(body={"status": "ok", "version": VERSION, "tables": check_tables([MessageModel])}, status_code=200)


# The workflow hand-off: Terraform maps the messages and optouts streams to this function
# (infra/modules/service/handoff.tf); the ARN here only serves `chalice package`.
@app.on_dynamodb_record(
    stream_arn=os.environ.get(
        "MESSAGES_STREAM_ARN", "arn:aws:dynamodb:us-east-1:000000000000:table/omni-twilio-local-messages/stream/local"
    )
)
def handoff(event: Any) -> dict[str, Any]:
    # Imported here: the webhook's cold start (the same zip, another function) never pays for it.
    from chalicelib.handoff import consumer, metrics_for

    outcome = consumer(runtime.settings).handle(event.to_dict()["Records"])
    runtime.metrics.emit(metrics_for(outcome))
    return outcome.response()

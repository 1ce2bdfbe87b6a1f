"""Outbound service: the platform's send and read API. Routes only: parse, call, render."""
from __future__ import annotations

from typing import Any

from chalice import Chalice, Response

from carrier_core.health import check_tables
from carrier_core.models import FailedMessageModel, MessageModel, OptOutModel
from carrier_core.runtime import Runtime
from carrier_core.web import handles_errors

from chalicelib.messages import get_message

app = Chalice(app_name="omni-twilio-outbound")
runtime = Runtime("outbound")
runtime.start_unless_packaging()


@app.middleware("http")
def per_request(event: Any, get_response: Any) -> Response:
    response: Response = runtime.around_request(event, get_response, Response)
    return response


@app.route("/messages/{sid}", methods=["GET"])
@handles_errors(Response)
def read_message(sid: str) -> Response:
    return Response(body=get_message(sid), status_code=200)


@app.route("/health", methods=["GET"])
@handles_errors(Response)
def health() -> Response:
    return Response(body={"status": "ok", "tables": check_tables([MessageModel, FailedMessageModel, OptOutModel])}, status_code=200)

"""Status service: Twilio's message status callbacks. Routes only: parse, call, render."""
from __future__ import annotations

from typing import Any

from chalice import Chalice, Response

from carrier_core.health import check_tables
from carrier_core.models import MessageModel
from carrier_core.runtime import Runtime
from carrier_core.web import handles_errors

app = Chalice(app_name="omni-twilio-status")
runtime = Runtime("status")
runtime.start_unless_packaging()


@app.middleware("http")
def per_request(event: Any, get_response: Any) -> Response:
    response: Response = runtime.around_request(event, get_response, Response)
    return response


@app.route("/health", methods=["GET"])
@handles_errors(Response)
def health() -> Response:
    return Response(body={"status": "ok", "tables": check_tables([MessageModel])}, status_code=200)

"""The reference for inbound throughput: a Chalice route that does nothing, served as ours are."""

from __future__ import annotations

from chalice import Chalice, Response

app = Chalice(app_name="omni-twilio-bench-trivial")


@app.route("/twilio/inbound", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
def inbound() -> Response:
    return Response(body='<?xml version="1.0" encoding="UTF-8"?><Response/>', status_code=200, headers={"Content-Type": "text/xml"})


@app.route("/health", methods=["GET"])
def health() -> Response:
    return Response(body={"status": "ok"}, status_code=200)

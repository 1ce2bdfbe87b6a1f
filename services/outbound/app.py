"""Outbound service: the platform's send and read API. Routes only: parse, call, render."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from chalice import Chalice, Rate, Response
from chalice.app import Request

from carrier_core.health import check_tables
from carrier_core.models import FailedMessageModel, IdempotencyModel, MessageModel, OptOutModel
from carrier_core.logs import append_keys
from carrier_core.runtime import Runtime
from carrier_core.settings import Settings
from carrier_core.tenants import tenant_or_404
from carrier_core.version import running_version
from carrier_core.vocabulary import Redaction
from carrier_core.web import JSON_HEADERS, handles_errors
from carrier_core.webhook import JSON, check_size

from chalicelib.cancel import cancel_scheduled
from chalicelib.idempotency import guard_for
from chalicelib.local import reconcile_args, retry_at
from chalicelib.messages import get_message, media_link, replayed
from chalicelib.outcome import Kind, metrics_for
from chalicelib.request import OutboundRequest
from chalicelib.retry import RetryPolicy
from chalicelib.send import send_message

if TYPE_CHECKING:
    from chalicelib.reconcile import ReconcileReport
    from chalicelib.worker import WorkerReport

app = Chalice(app_name="omni-twilio-outbound")
# What /health reports: Terraform's SERVICE_VERSION, else the zip's chalicelib/VERSION.
VERSION = running_version(Path(__file__).parent)
runtime = Runtime("outbound")
runtime.start_unless_packaging()
runtime.attach(app, Response)
policy = RetryPolicy.from_env()


@app.route("/messages", methods=["POST"], content_types=[JSON])
@handles_errors(Response)
def create_message() -> Response:
    return send(runtime.settings)


@app.route("/tenants/{tenant}/messages", methods=["POST"], content_types=[JSON])
@handles_errors(Response)
def create_tenant_message(tenant: str) -> Response:
    return send(tenant_settings(tenant))


def tenant_settings(tenant: str) -> Settings:
    """The settings a tenant's request runs with: its own Twilio account."""
    append_keys(tenant=tenant)
    return runtime.tenants.settings_for(tenant_or_404(tenant))


def send(settings: Settings) -> Response:
    request = cast(Request, app.current_request)  # Chalice sets it for every route
    check_size(request.headers, request.raw_body)
    message = OutboundRequest.from_json(request.raw_body, settings)
    left = runtime.time_left(app.lambda_context, policy.budget_seconds)
    guard = guard_for(request.headers.get("idempotency-key"), message, left, lambda sid: replayed(sid, message, settings))
    outcome = guard.run(lambda ledger: send_message(message, settings, policy, left, ledger))
    runtime.metrics.emit(metrics_for(outcome))
    if outcome.error is not None:
        raise outcome.error
    replay = {"Idempotent-Replayed": "true"} if outcome.kind is Kind.REPLAYED else {}
    return Response(body=outcome.resource, headers={**JSON_HEADERS, **replay}, status_code=202)


@app.route("/messages/{sid}/cancel", methods=["POST"], content_types=[JSON])
@handles_errors(Response)
def cancel(sid: str) -> Response:
    return Response(body=cancel_scheduled(sid, runtime.settings), status_code=200)


@app.route("/tenants/{tenant}/messages/{sid}/cancel", methods=["POST"], content_types=[JSON])
@handles_errors(Response)
def cancel_tenant(tenant: str, sid: str) -> Response:
    return Response(body=cancel_scheduled(sid, tenant_settings(tenant)), status_code=200)


def emit_report(report: WorkerReport) -> None:
    runtime.metrics.add("FailedMessagesBacklog", report.due)
    runtime.metrics.emit(report.metrics)


@app.route("/messages/{sid}", methods=["GET"])
@handles_errors(Response)
def read_message(sid: str) -> Response:
    return Response(body=get_message(sid), status_code=200)


@app.route("/tenants/{tenant}/messages/{sid}", methods=["GET"])
@handles_errors(Response)
def read_tenant_message(tenant: str, sid: str) -> Response:
    return Response(body=get_message(sid, tenant_settings(tenant).account.tenant), status_code=200)


@app.route("/messages/{sid}/redact", methods=["POST"], content_types=[JSON])
@handles_errors(Response)
def redact_message(sid: str) -> Response:
    return redact_for(sid, runtime.settings)


@app.route("/tenants/{tenant}/messages/{sid}/redact", methods=["POST"], content_types=[JSON])
@handles_errors(Response)
def redact_tenant_message(tenant: str, sid: str) -> Response:
    return redact_for(sid, tenant_settings(tenant))


def redact_for(sid: str, settings: Settings) -> Response:
    """202 while Twilio's copy is still to delete (a retry job holds it), 200 once settled."""
    from chalicelib.redaction import RedactRequest, redact

    request = cast(Request, app.current_request)  # Chalice sets it for every route
    check_size(request.headers, request.raw_body)
    wanted = RedactRequest.from_json(sid, settings.account.tenant, request.raw_body)
    resource = redact(wanted, settings, policy)
    return Response(body=resource, status_code=202 if resource["redaction"] == Redaction.REQUESTED.value else 200)


@app.route("/contacts/{identity}/erase", methods=["POST"], content_types=[JSON])
@handles_errors(Response)
def erase_contact(identity: str) -> Response:
    return erase_for(identity, runtime.settings)


@app.route("/tenants/{tenant}/contacts/{identity}/erase", methods=["POST"], content_types=[JSON])
@handles_errors(Response)
def erase_tenant_contact(tenant: str, identity: str) -> Response:
    return erase_for(identity, tenant_settings(tenant))


def erase_for(identity: str, settings: Settings) -> Response:
    """202 while some of the customer's messages are pending, 200 once none is."""
    from chalicelib.erasure import ERASE_BUDGET, EraseRequest, start

    request = cast(Request, app.current_request)  # Chalice sets it for every route
    check_size(request.headers, request.raw_body)
    wanted = EraseRequest.from_json(identity, settings.account.tenant, request.raw_body)
    erasure = start(wanted, settings, policy, runtime.time_left(app.lambda_context, ERASE_BUDGET))
    return Response(body=erasure, status_code=202 if erasure["state"] == "running" else 200)


@app.route("/erasures/{erasure_id}", methods=["GET"])
@handles_errors(Response)
def read_erasure(erasure_id: str) -> Response:
    from chalicelib.erasure import read

    return Response(body=read(erasure_id, runtime.settings.account.tenant), status_code=200)


@app.route("/tenants/{tenant}/erasures/{erasure_id}", methods=["GET"])
@handles_errors(Response)
def read_tenant_erasure(tenant: str, erasure_id: str) -> Response:
    from chalicelib.erasure import read

    return Response(body=read(erasure_id, tenant_settings(tenant).account.tenant), status_code=200)


@app.route("/messages/{sid}/media/{n}", methods=["GET"])
@handles_errors(Response)
def read_media(sid: str, n: str) -> Response:
    # 307: the stored copy is read straight from the bucket, for media_link_seconds only.
    return Response(body="", headers={"Location": media_link(sid, n, runtime.settings)}, status_code=307)


@app.route("/tenants/{tenant}/messages/{sid}/media/{n}", methods=["GET"])
@handles_errors(Response)
def read_tenant_media(tenant: str, sid: str, n: str) -> Response:
    return Response(body="", headers={"Location": media_link(sid, n, tenant_settings(tenant))}, status_code=307)


@app.route("/health", methods=["GET"])
@handles_errors(Response)
def health() -> Response:
    tables = check_tables([MessageModel, FailedMessageModel, OptOutModel, IdempotencyModel])
    return Response(body={"status": "ok", "version": VERSION, "tables": tables}, status_code=200)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def retry_failed(event: Any) -> dict[str, object]:
    # Imported here: the API's cold start (the same zip, another function) never pays for it.
    from chalicelib.worker import retry_due

    report = retry_due(runtime.settings, policy, runtime.time_left(event.context), tenants=runtime.tenants)
    emit_report(report)
    return report.as_dict()


@app.schedule(Rate(5, unit=Rate.MINUTES))
def reconcile(event: Any) -> dict[str, object]:
    """Every message Twilio has, we have (chalicelib/reconcile.py). An invocation by hand
    (`omni-twilio reconcile` on a deployed stage) may carry {"since", "tenant"} as its detail."""
    from chalicelib.reconcile import reconcile as run

    detail = event.to_dict().get("detail")
    since, tenant = reconcile_args(json.dumps(detail)) if isinstance(detail, dict) and detail else (None, None)
    report = run(runtime.settings, runtime.tenants, runtime.time_left(event.context), since=since, tenant=tenant)
    emit_reconciled(report)
    return report.as_dict()


def emit_reconciled(report: ReconcileReport) -> None:
    runtime.metrics.emit(report.metrics)


# An opt-out cancels the customer's scheduled messages, off the webhook's path: Terraform
# maps the optouts stream to this function (infra/modules/service/optout_cancels.tf); the
# ARN here only serves `chalice package`.
@app.on_dynamodb_record(
    stream_arn=os.environ.get("OPTOUTS_STREAM_ARN", "arn:aws:dynamodb:us-east-1:000000000000:table/omni-twilio-local-optouts/stream/local")
)
def cancel_on_opt_out(event: Any) -> dict[str, Any]:
    return cancel_opted_out(event.to_dict()["Records"])


def cancel_opted_out(records: list[dict[str, Any]]) -> dict[str, Any]:
    # Imported here: the API's cold start (the same zip, another function) never pays for it.
    from chalicelib.optout_cancels import OptOutCancels

    return OptOutCancels(runtime.tenants.settings_for).handle(records).response()


if os.environ.get("STAGE") == "local":
    # The local stage has no scheduler: this runs the worker on demand, optionally as if at
    # epoch second `at`, so a test need not wait for a due time. Never registered in other
    # stages (STAGE is read directly: packaging imports the app without starting it).
    @app.route("/_local/retry-failed", methods=["POST"], content_types=[JSON])
    @handles_errors(Response)
    def retry_failed_now() -> Response:
        from chalicelib.worker import retry_due

        request = cast(Request, app.current_request)  # Chalice sets it for every route
        at = retry_at(request.raw_body)
        report = retry_due(runtime.settings, policy, runtime.time_left(app.lambda_context, 60), now=at, tenants=runtime.tenants)
        emit_report(report)
        return Response(body=report.as_dict(), status_code=200)

    @app.route("/_local/optout-cancels", methods=["POST"], content_types=[JSON])
    @handles_errors(Response)
    def cancel_opted_out_now() -> Response:
        """The stack's poller hands the optouts stream's batches here (no Lambda locally):
        {"Records": [...]} in, ReportBatchItemFailures' answer out."""
        request = cast(Request, app.current_request)  # Chalice sets it for every route
        records = json.loads(request.raw_body or b"{}").get("Records", [])
        return Response(body=cancel_opted_out(records), status_code=200)

    @app.route("/_local/reconcile", methods=["POST"], content_types=[JSON])
    @handles_errors(Response)
    def reconcile_now() -> Response:
        from chalicelib.reconcile import reconcile as run

        request = cast(Request, app.current_request)  # Chalice sets it for every route
        since, tenant = reconcile_args(request.raw_body)
        if tenant is not None:
            tenant_settings(tenant)  # an unknown tenant is a 404 before anything is read
        report = run(runtime.settings, runtime.tenants, runtime.time_left(app.lambda_context, 60), since=since, tenant=tenant)
        emit_reconciled(report)
        return Response(body=report.as_dict(), status_code=200)

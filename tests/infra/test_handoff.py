"""The workflow hand-off's infrastructure: mappings, bus, DLQ, role, alarms, dashboard."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from carrier_core.handoff.events import SOURCE
from tests.infra.hcl import (
    MODULES,
    ROOT,
    ROOTS_DIR,
    STAGES,
    local_values,
    named,
    resources,
    stream_function_statements,
    top_level_names,
    wired,
)

SERVICE = MODULES / "service"
STREAM = MODULES / "stream_function"
EVENTS = MODULES / "events"
ALARMS = MODULES / "alarms"

# What Lambda's DynamoDB event source mapping calls with the function's role: it reads the
# streams and sends a failed record's place to the on-failure destination.
MAPPING_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams", "sqs:SendMessage"}
# botocore client method -> IAM action, for the calls the consumer's code makes.
CLIENT_CALLS = {"put_events": "events:PutEvents", "send_message": "sqs:SendMessage"}
CONSUMER_MODULES = ("handoff/consumer", "handoff/events", "handoff/handler", "handoff/publish", "stream/records", "stream/batch")


def handoff_call() -> dict[str, Any]:
    return named(SERVICE, "module")["handoff"]


def consumer_calls() -> set[str]:
    """The AWS actions the consumer's code calls (the Lambda path; replay is an operator's)."""
    calls = set()
    for name in CONSUMER_MODULES:
        tree = ast.parse((ROOT / "libs/carrier_core/carrier_core" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLIENT_CALLS:
                calls.add(CLIENT_CALLS[node.func.attr])
    return calls


def test_role_grants_what_the_consumer_and_its_mappings_call() -> None:
    assert consumer_calls() == {"events:PutEvents"}
    by_sid = stream_function_statements(SERVICE, "handoff")
    granted = {a for s in by_sid.values() for a in s["actions"] if not a.startswith(("logs:", "xray:", "kms:"))}
    # ssm:GetParameter: app.py's cold start reads the settings (the auth token) like the API's.
    assert granted == consumer_calls() | MAPPING_ACTIONS | {"ssm:GetParameter"}
    assert by_sid["PublishEvents"]["resources"] == ["${var.handoff.event_bus_arn}"]
    assert by_sid["SendToDeadLetterQueue"]["resources"] == ["${var.dlq_arn}"]
    assert handoff_call()["dlq_arn"] == "${var.handoff.dlq_arn}"
    assert "/stream/*" in by_sid["ReadStreams"]["resources"]
    assert by_sid["EncryptDeadLetterQueueThroughSqs"]["condition"][0]["values"] == ["sqs.${local.region}.amazonaws.com"]
    assert by_sid["DecryptStreamsThroughDynamoDB"]["actions"] == ["kms:Decrypt"]
    assert by_sid["DecryptStreamsThroughDynamoDB"]["via_service"] == "dynamodb"
    assert handoff_call()["parameters"] == "${local.stream_function_parameters}"
    for statement in by_sid.values():
        if statement["resources"] == ["*"]:
            assert statement["sid"] == "WriteTraces"


def test_mapping_reports_item_failures_bisects_and_sends_failures_to_the_dlq() -> None:
    mapping = resources(STREAM)[("aws_lambda_event_source_mapping", "this")]
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["bisect_batch_on_function_error"] is True
    # One batch per shard at a time, order per SID: the module's default, which the hand-off keeps.
    assert mapping["parallelization_factor"] == "${var.parallelization_factor}"
    assert named(STREAM, "variable")["parallelization_factor"]["default"] == 1
    assert "parallelization_factor" not in handoff_call()
    assert mapping["starting_position"] == "TRIM_HORIZON"
    assert mapping["maximum_retry_attempts"] == "${var.maximum_retry_attempts}"
    assert mapping["batch_size"] == "${var.batch_size}"
    assert mapping["destination_config"][0]["on_failure"][0]["destination_arn"] == "${var.dlq_arn}"
    assert mapping["for_each"] == "${var.streams}"
    call = handoff_call()
    assert call["count"] == "${local.handoff_enabled ? 1 : 0}"
    assert call["maximum_retry_attempts"] == "${var.handoff.maximum_retry_attempts}"
    assert call["batch_size"] == "${var.handoff.batch_size}"
    assert "var.handoff.stream_arns" in call["streams"]


def test_bus_and_encrypted_dlq_names() -> None:
    found = resources(EVENTS)
    assert found[("aws_cloudwatch_event_bus", "this")]["name"] == "${local.prefix}-events"
    dlq = found[("aws_sqs_queue", "dlq")]
    assert dlq["name"] == "${local.prefix}-events-dlq"
    assert dlq["kms_master_key_id"] == "${module.key.arn}"
    assert dlq["message_retention_seconds"] == 1209600
    assert named(EVENTS, "module")["key"]["name"] == "events"


@pytest.mark.parametrize("stage", STAGES)
def test_status_root_wires_the_consumer_to_both_streams(stage: str) -> None:
    root = ROOTS_DIR / "status"
    handoff = wired("status", stage, "service")["handoff"]
    assert set(handoff["stream_arns"]) == {"messages", "optouts"}
    assert handoff["maximum_retry_attempts"] >= 1 and 1 <= handoff["batch_size"] <= 1000
    module, function = handoff["handler"].split(".")
    app = ROOT / "services" / "status" / f"{module}.py"
    assert function in top_level_names(app.read_text())
    assert re.search(r"@app\.on_dynamodb_record\(.*?\)\s*\ndef " + function + r"\(", app.read_text(), re.S)
    data = resources(root, "data")
    assert data[("aws_cloudwatch_event_bus", "events")]["name"] == "${local.prefix}-events"
    assert data[("aws_sqs_queue", "events_dlq")]["name"] == "${local.prefix}-events-dlq"
    assert data[("aws_kms_alias", "events")]["name"] == "alias/${local.prefix}-events"
    for other in ("inbound", "outbound"):
        assert "handoff" not in wired(other, stage, "service")


@pytest.mark.parametrize("stage", STAGES)
def test_shared_root_creates_the_bus_and_watches_the_consumer(stage: str) -> None:
    assert wired("shared", stage, "events")["source"] == "../../modules/events"
    alarms = wired("shared", stage, "alarms")
    # The inbound media re-host (tests/infra/test_media.py) reads the messages stream too.
    assert alarms["stream_consumer_names"] == [
        "${local.prefix}-status-handoff",
        "${local.prefix}-inbound-rehost-media",
        "${local.prefix}-outbound-optout-cancels",
    ]
    assert "${local.prefix}-status-handoff" in alarms["function_names"]
    assert alarms["events_dlq_name"] == "${module.events.dlq.name}"
    assert handoff_call()["name"] == "${local.prefix}-handoff"


def test_alarms_on_iterator_age_and_dlq_depth_and_their_widgets() -> None:
    alarms = {name: body for (kind, name), body in resources(ALARMS).items() if kind == "aws_cloudwatch_metric_alarm"}
    age = alarms["iterator_age"]
    assert (age["namespace"], age["metric_name"], age["statistic"]) == ("AWS/Lambda", "IteratorAge", "Maximum")
    depth = alarms["events_dlq_depth"]
    assert (depth["namespace"], depth["metric_name"], depth["threshold"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", 0)
    specs = local_values(ALARMS)["aws_widget_specs"]
    assert '"IteratorAge"' in str(specs) or "IteratorAge" in str(specs)
    assert "ApproximateNumberOfMessagesVisible" in str(specs)


def test_event_source_in_code_and_docs_agree() -> None:
    assert SOURCE == "omni.twilio"
    assert f"`{SOURCE}`" in (EVENTS / "README.md").read_text()


def test_replay_routes_by_the_names_terraform_gives_the_stream_functions() -> None:
    # A DLQ message names the function whose retries ran out; replay knows its consumer by
    # the end of that name (carrier_core.handoff.replay.Origin). A rename here would leave
    # every message of that function unrouted on the queue.
    from carrier_core.handoff.replay import Origin, origin_of

    calls = named(SERVICE, "module")
    for call, origin in (("handoff", Origin.HANDOFF), ("media_worker", Origin.MEDIA_REHOST), ("optout_cancels", Origin.OPTOUT_CANCELS)):
        assert calls[call]["source"] == "../stream_function"
        name = calls[call]["name"].replace("${local.prefix}", "omni-twilio-prod-svc")
        arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"
        assert origin_of({"requestContext": {"functionArn": arn}}) == (origin, arn)

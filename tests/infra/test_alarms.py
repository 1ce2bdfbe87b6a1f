"""Alarms and the dashboard watch every metric the code emits, under the names the services get."""

from __future__ import annotations

import re

import pytest

from carrier_core.metrics import METRICS, NAMESPACE
from tests.infra.hcl import ROOTS_DIR, MODULES, SERVICES, STAGES, local_values, named, resources, wired

ALARMS = MODULES / "alarms"
LOCALS = local_values(ALARMS)
ALARM_RESOURCES = {name: body for (kind, name), body in resources(ALARMS).items() if kind == "aws_cloudwatch_metric_alarm"}


def alarm_metric_names() -> set[str]:
    names = set()
    for body in ALARM_RESOURCES.values():
        if "metric_name" in body:
            names.add(body["metric_name"])
        for query in body.get("metric_query", []):
            names.update(m["metric_name"] for m in query.get("metric", []))
    return names


def test_namespace_is_the_code_namespace() -> None:
    assert LOCALS["namespace"] == NAMESPACE


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_every_emitted_metric_is_on_the_dashboard(metric: str) -> None:
    assert metric in LOCALS["carrier_metrics"]


def test_dashboard_draws_every_listed_metric() -> None:
    widgets = LOCALS["carrier_widgets"]
    assert "for i, name in local.carrier_metrics" in widgets
    assert "MetricName=" in widgets and "${name}" in widgets
    body = resources(ALARMS)[("aws_cloudwatch_dashboard", "this")]["dashboard_body"]
    assert "local.carrier_widgets" in body and "local.aws_widgets" in body


def test_required_alarms_exist() -> None:
    """The issue's list: 5xx rate, Lambda errors and throttles, p99 latency, DynamoDB
    throttles, failed-messages backlog, delivery-failure rate."""
    expected = {
        "api_5xx_rate": "5XXError",
        "api_p99_latency": "Latency",
        "lambda_errors": "Errors",
        "lambda_throttles": "Throttles",
        "failed_backlog": "FailedMessagesBacklog",
    }
    for name, metric in expected.items():
        assert ALARM_RESOURCES[name]["metric_name"] == metric
    assert ALARM_RESOURCES["api_p99_latency"]["extended_statistic"] == "p99"
    assert ALARM_RESOURCES["api_5xx_rate"]["statistic"] == "Average"  # average of 5XXError is the rate
    throttles = {m["metric_name"] for q in ALARM_RESOURCES["dynamodb_throttles"]["metric_query"] for m in q.get("metric", [])}
    assert throttles == {"ReadThrottleEvents", "WriteThrottleEvents"}
    rate = ALARM_RESOURCES["delivery_failure_rate"]["metric_query"]
    assert {m["metric_name"] for q in rate for m in q.get("metric", [])} == {"DeliveryFailed", "StatusRecorded"}
    assert any("100 * failed / recorded" in q.get("expression", "") for q in rate)


def test_every_alarm_notifies_the_topic() -> None:
    for name, body in ALARM_RESOURCES.items():
        assert body["alarm_actions"] == "${local.actions}", name
    assert LOCALS["actions"] == ["${aws_sns_topic.this.arn}"]
    topic = resources(ALARMS)[("aws_sns_topic", "this")]
    assert topic["kms_master_key_id"] == "${module.key.arn}"
    assert named(ALARMS, "module")["key"]["name"] == "alarms"


def test_alarmed_carrier_metrics_are_declared_or_expected() -> None:
    carrier = alarm_metric_names() - {
        "5XXError",
        "Latency",
        "Errors",
        "Throttles",
        "Invocations",
        "ReadThrottleEvents",
        "WriteThrottleEvents",
        "IteratorAge",
        "ApproximateNumberOfMessagesVisible",
    }
    assert carrier <= set(LOCALS["carrier_metrics"])
    assert "WebhookRejected" in carrier


@pytest.mark.parametrize("stage", STAGES)
def test_shared_root_watches_what_the_service_roots_create(stage: str) -> None:
    """The shared root names functions and APIs by the service module's convention."""
    alarms = wired("shared", stage, "alarms")
    prefix = f"omni-twilio-{stage}"
    expand = lambda s: s.replace("${local.prefix}", prefix)  # noqa: E731
    expected_functions = {f"{prefix}-{svc}" for svc in SERVICES}
    for svc in SERVICES:
        service = wired(svc, stage, "service")
        expected_functions |= {f"{prefix}-{svc}-{key.replace('_', '-')}" for key in service.get("schedules", {})}
        if service.get("handoff"):
            expected_functions.add(f"{prefix}-{svc}-handoff")  # modules/service/handoff.tf
        if service.get("media_worker"):
            expected_functions.add(f"{prefix}-{svc}-rehost-media")  # modules/service/media.tf
        if service.get("optout_cancels"):
            expected_functions.add(f"{prefix}-{svc}-optout-cancels")  # modules/service/optout_cancels.tf
    listed = {expand(f) for f in re.findall(r'"(\$\{local\.prefix\}-[a-z-]+)"', alarms["function_names"])}
    api_functions = {f"{prefix}-{svc}" for svc in SERVICES}
    assert "for s in local.services" in alarms["function_names"]
    assert listed | api_functions == expected_functions
    scheduled = {expand(f) for f in alarms["scheduled_function_names"]}
    assert scheduled == {f for f in expected_functions - api_functions if not f.endswith(("-handoff", "-rehost-media", "-optout-cancels"))}
    assert set(local_values(ROOTS_DIR / "shared")["services"]) == set(SERVICES)
    service_main = (MODULES / "service" / "main.tf").read_text()
    assert 'prefix     = "omni-twilio-${var.stage}-${var.name}"' in service_main
    assert '"${local.prefix}-${replace(key, "_", "-")}"' in service_main

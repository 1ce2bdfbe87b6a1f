"""The service module grants what the code calls and nothing more, and is told what it reads."""

from __future__ import annotations

import ast
import re
import sys
from typing import Any

import pytest

from carrier_core.settings import REQUIRED_URLS

from tests.infra.hcl import (
    INFRA,
    MODULES,
    ROOT,
    ROOTS,
    ROOTS_DIR,
    SERVICES,
    STAGES,
    app_routes,
    local_values,
    named,
    resources,
    text,
    unquote_keys,
    wired,
)

SERVICE = MODULES / "service"
LOCALS = local_values(SERVICE)

# What each service's code calls, per table ("<table>/index/<name>" for an index). This
# list and `table_actions` in infra/modules/service/access.tf must change together, and
# with the code: a new DynamoDB call needs a line in both.
TABLE_ACTIONS: dict[str, dict[str, set[str]]] = {
    "inbound": {
        "messages": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DescribeTable"},
        "optouts": {"dynamodb:PutItem", "dynamodb:DescribeTable"},
        "tenants": {"dynamodb:GetItem"},
    },
    "status": {
        "messages": {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DescribeTable"},
        "failed_messages": {"dynamodb:PutItem"},
        "optouts": {"dynamodb:PutItem"},
        "tenants": {"dynamodb:GetItem"},
    },
    "outbound": {
        "messages": {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DescribeTable"},
        "messages/index/whatsapp_window": {"dynamodb:Query"},
        "messages/index/customer": {"dynamodb:Query"},
        "messages/index/scheduled": {"dynamodb:Scan"},
        "failed_messages": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DescribeTable"},
        "failed_messages/index/due": {"dynamodb:Query"},
        "optouts": {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:PutItem",
            "dynamodb:DescribeTable",
        },
        "idempotency": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"},
        "tenants": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"},
    },
}

# Statements whose resource AWS only accepts as "*".
STAR_ONLY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def policy() -> dict[str, Any]:
    return resources(SERVICE, "data")[("aws_iam_policy_document", "this")]


def test_table_actions_match_the_list_in_this_test() -> None:
    tf = unquote_keys(LOCALS["table_actions"])
    assert {svc: {t: set(a) for t, a in tables.items()} for svc, tables in tf.items()} == TABLE_ACTIONS


def test_table_keys_name_tables_the_module_knows() -> None:
    tables = set(re.findall(r"(\w+)\s*=\s*string", named(SERVICE, "variable")["tables"]["type"]))
    assert tables == {"messages", "failed_messages", "optouts", "idempotency", "tenants"}
    for svc, access in TABLE_ACTIONS.items():
        for key in access:
            assert key.split("/index/")[0] in tables, (svc, key)


# The only record any service deletes: an Idempotency-Key claim, released when its send
# is refused for good so the caller may try again with the same key.
DELETABLE = {("outbound", "idempotency")}
# What any service scans: the tenants, a handful of operator-written items, which the
# reconciler reads whole every run to visit every tenant's account; and the messages table's
# sparse `scheduled` index (only sends ever scheduled), which its full run counts per account.
SCANNABLE = {("outbound", "tenants"), ("outbound", "messages/index/scheduled")}


def test_no_delete_scan_or_wildcard_action() -> None:
    for svc, access in TABLE_ACTIONS.items():
        for table_key, actions in access.items():
            assert "dynamodb:*" not in actions
            assert "dynamodb:Scan" not in actions or (svc, table_key) in SCANNABLE
            assert "dynamodb:DeleteItem" not in actions or (svc, table_key) in DELETABLE


def test_dynamodb_statements_come_from_the_one_list() -> None:
    dynamic = policy()["dynamic"][0]["statement"]
    assert dynamic["for_each"] == "${local.access}"
    assert "local.table_actions[var.name]" in LOCALS["access"]
    content = dynamic["content"][0]
    assert content["actions"] == "${statement.value.actions}"
    assert content["resources"] == ["${statement.value.resource}"]
    # No other statement grants a DynamoDB action.
    for statement in policy()["statement"]:
        assert not any(a.startswith("dynamodb:") for a in statement["actions"]), statement["sid"]


def test_star_resource_only_where_aws_requires_it() -> None:
    for statement in policy()["statement"]:
        if isinstance(statement["resources"], list) and "*" in statement["resources"]:
            assert set(statement["actions"]) <= STAR_ONLY_ACTIONS, statement["sid"]
        for action in statement["actions"]:
            assert not action.endswith("*"), action


def test_every_policy_with_star_resource_is_a_key_policy_or_xray() -> None:
    for module in MODULES.iterdir():
        for (kind, name), body in resources(module, "data").items():
            if kind != "aws_iam_policy_document":
                continue
            for statement in body.get("statement", []):
                if statement.get("resources") == ["*"]:
                    is_key_policy = "principals" in statement and name.endswith("key")
                    assert is_key_policy or set(statement["actions"]) <= STAR_ONLY_ACTIONS, (module.name, name)


def test_kms_use_is_scoped_to_the_service_that_calls_it() -> None:
    by_sid = {s["sid"]: s for s in policy()["statement"]}
    tables_key = by_sid["UseTablesKeyThroughDynamoDB"]
    assert tables_key["resources"] == ["${var.tables_kms_key_arn}"]
    assert tables_key["condition"][0]["values"] == ["dynamodb.${local.region}.amazonaws.com"]
    secrets_key = by_sid["DecryptAuthTokenThroughSsm"]
    assert secrets_key["actions"] == ["kms:Decrypt"]
    assert secrets_key["condition"][0]["values"] == ["ssm.${local.region}.amazonaws.com"]
    assert by_sid["ReadAuthToken"]["actions"] == ["ssm:GetParameter"]
    assert "local.token_parameters" in by_sid["ReadAuthToken"]["resources"]


@pytest.mark.parametrize("service", SERVICES)
def test_routes_cover_the_app(service: str) -> None:
    tf = {(r["method"], r["path"]) for r in LOCALS["routes"][service]}
    app = app_routes(ROOT / "services" / service / "app.py")
    assert app <= tf, f"routes in app.py without an API route: {app - tf}"
    assert tf <= app, f"API routes without a view in app.py: {tf - app}"


def settings_names() -> set[str]:
    """Every environment variable name carrier_core/settings.py mentions."""
    tree = ast.parse((ROOT / "libs/carrier_core/carrier_core/settings.py").read_text())
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+", n.value)
    }


def module_environment_names() -> set[str]:
    names = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", LOCALS["environment"]))
    names |= {w["variable"] for w in LOCALS["webhooks"].values()}
    return names


def test_environment_names_are_settings_names() -> None:
    known = settings_names()
    assert {"STAGE", "MESSAGES_TABLE", "TWILIO_AUTH_TOKEN_PARAMETER"} <= known
    assert module_environment_names() <= known
    for root in ROOTS:
        for body in named(root, "module").values():
            assert set(body.get("environment", {})) <= known, root


def test_no_token_in_plain_environment() -> None:
    tokens = {"TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN_SECONDARY", "TWILIO_API_KEY_SECRET"}
    assert not tokens & module_environment_names()
    for root in ROOTS:
        for body in named(root, "module").values():
            assert not tokens & set(body.get("environment", {})), root
    rule = named(SERVICE, "variable")["environment"]["validation"][0]["condition"]
    assert all(t in rule for t in tokens)


def test_no_local_only_setting_in_deployed_environment() -> None:
    """The emulator endpoint, the sandbox URL and Lambda's reserved names stay out."""
    local_only = {"DYNAMODB_ENDPOINT", "TWILIO_API_BASE_URL", "TWILIO_CONTENT_API_BASE_URL", "AWS_REGION", "AWS_DEFAULT_REGION"}
    assert not local_only & module_environment_names()
    for root in ROOTS:
        for body in named(root, "module").values():
            assert not local_only & set(body.get("environment", {})), root


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("service", SERVICES)
def test_required_urls_are_set(stage: str, service: str) -> None:
    """settings.REQUIRED_URLS: the URL each service refuses to start without."""
    given = set(wired(service, stage, "service")["environment"])
    webhook = LOCALS["webhooks"].get(service)
    if webhook is not None:
        given.add(webhook["variable"])
        assert webhook["path"] == f"/twilio/{service}"
    assert set(REQUIRED_URLS[service]) <= given


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("service", SERVICES)
def test_root_wiring(stage: str, service: str) -> None:
    module = wired(service, stage, "service")
    assert module["name"] == service
    assert module["authorization"] == ("AWS_IAM" if service == "outbound" else "NONE")
    assert module["auth_token_parameter"] == f"/omni-twilio/{stage}/twilio-auth-token"
    required = {"TWILIO_ACCOUNT_SID"} | ({"TWILIO_DEFAULT_FROM_NUMBER", "STATUS_WEBHOOK_URL"} if service == "outbound" else set())
    assert required <= set(module["environment"])
    config = ROOT / "services" / service / ".chalice" / "config.json"
    assert f'"/omni-twilio/{stage}/twilio-auth-token"' in config.read_text()
    # Only outbound calls Twilio's REST API: the API key's secret is its alone.
    key_parameter = f"/omni-twilio/{stage}/twilio-api-key-secret"
    assert module.get("api_key_secret_parameter") == (key_parameter if service == "outbound" else None)
    assert (f'"/omni-twilio/{stage}/twilio-api-key-secret"' in config.read_text()) == (service == "outbound")
    if service == "outbound":
        declared = named(ROOTS_DIR / service, "module")["service"]
        assert declared["environment"]["TWILIO_API_KEY_SID"] == "${var.twilio_api_key_sid}"


def test_the_api_key_secret_is_read_like_the_auth_token() -> None:
    """Its parameter is in the service's environment and in the ssm:GetParameter grant."""
    assert "var.api_key_secret_parameter" in LOCALS["token_parameters"]
    assert "TWILIO_API_KEY_SECRET_PARAMETER" in LOCALS["environment"]


def test_outbound_api_is_iam_authorised_in_the_openapi_document() -> None:
    openapi = re.sub(r"\s+", "", LOCALS["openapi_paths"])
    assert 'var.authorization=="AWS_IAM"?{security=[{sigv4=[]}]}:{}' in openapi
    assert '"x-amazon-apigateway-authtype" = "awsSigv4"' in (INFRA / "modules/service/api.tf").read_text()


def test_lambda_runtime_matches_the_package_target_and_the_python_of_the_tests() -> None:
    """Every function runs the Python the zips are built and compiled for, and these suites
    run on it too (the Makefile makes the venv with infra/lambda_python.py's version)."""
    match = re.search(r'^VERSION = "(\d+\.\d+)"$', (INFRA / "lambda_python.py").read_text(), re.M)
    assert match
    version = match.group(1)
    # The API and scheduled functions, and the stream functions (modules/stream_function).
    functions = [
        r for d in (SERVICE, MODULES / "stream_function") for (kind, _), r in resources(d).items() if kind == "aws_lambda_function"
    ]
    assert len(functions) == 2
    for fn in functions:
        assert fn["runtime"] == f"python{version}" and fn["architectures"] == ["arm64"]
        assert fn["tracing_config"] == [{"mode": "Active"}]
    package = (INFRA / "package.py").read_text()
    assert "PYTHON_VERSION = VERSION" in package and 'PLATFORM = "manylinux2014_aarch64"' in package
    assert "%d.%d" % sys.version_info[:2] == version


def test_stage_has_access_logs_xray_and_throttling() -> None:
    api = resources(SERVICE)
    stage = api[("aws_api_gateway_stage", "this")]
    assert stage["xray_tracing_enabled"] is True
    assert stage["access_log_settings"][0]["destination_arn"] == "${aws_cloudwatch_log_group.access.arn}"
    settings = api[("aws_api_gateway_method_settings", "this")]["settings"][0]
    assert settings["throttling_rate_limit"] == "${var.throttle_rate_limit}"
    assert settings["throttling_burst_limit"] == "${var.throttle_burst_limit}"
    assert settings["data_trace_enabled"] is False  # would log bodies: phone numbers, messages
    for name in ("this", "access"):
        group = api[("aws_cloudwatch_log_group", name)]
        assert group["retention_in_days"] == "${var.log_retention_days}"
        assert group["kms_key_id"] == "${var.logs_kms_key_arn}"


# PynamoDB calls and the DynamoDB action each one needs.
PYNAMODB_CALLS = {
    "save": "dynamodb:PutItem",
    "update": "dynamodb:UpdateItem",
    "get": "dynamodb:GetItem",
    "delete": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "count": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get": "dynamodb:BatchGetItem",
    "batch_write": "dynamodb:BatchWriteItem",
    "condition_check": "dynamodb:ConditionCheckItem",
    "describe_table": "dynamodb:DescribeTable",
}


def service_sources(service: str) -> list[ast.Module]:
    """The service's app.py and chalicelib, and every carrier_core module they reach."""
    core = ROOT / "libs/carrier_core"
    todo = [ROOT / "services" / service / "app.py", *(ROOT / "services" / service / "chalicelib").rglob("*.py")]
    seen: dict[str, ast.Module] = {}
    while todo:
        path = todo.pop()
        if str(path) in seen or not path.is_file():
            continue
        tree = seen[str(path)] = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("carrier_core"):
                todo.append(core / (node.module.replace(".", "/") + ".py"))
                todo.extend(core / node.module.replace(".", "/") / f"{a.name}.py" for a in node.names)
    return list(seen.values())


def actions_called(service: str) -> set[str]:
    actions = set()
    for tree in service_sources(service):
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name, receiver = node.func.attr, node.func.value
            if name not in PYNAMODB_CALLS:
                continue
            if name == "update" and not any(k.arg == "actions" for k in node.keywords):
                continue  # dict.update, not Model.update(actions=...)
            if name == "get" and not (isinstance(receiver, ast.Name) and receiver.id.endswith("Model")):
                continue  # dict.get, not Model.get(hash_key)
            actions.add(PYNAMODB_CALLS[name])
    return actions


@pytest.mark.parametrize("service", SERVICES)
def test_every_dynamodb_call_in_the_code_is_granted(service: str) -> None:
    """A PynamoDB call added to a service without its IAM action fails here, not in AWS."""
    called = actions_called(service)
    granted = set().union(*TABLE_ACTIONS[service].values())
    assert "dynamodb:DescribeTable" in called  # the health check: the scan sees carrier_core
    assert called <= granted, f"{service} calls {called - granted} without a grant in access.tf"


def test_the_module_readme_names_every_setting_the_module_sets() -> None:
    # The names the module's Terraform hands a function that carrier_core.settings reads:
    # each must be in the README an operator reads to know what a function is configured with.
    from tests.unit.test_architecture_doc import settings_read

    terraform = text(MODULES / "service") + text(MODULES / "stream_function")
    set_here = set(re.findall(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\s*=", terraform)) | set(
        re.findall(r'variable\s*=\s*"([A-Z_]+)"', terraform)
    )
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (MODULES / "service" / "README.md").read_text()))
    assert (set_here & settings_read()) - named == set()

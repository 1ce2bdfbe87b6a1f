"""Tenants: read-only access to the tenants table, to the stage's tenant secrets and their key.

Every webhook and API function, and the media re-host (it downloads Twilio media with the
message's tenant's credentials), reads a tenant; nothing else does, and nothing writes one
(the operator's CLI does, with the operator's credentials).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.hcl import (
    MODULES,
    ROOTS_DIR,
    SERVICES,
    STAGES,
    local_values,
    named,
    resources,
    stream_function_statements,
    unquote_keys,
    wired,
)

SERVICE = MODULES / "service"
LOCALS = local_values(SERVICE)
SSM_READS = ["ssm:GetParameter", "ssm:GetParameters"]
# What `local.tenant_parameters_arn` must be: every parameter below the prefix, nothing else.
TENANT_PARAMETERS_ARN = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.tenant_parameter_prefix}*"


def service_statements() -> dict[str, dict[str, Any]]:
    doc = resources(SERVICE, "data")[("aws_iam_policy_document", "this")]
    return {s["sid"]: s for s in doc["statement"]}


def stage_arn(template: str, prefix: str) -> str:
    """The ARN a stage's role is given, the prefix the root passes put in."""
    return template.replace("${var.tenant_parameter_prefix}", prefix)


def test_every_service_reads_tenants_by_key_and_nothing_more() -> None:
    """The webhooks read a tenant by key; the outbound service also runs the reconciler,
    which visits every tenant (a Scan) and keeps each account's checkpoint (a PutItem) in
    the tenants table, under keys no tenant id can take."""
    actions = unquote_keys(LOCALS["table_actions"])
    expected = {svc: ["dynamodb:GetItem"] for svc in SERVICES}
    expected["outbound"] = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"]
    assert {svc: access.get("tenants") for svc, access in actions.items()} == expected


def test_the_api_role_reads_only_the_tenant_path() -> None:
    by_sid = service_statements()
    secrets = by_sid["ReadTenantSecrets"]
    assert secrets["actions"] == SSM_READS
    assert secrets["resources"] == ["${local.tenant_parameters_arn}"]
    assert LOCALS["tenant_parameters_arn"] == TENANT_PARAMETERS_ARN
    # The only other parameter read is of the named token parameters; no other SSM action.
    ssm = {sid: s for sid, s in by_sid.items() if any(a.startswith("ssm:") for a in s["actions"])}
    assert set(ssm) == {"ReadTenantSecrets", "ReadAuthToken"}
    assert ssm["ReadAuthToken"]["actions"] == ["ssm:GetParameter"]
    assert "*" not in str(ssm["ReadAuthToken"]["resources"])


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("service", SERVICES)
def test_the_ssm_resource_is_exactly_the_stage_tenant_path(stage: str, service: str) -> None:
    """As each root applies it: parameter/omni-twilio/<stage>/tenants/*, never `*` nor a
    path that also matches a sibling (/omni-twilio/<stage>/tenants-old/...)."""
    prefix = wired(service, stage, "service")["tenant_parameter_prefix"]
    assert prefix == f"/omni-twilio/{stage}/tenants/"
    arn = stage_arn(LOCALS["tenant_parameters_arn"], prefix)
    assert arn == f"arn:${{local.partition}}:ssm:${{local.region}}:${{local.account_id}}:parameter/omni-twilio/{stage}/tenants/*"
    assert arn.count("*") == 1 and arn.endswith("/tenants/*")


def test_the_prefix_variable_refuses_a_path_that_would_widen_the_grant() -> None:
    rule = named(SERVICE, "variable")["tenant_parameter_prefix"]["validation"][0]["condition"]
    match = re.search(r'regex\("([^"]+)"', rule)
    assert match
    pattern = match.group(1)
    assert re.fullmatch(pattern, "/omni-twilio/dev/tenants/")
    for wide in ("/", "", "*", "/omni-twilio/dev/tenants", "/omni-twilio/*/tenants/", "omni-twilio/dev/tenants/"):
        assert not re.fullmatch(pattern, wide), wide


def test_the_api_role_decrypts_tenant_secrets_through_ssm_only() -> None:
    decrypt = service_statements()["DecryptTenantSecretsThroughSsm"]
    assert decrypt["actions"] == ["kms:Decrypt"]
    assert decrypt["resources"] == ["${var.tenant_secrets_kms_key_arn}"]
    assert decrypt["condition"] == [{"test": "StringEquals", "variable": "kms:ViaService", "values": ["ssm.${local.region}.amazonaws.com"]}]


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("service", SERVICES)
def test_roots_wire_the_table_the_key_and_the_prefix(stage: str, service: str) -> None:
    module = wired(service, stage, "service")
    assert module["tables"]["tenants"] == "${local.prefix}-tenants"
    assert module["tenant_secrets_kms_key_arn"] == "${data.aws_kms_alias.tenant_secrets.target_key_arn}"
    alias = resources(ROOTS_DIR / service, "data")[("aws_kms_alias", "tenant_secrets")]
    assert alias["name"] == "alias/${local.prefix}-tenant-secrets"
    # The key the platform module makes under that alias (alias/omni-twilio-<stage>-<name>).
    assert named(MODULES / "platform", "module")["tenant_secrets_key"]["name"] == "tenant-secrets"
    tables = resources(MODULES / "tables")[("aws_dynamodb_table", "tenants")]
    assert tables["name"] == "${local.prefix}-tenants"


def test_the_functions_are_told_the_table_and_the_prefix() -> None:
    environment = re.sub(r"\s+", " ", LOCALS["environment"])
    assert "TENANTS_TABLE = var.tables.tenants" in environment
    assert "TENANT_PARAMETER_PREFIX = var.tenant_parameter_prefix" in environment
    # The key is not: a SecureString is decrypted with the key recorded on the parameter.
    assert "tenant_secrets_kms_key_arn" not in environment


def test_the_shared_root_outputs_the_table_and_the_key() -> None:
    outputs = named(ROOTS_DIR / "shared", "output")
    assert outputs["tenants_table"]["value"] == "${module.tables.tenants_table}"
    assert outputs["tenant_secrets_kms_key_arn"]["value"] == "${module.platform.tenant_secrets_kms_key_arn}"
    assert outputs["tenant_secrets_kms_alias"]["value"] == "${module.platform.tenant_secrets_kms_alias}"


@pytest.mark.parametrize("call", ["media_worker", "optout_cancels"])
def test_a_stream_function_acting_for_a_tenant_reads_tenants_as_the_api_role_does(call: str) -> None:
    """The media re-host fetches Twilio's media, the opt-out cancels call Twilio: each with
    the message's tenant's credentials (modules/stream_function's tenant_reads)."""
    worker = stream_function_statements(SERVICE, call)
    assert worker["ReadTenants"]["actions"] == ["dynamodb:GetItem"]
    assert worker["ReadTenants"]["resources"] == ['${local.table_arns["tenants"]}']
    api = service_statements()
    for sid in ("ReadTenantSecrets", "DecryptTenantSecretsThroughSsm"):
        assert worker[sid]["actions"] == api[sid]["actions"], sid
        assert worker[sid]["resources"] == api[sid]["resources"], sid
    assert worker["DecryptTenantSecretsThroughSsm"]["via_service"] == "ssm"
    assert worker["ReadTenantSecrets"]["via_service"] is None


def test_the_handoff_reads_no_tenant() -> None:
    """It publishes what the streams carry; it never calls Twilio."""
    handoff = stream_function_statements(SERVICE, "handoff")
    text = str(handoff)
    assert "tenant" not in text
    assert {a for s in handoff.values() for a in s["actions"] if a.startswith("ssm:")} == {"ssm:GetParameter"}
    assert handoff["ReadParameters"]["resources"] == "${var.parameters.arns}"
    assert "tenant" not in str(LOCALS["stream_function_parameters"])


# The routes the tenants contract adds, which the apps declare beside today's.
TENANT_ROUTES = {
    "inbound": {("POST", "/twilio/{tenant}/inbound")},
    "status": {("POST", "/twilio/{tenant}/status")},
    "outbound": {
        ("POST", "/tenants/{tenant}/messages"),
        ("GET", "/tenants/{tenant}/messages/{sid}"),
        ("GET", "/tenants/{tenant}/messages/{sid}/media/{n}"),
        ("POST", "/tenants/{tenant}/messages/{sid}/cancel"),
        ("POST", "/tenants/{tenant}/messages/{sid}/redact"),
        ("POST", "/tenants/{tenant}/contacts/{identity}/erase"),
        ("GET", "/tenants/{tenant}/erasures/{erasure_id}"),
    },
}


def routes(service: str) -> set[tuple[str, str]]:
    return {(r["method"], r["path"]) for r in LOCALS["routes"][service]}


@pytest.mark.parametrize("service", SERVICES)
def test_each_tenant_route_is_an_untenanted_route_under_the_tenant(service: str) -> None:
    """Webhooks: /twilio/<service> again as /twilio/{tenant}/<service>. The API: every
    message, contact and erasure route again under /tenants/{tenant}, with the same method (and the API's
    authorization, which the OpenAPI document gives every route). /health has no tenant."""
    tf = routes(service)
    tenanted = {r for r in tf if "{tenant}" in r[1]}
    assert tenanted == TENANT_ROUTES[service]
    untenanted = tf - tenanted
    if service == "outbound":
        expected = {(m, f"/tenants/{{tenant}}{p}") for m, p in untenanted if p.startswith(("/messages", "/contacts", "/erasures"))}
    else:
        expected = {(m, p.replace("/twilio/", "/twilio/{tenant}/")) for m, p in untenanted if p.startswith("/twilio/")}
    assert tenanted == expected
    assert ("GET", "/health") in untenanted


@pytest.mark.parametrize("service", SERVICES)
def test_api_gateway_accepts_the_resource_tree(service: str) -> None:
    """API Gateway refuses two path variables of different names under one resource
    (/twilio/{tenant} beside /twilio/{id}); a static segment beside one is fine."""
    children: dict[str, set[str]] = {}
    for _, path in routes(service):
        parts = path.strip("/").split("/")
        for depth, part in enumerate(parts):
            children.setdefault("/".join(parts[:depth]), set()).add(part)
    for parent, names in children.items():
        assert len({n for n in names if n.startswith("{")}) <= 1, (service, parent, names)


def test_the_tenant_webhook_urls_are_the_tenant_routes() -> None:
    webhooks = LOCALS["webhooks"]
    for service, webhook in webhooks.items():
        assert ("POST", webhook["tenant_path"]) in TENANT_ROUTES[service]
        assert webhook["tenant_path"] == webhook["path"].replace("/twilio/", "/twilio/{tenant}/")
    for service in webhooks:
        assert named(ROOTS_DIR / service, "output")["tenant_webhook_url"]["value"] == "${module.service.tenant_webhook_url}"

"""The tables in Terraform are the tables the PynamoDB models describe, with safe settings."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.models import Model

from carrier_core.models import ALL_MODELS, FailedMessageModel, IdempotencyModel, MessageModel, OptOutModel, TenantModel
from carrier_core.settings import Settings
from tests.infra.hcl import MODULES, ROOTS_DIR, STAGES, named, resources, wired

TABLES = resources(MODULES / "tables")
# Terraform resource name -> model and the name suffix settings.py defaults to.
MODELS: dict[str, tuple[type[Model], str]] = {
    "messages": (MessageModel, "messages"),
    "failed_messages": (FailedMessageModel, "failed-messages"),
    "optouts": (OptOutModel, "optouts"),
    "idempotency": (IdempotencyModel, "idempotency"),
    "tenants": (TenantModel, "tenants"),
}

# Fixed by the tenants contract, which the operator's CLI and the platform rely on too: the
# table `omni-twilio-<stage>-tenants`, read by `tenant`.
TENANTS_NAME = "omni-twilio-dev-tenants"
TENANTS_KEYS = {"HASH": "tenant"}
TENANTS_ATTRIBUTES = {"tenant": "S"}


def table(name: str) -> dict[str, Any]:
    return TABLES[("aws_dynamodb_table", name)]


def keys(schema: Any) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in schema}


def tf_keys(body: dict[str, Any]) -> dict[str, str]:
    found = {"HASH": body["hash_key"]}
    if "range_key" in body:
        found["RANGE"] = body["range_key"]
    return found


def test_every_model_has_a_table_and_no_more() -> None:
    assert {name for kind, name in TABLES if kind == "aws_dynamodb_table"} == set(MODELS)
    assert set(ALL_MODELS) == {model for model, _ in MODELS.values()}


def test_tenants_table_is_the_one_the_contract_names() -> None:
    body = table("tenants")
    assert body["name"].replace("${local.prefix}", "omni-twilio-dev") == TENANTS_NAME
    assert tf_keys(body) == TENANTS_KEYS
    assert {a["name"]: a["type"] for a in body["attribute"]} == TENANTS_ATTRIBUTES
    # Read by key only, kept until removed, followed by nothing downstream.
    assert not body.get("global_secondary_index") and not body.get("local_secondary_index")
    assert not body.get("ttl")
    assert not body.get("stream_enabled") and "stream_view_type" not in body


@pytest.mark.parametrize("name", MODELS)
def test_name_matches_settings_default(name: str) -> None:
    model, suffix = MODELS[name]
    settings = Settings.from_env(
        "inbound", {"STAGE": "dev", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "INBOUND_WEBHOOK_URL": "https://x"}
    )
    expected = getattr(settings, f"{name}_table")
    assert table(name)["name"].replace("${local.prefix}", "omni-twilio-dev") == expected == f"omni-twilio-dev-{suffix}"


@pytest.mark.parametrize("name", MODELS)
def test_keys_and_attributes_match_model(name: str) -> None:
    model, _ = MODELS[name]
    schema = model._get_schema()
    body = table(name)
    assert tf_keys(body) == keys(schema["key_schema"])
    tf_attrs = {a["name"]: a["type"] for a in body["attribute"]}
    model_attrs = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
    assert tf_attrs == model_attrs


@pytest.mark.parametrize("name", MODELS)
def test_indexes_match_model(name: str) -> None:
    model, _ = MODELS[name]
    model_indexes = {
        i["index_name"]: (keys(i["key_schema"]), i["projection"]["ProjectionType"]) for i in model._get_schema()["global_secondary_indexes"]
    }
    tf_indexes = {i["name"]: (tf_keys(i), i["projection_type"]) for i in table(name).get("global_secondary_index", [])}
    assert tf_indexes == model_indexes
    assert not table(name).get("local_secondary_index")


@pytest.mark.parametrize("name", MODELS)
def test_ttl_matches_model(name: str) -> None:
    model, _ = MODELS[name]
    ttl = model._ttl_attribute()
    blocks = table(name).get("ttl", [])
    if ttl is None:
        assert not blocks
    else:
        assert blocks == [{"attribute_name": ttl.attr_name, "enabled": True}]


@pytest.mark.parametrize("name", MODELS)
def test_stream_matches_model(name: str) -> None:
    model, _ = MODELS[name]
    view = getattr(model.Meta, "stream_view_type", None)
    body = table(name)
    if view is None:
        assert not body.get("stream_enabled")
    else:
        assert body["stream_enabled"] is True and body["stream_view_type"] == view == "NEW_AND_OLD_IMAGES"


@pytest.mark.parametrize("name", MODELS)
def test_safe_settings(name: str) -> None:
    body = table(name)
    assert body["billing_mode"] == "PAY_PER_REQUEST" == MODELS[name][0].Meta.billing_mode
    assert body["point_in_time_recovery"] == [{"enabled": True}]
    assert body["server_side_encryption"] == [{"enabled": True, "kms_key_arn": "${module.key.arn}"}]
    assert body["deletion_protection_enabled"] == "${var.deletion_protection}"


def test_tables_have_their_own_key() -> None:
    key = named(MODULES / "tables", "module")["key"]
    assert (key["source"], key["name"]) == ("../kms_key", "tables")


@pytest.mark.parametrize("stage", STAGES)
def test_deletion_protection_on_in_prod(stage: str) -> None:
    tables = wired("shared", stage, "tables")
    assert tables["deletion_protection"] is (stage == "prod")


def test_every_table_is_watched_and_output() -> None:
    """Each table's throttles alarm (the shared root's alarms), and each table is an output."""
    names = sorted(name for kind, name in TABLES if kind == "aws_dynamodb_table")
    alarms = named(ROOTS_DIR / "shared", "module")["alarms"]
    assert sorted(alarms["table_names"]) == sorted(f"${{module.tables.{name}_table.name}}" for name in names)
    outputs = named(MODULES / "tables", "output")
    for name in names:
        assert f"aws_dynamodb_table.{name}.arn" in str(outputs[f"{name}_table"]["value"])

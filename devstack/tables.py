"""Create the local stage's tables in the local DynamoDB, idempotently, with the stream on."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import TableError
from pynamodb.models import Model

from carrier_core.models import ALL_MODELS, bind_models
from carrier_core.settings import Settings


def local_settings(endpoint: str) -> Settings:
    return Settings.from_env("devstack", environ={"STAGE": "local", "DYNAMODB_ENDPOINT": endpoint})


def create_tables(endpoint: str) -> list[str]:
    """Create every table that is missing; returns the tables' names."""
    bind_models(local_settings(endpoint))
    names = []
    for model in ALL_MODELS:
        names.append(model.Meta.table_name)
        if model.exists():
            add_missing_indexes(model)
            continue
        try:
            model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
        except TableError as exc:
            if exc.cause_response_code != "ResourceInUseException":  # created meanwhile
                raise
    return names


def add_missing_indexes(model: type[Model]) -> list[str]:
    """Create the model's global secondary indexes a kept table (`.dev/`) lacks: a table made
    before an index was added to the model gains it, as Terraform adds it in AWS."""
    client: Any = model._get_connection().connection.client
    table = client.describe_table(TableName=model.Meta.table_name)["Table"]
    present = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes") or []}
    schema: Any = model._get_schema()
    added = []
    for index in schema.get("global_secondary_indexes") or []:
        name = index["index_name"]
        if name in present:
            continue
        # DynamoDB wants the HASH key first; PynamoDB lists the keys in no fixed order.
        key_schema = sorted(index["key_schema"], key=lambda key: key["KeyType"])
        client.update_table(
            TableName=model.Meta.table_name,
            AttributeDefinitions=index["attribute_definitions"],
            GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": name, "KeySchema": key_schema, "Projection": index["projection"]}}],
        )
        added.append(name)
    return added

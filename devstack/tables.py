"""Create the local stage's tables in the local DynamoDB, idempotently, with the stream on."""

from __future__ import annotations

from pynamodb.exceptions import TableError

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
            continue
        try:
            model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
        except TableError as exc:
            if exc.cause_response_code != "ResourceInUseException":  # created meanwhile
                raise
    return names

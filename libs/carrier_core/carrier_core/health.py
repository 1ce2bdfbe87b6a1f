"""Health: the service answers 200 only when it can reach every table it uses."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pynamodb.models import Model

from carrier_core.errors import StorageUnavailable
from carrier_core.storage import failure_kind

log = logging.getLogger(__name__)


def check_tables(models: Iterable[type[Model]]) -> dict[str, str]:
    """DescribeTable each model's table; raises StorageUnavailable naming the first missing."""
    seen: dict[str, str] = {}
    for model in models:
        name = model.Meta.table_name
        try:
            status = model.describe_table().get("TableStatus", "UNKNOWN")
        except Exception as exc:  # any failure means the table cannot be used
            log.warning("health check failed", extra={"table": name, "error_type": failure_kind(exc)})
            raise StorageUnavailable(f"table {name} cannot be reached") from exc
        seen[name] = str(status)
    return seen

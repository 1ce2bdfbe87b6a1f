"""The local stage's on-demand runs (the retry worker, the reconciler): their JSON bodies,
checked like every other input."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from carrier_core.errors import InvalidField
from carrier_core.tenants import is_tenant_id
from carrier_core.settings import DEFAULT_TENANT

from chalicelib.request import parse_json_object

FIELDS = frozenset({"at"})
# Year 5138: far enough for any test, and an integer DynamoDB can compare (38 digits at most).
MAX_AT = 10**11


def retry_at(raw_body: str | bytes | None) -> float | None:
    """The epoch second to run the worker as if at, or None for now; `{}` or no body is now."""
    if not raw_body or not raw_body.strip():
        return None
    data = parse_json_object(raw_body)
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise InvalidField(f"unknown field {unknown[0][:40]}; accepted: at")
    at = data.get("at")
    if at is None:
        return None
    # bool is an int to Python; NaN and 1e999 parse as floats the worker cannot use.
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at) or not 0 <= at <= MAX_AT:
        raise InvalidField(f"at must be a number of epoch seconds from 0 to {MAX_AT}")
    return float(at)


RECONCILE_FIELDS = frozenset({"since", "tenant"})


def reconcile_args(raw_body: str | bytes | None) -> tuple[datetime | None, str | None]:
    """`{"since"?: ISO 8601 instant, "tenant"?: id}`: where to read from (None: the
    checkpoint) and which tenant alone (None: every account)."""
    if not raw_body or not raw_body.strip():
        return None, None
    data = parse_json_object(raw_body)
    unknown = sorted(set(data) - RECONCILE_FIELDS)
    if unknown:
        raise InvalidField(f"unknown field {unknown[0][:40]}; accepted: since, tenant")
    since, tenant = data.get("since"), data.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not (tenant == DEFAULT_TENANT or is_tenant_id(tenant))):
        raise InvalidField("tenant must be a tenant id")
    if since is None:
        return None, tenant
    if not isinstance(since, str) or len(since) > 40:
        raise InvalidField("since must be an ISO 8601 date-time")
    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidField("since must be an ISO 8601 date-time") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)), tenant

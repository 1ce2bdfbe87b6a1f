"""Every registered tenant: a scan of the tenants table, for the few that need them all (the
reconciler, the operator's CLI), kept apart from carrier_core.tenants so that a webhook's
service, which reads one tenant by key, never reaches a Scan."""

from __future__ import annotations

from carrier_core.models import TenantModel
from carrier_core.tenants import RESERVED_KEY_PREFIX, is_tenant_id


def registered_tenants() -> list[TenantModel]:
    """Every tenant's item, sorted by id: the tenants table scanned, the keys that are not
    tenants (RESERVED_KEY_PREFIX, the reconciler's checkpoints) left out by DynamoDB and
    checked again here."""
    items = TenantModel.scan(filter_condition=~TenantModel.tenant.startswith(RESERVED_KEY_PREFIX))
    return sorted((item for item in items if is_tenant_id(str(item.tenant))), key=lambda item: str(item.tenant))

"""Ids given as arguments: a whole id is used as it is; a shorter start of one (`SM6aba`, as
a narrow table or a log line shows it) is completed from the table that holds such ids, among
the items of the tenant the command works on, when exactly one item matches.

A whole id is read with one GetItem by the command; a prefix costs a scan of the table's keys
(DynamoDB cannot look a prefix of a partition key up), filtered by DynamoDB.
"""

from __future__ import annotations

import re
from typing import Any

from omni_cli.context import CliFailure, Profile

# A message SID (SM/MM), or a failed send's id (RQ): the kind and 32 hexadecimal digits.
WHOLE = re.compile(r"^(SM|MM|RQ)[0-9a-fA-F]{32}$")
# The start of one: the kind and at least one digit, fewer than 32.
PREFIX = re.compile(r"^(SM|MM|RQ)[0-9a-fA-F]{1,31}$")


def is_prefix(value: str) -> bool:
    return PREFIX.fullmatch(value) is not None


def matching(profile: Profile, prefix: str, tenant: str | None) -> list[str]:
    """The ids that start with `prefix`: message SIDs from the messages table, RQ… from the
    failed-message store; only `tenant`'s when it is given."""
    from carrier_core.models import FailedMessageModel, MessageModel
    from carrier_core.tenants import tenant_of

    profile.bind()
    model: Any = FailedMessageModel if prefix.startswith("RQ") else MessageModel
    key = model.id if model is FailedMessageModel else model.sid
    found = model.scan(key.startswith(prefix), attributes_to_get=[key.attr_name, "tenant"])
    return sorted(str(getattr(item, key.attr_name)) for item in found if tenant is None or tenant_of(item.tenant) == tenant)


def resolve(profile: Profile, value: str, tenant: str | None, what: str, kinds: tuple[str, ...] = ("SM", "MM", "RQ")) -> str:
    """`value` when it is not a prefix of an id of `kinds`; else the one id of `tenant`'s items
    (every tenant's when None) that starts with it. None or several is a one-line failure."""
    if not is_prefix(value) or not value.startswith(kinds):
        return value
    found = matching(profile, value, tenant)
    among = f" of tenant {tenant}" if tenant is not None else ""
    if not found:
        raise CliFailure(f"no {what}{among} has an id starting with {value}")
    if len(found) > 1:
        raise CliFailure(f"{value} is ambiguous: {len(found)} {what}s{among} start with it; give more of the id")
    return found[0]

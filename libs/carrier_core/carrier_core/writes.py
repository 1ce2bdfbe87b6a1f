"""The webhook paths' DynamoDB writes, sent as DynamoDB's own JSON on the models' botocore clients.

On the hot paths PynamoDB's objects cost more CPU than the request they make. Measured in
process with the HTTP round trip stubbed out: building an inbound message as a Model and
serialising it took ~90 µs; a status callback's update built from PynamoDB actions and
conditions ~200 µs, and parsing the item it returned into a Model ~90 µs more. `make bench`
holds each handler to 1.3x the bare request, so these writes are built here instead, once,
as the request DynamoDB reads.

The models stay the schema: every value is serialised by the model attribute it is stored
in (`values`), so attribute names, types and encodings cannot drift from what PynamoDB
reads back, and tests compare each write with the one PynamoDB builds. The requests go
through the botocore client PynamoDB made for the model, so the stage's endpoint, timeouts
and retry budget (carrier_core.storage) apply unchanged, and failures are classified as before.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.attributes import Attribute, AttributeContainer, MapAttribute, UnicodeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from carrier_core.storage import is_condition_failure, storage_error

Raw = dict[str, Any]  # one value as DynamoDB's JSON: {"S": "..."}, {"N": "3"}, {"L": [...]}


def values(container: type[AttributeContainer], fields: Mapping[str, Any]) -> dict[str, Raw]:
    """`fields` (by Python attribute name) as DynamoDB JSON by stored name; None is left out.

    Each value goes through its own attribute's `serialize`, as PynamoDB's save does. A
    typed map (HistoryEntry, MediaItem), alone or in a list, may be given as a plain dict
    of its fields, serialised the same way without building the MapAttribute.
    """
    plans = _plans(container)
    raw: dict[str, Raw] = {}
    for name, item in fields.items():
        if item is not None:
            plan = plans[name]
            raw[plan.stored] = plan.serialise(item)
    return raw


def value(container: type[AttributeContainer], name: str, item: Any) -> Raw:
    """One value as DynamoDB JSON, serialised by `container`'s attribute `name`."""
    return _plans(container)[name].serialise(item)


@dataclass(frozen=True)
class _Plan:
    """How one attribute's values are written, worked out once per attribute."""

    stored: str
    attribute: Attribute[Any]
    as_map: type[MapAttribute[Any, Any]] | None  # a typed map: a dict of its fields is accepted
    of_maps: type[MapAttribute[Any, Any]] | None  # a list of typed maps: so are dicts in it
    plain_text: bool  # a UnicodeAttribute, whose serialize returns the string as it is

    def serialise(self, item: Any) -> Raw:
        if self.plain_text and type(item) is str:
            return {"S": item}
        if self.as_map is not None and type(item) is dict:
            return {"M": values(self.as_map, item)}
        if self.of_maps is not None and type(item) is list and all(type(entry) is dict for entry in item):
            return {"L": [{"M": values(self.of_maps, entry)} for entry in item]}
        return {self.attribute.attr_type: self.attribute.serialize(item)}


@functools.lru_cache(maxsize=None)
def _plans(container: type[AttributeContainer]) -> dict[str, _Plan]:
    plans = {}
    for name, attribute in container.get_attributes().items():
        kind, element = type(attribute), getattr(attribute, "element_type", None)
        plans[name] = _Plan(
            stored=attribute.attr_name,
            attribute=attribute,
            as_map=kind if _is_typed_map(kind) else None,
            of_maps=element if _is_typed_map(element) else None,
            plain_text=kind is UnicodeAttribute,
        )
    return plans


def _is_typed_map(cls: Any) -> TypeGuard[type[MapAttribute[Any, Any]]]:
    """A MapAttribute subclass that declares its attributes (not a raw map such as `geo`)."""
    return isinstance(cls, type) and issubclass(cls, MapAttribute) and bool(cls.get_attributes())


def stored_name(container: type[AttributeContainer], name: str) -> str:
    """The name attribute `name` is stored under (`from_number` is `from`)."""
    return _plans(container)[name].stored


def placeholders(container: type[AttributeContainer], *names: str) -> dict[str, str]:
    """Expression name placeholders for attributes: `#` and the stored name (`#from` for from_number)."""
    stored = [stored_name(container, name) for name in names]
    return {"#" + name: name for name in stored}


@dataclass(frozen=True)
class Update:
    """A conditional UpdateItem of one item, ready to send alone or inside a transaction."""

    key: dict[str, Raw]
    update: str
    condition: str
    names: dict[str, str]
    values: dict[str, Raw]

    def request(self, table: str) -> dict[str, Any]:
        """The request's parameters, as UpdateItem and a transaction's Update both take them."""
        return {
            "TableName": table,
            "Key": self.key,
            "UpdateExpression": self.update,
            "ConditionExpression": self.condition,
            "ExpressionAttributeNames": self.names,
            "ExpressionAttributeValues": self.values,
        }


def _send(model: type[Model], method: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """Send one request on `model`'s botocore client: its answer, or None when its condition failed.

    The client is PynamoDB's own for the model (endpoint, timeouts, retries); PynamoDB's
    dispatch around it only adds consumed-capacity logging this path has no use for.
    """
    client = model._get_connection().connection.client
    try:
        answer: dict[str, Any] = getattr(client, method)(**request)
    except (BotoCoreError, ClientError) as exc:
        if is_condition_failure(exc):
            return None
        raise storage_error(exc) from exc
    return answer


def _put_request(model: type[Model], item: dict[str, Raw], condition: str, names: dict[str, str]) -> dict[str, Any]:
    """A conditional put's parameters, as PutItem and a transaction's Put both take them."""
    return {"TableName": model.Meta.table_name, "Item": item, "ConditionExpression": condition, "ExpressionAttributeNames": names}


def put_item(model: type[Model], item: dict[str, Raw], condition: str, names: dict[str, str]) -> bool:
    """A conditional PutItem of `item` in `model`'s table; False when the condition failed."""
    return _send(model, "put_item", _put_request(model, item, condition, names)) is not None


def update_item(model: type[Model], update: Update) -> dict[str, Raw] | None:
    """Run `update` on `model`'s table: the item as written (ALL_NEW), None when its condition failed."""
    answer = _send(model, "update_item", {**update.request(model.Meta.table_name), "ReturnValues": "ALL_NEW"})
    return None if answer is None else answer.get("Attributes", {})


class Transaction(TransactWrite):
    """PynamoDB's TransactWrite that also takes the writes above.

    PynamoDB sends a transaction's items grouped: condition checks, deletes, puts, then
    updates, each group in the order added; the cancellation reasons follow that order.
    """

    def put_item(self, model: type[Model], item: dict[str, Raw], condition: str, names: dict[str, str]) -> None:
        self._put_items.append(_put_request(model, item, condition, names))

    def update_item(self, model: type[Model], update: Update) -> None:
        self._update_items.append(update.request(model.Meta.table_name))

"""A DynamoDB stream record as Lambda delivers it, read into plain Python values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Image = dict[str, Any]


def _number(raw: str) -> int | float:
    value = float(raw)
    return int(value) if value.is_integer() and "." not in raw and "e" not in raw.lower() else value


def attribute_value(value: dict[str, Any]) -> Any:
    """One typed AttributeValue ({"S": "x"}, {"N": "1"}, ...) as a Python value."""
    ((kind, raw),) = value.items()
    if kind == "S" or kind == "B":
        return raw
    if kind == "N":
        return _number(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: attribute_value(v) for k, v in raw.items()}
    if kind == "L":
        return [attribute_value(v) for v in raw]
    if kind == "SS" or kind == "BS":
        return sorted(raw)
    if kind == "NS":
        return sorted(_number(v) for v in raw)
    raise ValueError(f"unknown attribute type {kind}")


def image(raw: dict[str, Any] | None) -> Image | None:
    """A NewImage/OldImage as a plain dict; None when the record has none."""
    if raw is None:
        return None
    return {name: attribute_value(value) for name, value in raw.items()}


@dataclass(frozen=True)
class StreamRecord:
    """What the hand-off reads from one record: which table, what changed, where in the shard."""

    table: str
    event_name: str
    sequence_number: str
    keys: Image
    new: Image | None
    old: Image | None

    @classmethod
    def from_lambda(cls, record: dict[str, Any]) -> StreamRecord:
        """Read a record of a Lambda DynamoDB event (or the poller's copy of one)."""
        data = record["dynamodb"]
        return cls(
            table=table_of(record.get("eventSourceARN", "")),
            event_name=record["eventName"],
            sequence_number=data["SequenceNumber"],
            keys=image(data.get("Keys")) or {},
            new=image(data.get("NewImage")),
            old=image(data.get("OldImage")),
        )


def table_of(stream_arn: str) -> str:
    """The table name in arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>."""
    _, _, rest = stream_arn.partition(":table/")
    return rest.split("/", 1)[0]


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record from DynamoDB Streams' GetRecords in the shape Lambda delivers it.

    GetRecords leaves out the stream's ARN and (through botocore) gives the creation time
    as a datetime; Lambda's event carries the ARN and epoch seconds.
    """
    data = dict(record["dynamodb"])
    created = data.get("ApproximateCreationDateTime")
    if created is not None and hasattr(created, "timestamp"):
        data["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": data, "eventSourceARN": stream_arn}

"""What a failed PynamoDB request says about itself, read without trusting its shape."""
from __future__ import annotations

from pynamodb.exceptions import PynamoDBException

CONDITION_FAILED = "ConditionalCheckFailedException"


def response_code(exc: PynamoDBException) -> str | None:
    """DynamoDB's error code (ConditionalCheckFailedException, ...) or None when there was no answer.

    PynamoDB 6.1's `cause_response_code` assumes the cause carries an HTTP response; a
    botocore ReadTimeoutError or EndpointConnectionError has none, and the property then
    raises AttributeError instead of answering. A timeout must read as "no answer", so a
    caller translating it (to StorageUnavailable, or "already stored") never lets that
    AttributeError escape as a 500.
    """
    try:
        return exc.cause_response_code
    except (AttributeError, KeyError, TypeError):
        return None


def condition_failed(exc: PynamoDBException) -> bool:
    """True when the write was refused by its condition (it reached DynamoDB and was judged)."""
    return response_code(exc) == CONDITION_FAILED

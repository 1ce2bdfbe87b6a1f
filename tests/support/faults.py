"""DynamoDB failures injected where botocore raises them, beneath PynamoDB and our writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient

Request = dict[str, Any]


def fail_dynamodb(
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
    operation: str,
    when: Callable[[Request], bool] = lambda request: True,
) -> None:
    """Make every DynamoDB `operation` request matching `when` raise `error`, as botocore would."""
    original = BaseClient._make_api_call

    def call(self: BaseClient, name: str, request: Request) -> Any:
        if self.meta.service_model.service_name == "dynamodb" and name == operation and when(request):
            raise error
        return original(self, name, request)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from moto.core.botocore_stubber import BotocoreStubber

# Unit tests never reach AWS: moto intercepts botocore, and these fake credentials stop
# botocore from looking any further for real ones.
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
os.environ.pop("AWS_PROFILE", None)

_moto_lock = threading.Lock()


@pytest.fixture(autouse=True, scope="session")
def atomic_moto() -> Iterator[None]:
    """Serve in-process moto requests one at a time, as devstack's emulator does.

    DynamoDB applies a conditional write atomically; moto checks the condition and then
    mutates without a lock, so tests that race requests (one Idempotency-Key, eight copies
    of a webhook) would test moto's race rather than our conditions.
    """
    original = BotocoreStubber.__call__

    def locked(self: BotocoreStubber, *args: Any, **kwargs: Any) -> Any:
        with _moto_lock:
            return original(self, *args, **kwargs)

    BotocoreStubber.__call__ = locked  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]

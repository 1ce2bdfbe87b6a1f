"""Reading stored messages for the public API."""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import GetError

from carrier_core.errors import MessageNotFound, StorageUnavailable
from carrier_core.models import MessageModel
from carrier_core.resource import render_message


def get_message(sid: str) -> dict[str, Any]:
    """The message resource for `sid`; MessageNotFound if none is stored."""
    try:
        item = MessageModel.get(sid, consistent_read=True)
    except MessageModel.DoesNotExist as exc:
        raise MessageNotFound(f"no message with sid {sid}") from exc
    except GetError as exc:
        raise StorageUnavailable() from exc
    return render_message(item)

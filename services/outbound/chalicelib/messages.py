"""Reading stored messages for the public API."""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import GetError

from carrier_core.errors import MediaNotFound, MessageNotFound, StorageUnavailable
from carrier_core.media.storage import presigned_get, s3_client
from carrier_core.models import FailedMessageModel, MediaStatus, MessageModel
from carrier_core.resource import render_message
from carrier_core.settings import Settings

from chalicelib.store import RETRY_PREFIX, retrying_item


def get_message(sid: str) -> dict[str, Any]:
    """The message resource for `sid`; MessageNotFound if none is stored.

    A retrying send's id reads the failed-messages table: `retrying` or `failed` while
    Twilio has not taken it, the message it became once the retry worker sent it.
    """
    if sid.startswith(RETRY_PREFIX):
        failed = _get(FailedMessageModel, sid)
        if not failed.message_sid:
            return render_message(retrying_item(failed))
        sid = failed.message_sid
    return render_message(_get(MessageModel, sid))


def _get(model: Any, key: str) -> Any:
    try:
        return model.get(key, consistent_read=True)
    except model.DoesNotExist as exc:
        raise MessageNotFound(f"no message with sid {key}") from exc
    except GetError as exc:
        raise StorageUnavailable() from exc


def media_link(sid: str, index: str, settings: Settings) -> str:
    """A short-lived link to the stored copy of media item `index`; MediaNotFound when none is."""
    item = _get(MessageModel, sid)
    media = item.media or []
    if not index.isdigit() or int(index) >= len(media):
        raise MediaNotFound(f"message {sid} has no media item {index}")
    stored = media[int(index)]
    if stored.status != MediaStatus.STORED.value or not stored.stored_url:
        raise MediaNotFound(f"media item {index} of message {sid} has no stored copy (status {stored.status})")
    return presigned_get(s3_client(settings.region), stored.stored_url, settings.media_link_seconds)

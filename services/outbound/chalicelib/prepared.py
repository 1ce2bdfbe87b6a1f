"""What a send's media checks hand on: each item as the caller gave it and as Twilio gets it.

Apart from chalicelib.media, which does the checks, so that a send without media (and every
cold start) never imports the probes, the SSRF guard or the S3 client.
"""

from __future__ import annotations

from dataclasses import dataclass

from carrier_core.models import MediaItem
from carrier_core.vocabulary import MediaStatus


@dataclass(frozen=True)
class SentMedia:
    """One item as the caller gave it and as Twilio gets it."""

    url: str
    content_type: str | None
    size: int | None
    sent_url: str
    sent_content_type: str | None = None
    stored_url: str | None = None
    sent_size: int | None = None
    sha256: str | None = None

    def item(self) -> MediaItem:
        converted = self.stored_url is not None
        return MediaItem(
            url=self.url,
            content_type=self.content_type,
            size=self.size if not converted else self.sent_size,
            stored_url=self.stored_url,
            sha256=self.sha256,
            sent_content_type=self.sent_content_type,
            status=MediaStatus.STORED.value if converted else None,
        )


@dataclass(frozen=True)
class PreparedMedia:
    items: tuple[SentMedia, ...] = ()

    @property
    def sent_urls(self) -> tuple[str, ...]:
        return tuple(i.sent_url for i in self.items)

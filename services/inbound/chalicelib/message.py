"""InboundMessage: Twilio's inbound form as a typed value object.

It lives in carrier_core.inbound, shared with the outbound service's reconciler, which
stores a message whose webhook never arrived with the same write.
"""

from __future__ import annotations

from carrier_core.inbound import GEO_FIELDS, MAX_MEDIA, MEDIA_FIELD, MEDIA_SCHEMES, InboundMessage, Media

__all__ = ["GEO_FIELDS", "MAX_MEDIA", "MEDIA_FIELD", "MEDIA_SCHEMES", "InboundMessage", "Media"]

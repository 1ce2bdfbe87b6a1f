"""Finding the message an unanswered create may have made, before anything is sent again.

Twilio's create is not idempotent (its 20500 page warns that a retry after a 500 can
deliver twice), so after a 5xx or a lost answer the service lists Messages instead:
https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources
README.md ("Never twice") describes the window this leaves and why adopting is safe.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException

from carrier_core.errors import TwilioUnavailable
from carrier_core.settings import Settings

from chalicelib.request import OutboundRequest
from chalicelib.twilio_client import Accepted, TwilioCallFailed, get_client, rest_failure, transport_failure

log = logging.getLogger(__name__)

# Clocks differ and Twilio stamps a message when it stores it, not when we asked: the
# search starts this long before our first attempt. Wider finds a slow create; narrower
# risks less adopting an identical message another request sent just before.
RECONCILE_SKEW = timedelta(seconds=60)
# Enough pages for any sane number of messages to one recipient in the window; a search
# that does not end within them cannot rule a message out.
RECONCILE_MAX_PAGES = 5
RECONCILE_PAGE_SIZE = 50


def find_messages(settings: Settings, request: OutboundRequest, since: datetime) -> list[Accepted]:
    """Every message Twilio holds that `request` could have created since `since`, newest first.

    Lists Messages to the recipient (from the sender when the request names one) sent since
    shortly before `since`, and matches on what the request fixes: body, number of media,
    messaging service. Another send of the same text in the window matches too, so which
    one is ours is adoption.py's question. Raises TwilioCallFailed when the search cannot be
    completed, because then nothing is proven either way.
    """
    client, http = get_client(settings)
    start = since - RECONCILE_SKEW
    filters: dict[str, Any] = {"to": request.to, "date_sent_after": start}
    if request.from_number:
        filters["from_"] = request.from_number
    messages = client.api.v2010.accounts(settings.account.account_sid).messages
    found: list[Accepted] = []
    try:
        page = messages.page(page_size=RECONCILE_PAGE_SIZE, **filters)
        for _ in range(RECONCILE_MAX_PAGES):
            found += [
                Accepted(sid=str(i.sid), status=str(i.status or "queued"), account_sid=i.account_sid, adopted=True)
                for i in page
                if _matches(i, request, start)
            ]
            page = page.next_page()
            if page is None:
                log.info("twilio messages found", extra={"matches": len(found)})
                return found
    except TwilioRestException as exc:
        raise rest_failure(exc, http.last_response()) from exc
    except requests.RequestException as exc:
        raise transport_failure(exc) from exc
    except Exception as exc:  # noqa: BLE001 - e.g. the SDK's TwilioException for a page it cannot read
        # Whatever went wrong, the search proved nothing: the doubt stands, never an error
        # that would make the caller send again.
        response = http.last_response()
        status = response.status_code if response is not None else None
        log.warning("twilio search failed", extra={"error_type": type(exc).__name__, "http_status": status})
        raise TwilioCallFailed(
            TwilioUnavailable(f"Twilio's message list could not be read: {type(exc).__name__}"), status, maybe_created=True
        ) from exc
    raise TwilioCallFailed(TwilioUnavailable("Twilio's message list did not end within the pages searched"), None, maybe_created=True)


def _matches(instance: Any, request: OutboundRequest, start: datetime) -> bool:
    created = instance.date_created
    return (
        (instance.direction or "").startswith("outbound")
        and (instance.body or "") == (request.body or "")
        and int(instance.num_media or 0) == len(request.media_urls)
        and (request.messaging_service_sid is None or instance.messaging_service_sid == request.messaging_service_sid)
        and (created is None or created >= start)
    )

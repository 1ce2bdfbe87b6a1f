"""Whether a send's recipient opted out of any of its senders, before Twilio hears of it."""

from __future__ import annotations

import logging

from pynamodb.exceptions import GetError, TransactWriteError

from carrier_core.errors import RecipientOptedOut
from carrier_core.logs import mask_phone
from carrier_core.models import OptOutModel
from carrier_core.storage import storage_error

from chalicelib.request import OutboundRequest
from chalicelib.transaction import Companion, CompanionRefused, failed_conditions, transaction

log = logging.getLogger(__name__)


def opted_out_error(request: OutboundRequest) -> RecipientOptedOut:
    return RecipientOptedOut("the recipient replied STOP to this sender", twilio_code=21610)


def check_opt_out(request: OutboundRequest, companion: Companion | None = None) -> None:
    """Raise RecipientOptedOut when the recipient opted out of any sender of this request.

    One request. Alone: a GetItem for one sender, a BatchGetItem for a number and a
    service. With a companion: one TransactWriteItems of a ConditionCheck per sender and
    the companion's write, which lands only if no opt-out stands; CompanionRefused when
    the companion's own condition failed.
    """
    if companion is not None:
        _check_with(request, companion)
        return
    keys = [(request.to, sender) for sender in request.opt_out_keys]
    try:
        if len(keys) == 1:
            items = [OptOutModel.get(*keys[0], consistent_read=True)]
        else:
            items = list(OptOutModel.batch_get(keys, consistent_read=True))
    except OptOutModel.DoesNotExist:
        return
    except GetError as exc:
        raise storage_error(exc) from exc
    if any(item.opted_out for item in items):
        log.info("recipient opted out", extra={"to": mask_phone(request.to)})
        raise opted_out_error(request)


def _check_with(request: OutboundRequest, companion: Companion) -> None:
    m = OptOutModel
    try:
        with transaction() as tx:
            for sender in request.opt_out_keys:
                # No record, or one that a START turned off: this sender may message them.
                allowed = m.phone.does_not_exist() | (m.opted_out == False)  # noqa: E712  # PynamoDB's condition, not a comparison
                tx.condition_check(OptOutModel, request.to, sender, condition=allowed)
            companion.add_to(tx)  # PynamoDB sends condition checks first, then puts and updates
    except TransactWriteError as exc:
        failed = failed_conditions(exc)
        checks = len(request.senders)
        if failed is not None and any(failed[checks:]):
            raise CompanionRefused() from exc
        if failed is not None and any(failed[:checks]):
            log.info("recipient opted out", extra={"to": mask_phone(request.to)})
            raise opted_out_error(request) from exc
        raise storage_error(exc) from exc
    companion.landed()

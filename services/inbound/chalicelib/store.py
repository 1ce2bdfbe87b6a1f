"""Storing an inbound message: exactly one DynamoDB request, no read before it.

The write lives in carrier_core.inbound, shared with the outbound service's reconciler:
whichever of the webhook and the reconciler comes second is a duplicate.
"""

from __future__ import annotations

from carrier_core.inbound import RECEIVED, RECEIVED_RANK, item_fields, opt_out_items, store_inbound

__all__ = ["RECEIVED", "RECEIVED_RANK", "item_fields", "opt_out_items", "store_inbound"]

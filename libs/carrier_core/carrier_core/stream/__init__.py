"""What every consumer of the tables' streams shares: the record as Lambda delivers it
(records.py), and a batch's outcome with its first failed record, in the shape Lambda's
ReportBatchItemFailures reads (batch.py). The hand-off (carrier_core.handoff) and the
media re-host (carrier_core.media.rehost) are such consumers; the local poller and the
DLQ replay run either through the same protocol.
"""

"""The hand-off to the workflow engine: stream records in, EventBridge events out.

events.py derives the events a stored change means, publish.py puts them on the bus,
consumer.py runs a batch with per-record failures, replay.py hands what the dead-letter
queue holds back to the consumer it failed in. What every stream consumer shares (the
record, the batch's outcome) is carrier_core.stream.
"""

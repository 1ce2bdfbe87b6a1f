"""The hand-off to the workflow engine: stream records in, EventBridge events out.

records.py reads a DynamoDB stream record, events.py derives the events a stored change
means, publish.py puts them on the bus, consumer.py runs a batch with per-record failures,
replay.py publishes what the dead-letter queue holds.
"""

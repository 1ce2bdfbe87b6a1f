"""Message status: the state machine as data (machine.py) and how a report is stored (store.py)."""

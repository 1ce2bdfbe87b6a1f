"""The local inspector: a page of what the local stack did (devstack/inspector/server.py)."""

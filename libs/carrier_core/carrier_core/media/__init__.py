"""Media: sniffing real types, re-hosting inbound items to the media bucket, reading them back.

sniff.py names a type from its first bytes, storage.py is the media bucket (upload,
presigned reads), rehost.py is the stream worker that copies an inbound message's items
from Twilio and finishes them in one conditional update.
"""

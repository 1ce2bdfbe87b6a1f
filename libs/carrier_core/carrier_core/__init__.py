"""Shared core of the Twilio carrier services. Importable without Chalice."""

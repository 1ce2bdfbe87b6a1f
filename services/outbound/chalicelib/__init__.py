"""The outbound service's own logic."""

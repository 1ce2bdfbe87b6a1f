"""The status service's own logic."""

"""omni-twilio: simulate, send, watch, inspect and replay, against the local stack or a stage."""

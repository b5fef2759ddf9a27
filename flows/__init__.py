"""Service flows: YAML state machines read by one small engine (`flows.engine`)."""

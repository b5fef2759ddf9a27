"""The turn log: one row per delivery, written off the hot path (issue 5)."""

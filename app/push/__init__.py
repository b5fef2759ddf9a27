"""Pushes to subscribers (issue 19): campaign audiences, the resumable send job, and its reach."""

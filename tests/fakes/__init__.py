"""Fakes of the outside world that tests run against over real loopback HTTP."""

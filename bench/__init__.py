"""Benchmarks against the test mail stack (``make bench``); not part of the test suite."""

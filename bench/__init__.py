"""Benchmarks that print figures, one JSON object per line; never part of the test run."""

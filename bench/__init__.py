"""Benchmarks: each prints a table and JSON against a baseline measured in the same run."""

"""Benchmarks of the fund ledger on the real servers (``make bench``; figures in docs/benchmarks.md)."""

"""Benchmarks of the ledger (run with `make bench`); not part of the test run."""

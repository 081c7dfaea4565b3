"""Benchmarks of the CSMS: ``python -m benchmarks.gateway`` (see docs/benchmarks.md)."""

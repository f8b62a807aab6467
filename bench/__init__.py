"""Benchmarks and the fault soak (scripts; see docs/performance.md)."""

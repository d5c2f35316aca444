"""Latency and throughput measurement (see README: Benchmarks)."""

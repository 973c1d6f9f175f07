"""Throughput and latency runs (not tests): python -m benchmarks.<name>."""

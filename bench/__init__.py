"""Benchmarks: ingest, query latency, cold start, memory and scale. Each prints a table and writes JSON to
bench/results/."""

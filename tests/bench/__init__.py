"""Benchmarks: scripts that time the pipeline stages (not run by pytest)."""

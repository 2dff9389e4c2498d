"""Benchmarks of dlbuild (not tests): run as ``python -m benchmarks.<name>``."""

"""Benchmarks: synthetic plans from one county to a province, each figure beside its floor. `python -m bench --help`."""

"""Benchmarks run by `make bench` (scripts/bench.sh); results under bench/results/."""

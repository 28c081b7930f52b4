"""Benchmarks: each prints our figure, a raw baseline from the same run, and the ratio."""

"""Benchmarks: speed against torch.nn and flax, and the long-memory results table."""

"""Benchmarks of this package against Transformers' own models: `python -m benchmarks.run` (see README.md here)."""

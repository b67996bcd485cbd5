"""Reverie's benchmarks. Run them all with ``python -m benchmarks`` (``make bench``)."""

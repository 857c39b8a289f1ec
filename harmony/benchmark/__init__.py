"""Benchmark harness, metric protocols, reports, and Bradley-Terry scoring of user studies.

Submodules are imported on use (``harmony.benchmark.bt``, ``harmony.benchmark.userstudy``,
``harmony.benchmark.metrics`` ...), so importing the package itself is cheap.
"""

"""Benchmark runner, metric protocols, reports, and Bradley-Terry scoring of user studies.

Data flows one way: ``metrics`` (the one metric core, pure) -> ``runner`` (runs methods, caches) ->
``rows`` (pure aggregation) -> ``report`` (writes files; imports nothing from the runner). Submodules are
imported on use (``harmony.benchmark.bt``, ``harmony.benchmark.userstudy``, ``harmony.benchmark.metrics``
...), so importing the package itself is cheap.
"""

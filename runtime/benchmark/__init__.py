"""``lpm bench``: the quality and speed benchmark with a report people can look at.

Cases (``cases/*.toml``) × generators (:mod:`.generators`) → metrics (:mod:`.metrics`, defined
in ``docs/metrics.md``) → ``report.json``, ``report.md``, PNG plots and MP4 clips
(:mod:`.report`). :func:`run_benchmark` runs it all.
"""

from runtime.benchmark.runner import BenchOptions, run_benchmark

__all__ = ["BenchOptions", "run_benchmark"]

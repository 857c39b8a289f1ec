"""Map a function over work units: inline, local processes, or a Dask cluster.

A *unit* is small (one source image, one pair, one test image) and carries everything it needs,
including its own seed (see :func:`unit_seed`), so results do not depend on the worker count, the
scheduler or the order in which units finish. Results stream back as they complete; callers that write
tables sort them by unit key so output files are byte-identical however they were computed.

- ``workers=0``: run inline in this process (debugging, profiling).
- ``workers=None``: local processes, one per core.
- ``workers=N``: N local processes (N=1 is one worker process).
- ``scheduler="tcp://HOST:PORT"`` (or a ``dask.distributed.Client``): run on a Dask cluster.

Errors inside a unit never stop the run: each result is a :class:`UnitResult` whose ``error`` holds the
one-line reason (and ``traceback`` the detail) when the unit failed.
"""

from __future__ import annotations

import hashlib
import os
import sys
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np


@dataclass
class UnitResult:
    key: str
    value: Any = None
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def unit_seed(seed: int, key: str) -> int:
    """A 63-bit seed derived from the run seed and a unit key (stable across processes and platforms)."""
    digest = hashlib.sha256(f"{int(seed)}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def unit_rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng(unit_seed(seed, key))


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a Generator, an int seed or None (fresh entropy), as the design's randomness contract says."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class _Call:
    """Picklable wrapper that turns exceptions into UnitResult errors (so one bad item never stops a run)."""

    def __init__(self, fn: Callable[[Any], Any], key_fn: Callable[[Any], str]):
        self.fn = fn
        self.key_fn = key_fn

    def __call__(self, unit: Any) -> UnitResult:
        key = self.key_fn(unit)
        try:
            return UnitResult(key, self.fn(unit))
        except Exception as exc:  # noqa: BLE001 - the whole point is to record any failure
            reason = getattr(exc, "reason", None) or f"{exc.__class__.__name__}: {exc}"
            return UnitResult(key, None, str(reason).splitlines()[0] if str(reason) else exc.__class__.__name__,
                              traceback.format_exc())


def _default_key(unit: Any) -> str:
    key = getattr(unit, "key", None)
    if key is None and isinstance(unit, dict):
        key = unit.get("key")
    return str(key if key is not None else unit)


def _init_worker() -> None:
    # One thread per worker process: the parallelism is across processes, and oversubscribed BLAS or
    # OpenCV thread pools make 2 workers slower than 1 on a 2-core machine.
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass
    try:
        # Only if the parent already imported torch: importing it here would cost seconds per worker.
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
    except Exception:  # pragma: no cover
        pass


def map_units(fn: Callable[[Any], Any], units: Iterable[Any], *, workers: int | None = None,
              scheduler: Any = None, key: Callable[[Any], str] = _default_key, progress: bool = True,
              desc: str = "", total: int | None = None, max_in_flight: int | None = None
              ) -> Iterator[UnitResult]:
    """Apply ``fn`` to every unit; yield :class:`UnitResult` as units complete (in completion order).

    ``fn`` and the units must be picklable for process and Dask execution (module-level functions,
    plain data). A progress bar (tqdm, on stderr) shows progress unless ``progress=False``.
    """
    units = list(units) if total is None and not isinstance(units, Sequence) else units
    if total is None:
        total = len(units)  # type: ignore[arg-type]
    call = _Call(fn, key)
    bar = _progress_bar(total, desc, progress)
    try:
        if scheduler is not None:
            yield from _tick(_map_dask(call, units, scheduler, max_in_flight), bar)
        elif workers == 0:
            yield from _tick((call(u) for u in units), bar)
        else:
            n = workers or default_workers()
            yield from _tick(_map_processes(call, units, n, max_in_flight), bar)
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: it would be inherited badly by forked workers
    return tqdm(total=total, desc=desc or None, unit="item", file=sys.stderr, dynamic_ncols=True,
                disable=None, leave=True)


def _tick(results: Iterator[UnitResult], bar) -> Iterator[UnitResult]:
    for r in results:
        if bar is not None:
            bar.update(1)
        yield r


def _map_processes(call: _Call, units: Iterable[Any], n: int, max_in_flight: int | None
                   ) -> Iterator[UnitResult]:
    import multiprocessing as mp

    limit = max_in_flight or 4 * n
    ctx = mp.get_context("fork") if sys.platform.startswith("linux") else None
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker) as pool:
        pending = set()
        it = iter(units)
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                try:
                    u = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending.add(pool.submit(call, u))
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()


def _map_dask(call: _Call, units: Iterable[Any], scheduler: Any, max_in_flight: int | None
              ) -> Iterator[UnitResult]:
    from dask.distributed import Client, as_completed

    own_client = not hasattr(scheduler, "submit")
    client = Client(scheduler, set_as_default=False) if own_client else scheduler
    try:
        client.run(_init_worker)   # thread caps belong to worker initialisation (importing io sets none)
        n_threads = sum(client.nthreads().values()) or 1
        limit = max_in_flight or 4 * n_threads
        it = iter(units)
        first = []
        for u in it:
            first.append(client.submit(call, u, pure=False))
            if len(first) >= limit:
                break
        # The client is not the default one (set_as_default=False): give as_completed its loop.
        ac = as_completed(first, loop=client.loop)
        for fut in ac:
            result = fut.result()
            fut.release()
            try:
                ac.add(client.submit(call, next(it), pure=False))
            except StopIteration:
                pass
            yield result
    finally:
        if own_client:
            client.close()

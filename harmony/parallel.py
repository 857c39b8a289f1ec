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
one-line reason (and ``traceback`` the detail) when the unit failed. A worker process that dies (SIGKILL,
the out-of-memory killer) is replaced, its running unit retried once, then reported as failed.

Scale: local workers start from a clean interpreter (``forkserver``), so their memory does not grow with
the caller's planning state; units travel in batches (the function goes to each worker once, and is
scattered once on Dask). SIGINT/SIGTERM stop new work and end every worker (:class:`Interrupted`); workers
exit by themselves when the parent dies, even by SIGKILL. Progress is a bar on a terminal and a plain line
every 30 s in a log file (:mod:`harmony.progress`).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import Interrupted  # defined in harmony.errors so that the CLI needs no numpy to import it


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


# --- process lifetime ---------------------------------------------------------------------------------

class stop_on_signals:
    """Context manager: SIGINT/SIGTERM raise :class:`Interrupted` in the main thread while it is active.

    A no-op outside the main thread (Python only delivers signals there). Previous handlers come back on
    exit, so nested use is safe.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._old: dict[int, Any] = {}

    @staticmethod
    def _raise(signum, _frame):
        counter = _ACTIVE[-1] if _ACTIVE else None
        raise Interrupted(signum, counter.done if counter else None, counter.total if counter else None)

    def __enter__(self) -> stop_on_signals:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._raise)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()


@dataclass
class _Counter:
    done: int = 0
    total: int = 0


_ACTIVE: list[_Counter] = []   # the running maps (innermost last), read by the signal handler

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int | None) -> None:
    """Make this worker exit when its parent dies, even by SIGKILL (which no handler can catch).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``. Everywhere: a daemon thread checks once a second that the
    run's parent process is alive (and not a zombie) and ends this process otherwise.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except Exception:  # pragma: no cover - prctl unavailable
            pass
    if parent_pid is None:
        return
    if not _alive(parent_pid):  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if not _alive(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="harmony-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, owned by someone else (pid reused)
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:   # a SIGKILLed parent not yet reaped is a zombie
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return True


def _worker_init(parent_pid: int | None = None) -> None:
    """Initialise one worker process (local pool or Dask worker), once.

    - SIGINT is ignored: a Ctrl-C reaches the whole process group, and the parent decides (it stops new
      work and ends the workers), so a unit is never half-interrupted by the key press.
    - With ``parent_pid``: die with the parent (see :func:`_die_with_parent`).
    - Thread pools capped at one thread (:func:`_init_worker`).
    """
    if parent_pid is not None:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # pragma: no cover - not the main thread
            pass
        _die_with_parent(parent_pid)
    _init_worker()


# --- map ---------------------------------------------------------------------------------------------

def map_units(fn: Callable[[Any], Any], units: Iterable[Any], *, workers: int | None = None,
              scheduler: Any = None, key: Callable[[Any], str] = _default_key, progress: bool = True,
              desc: str = "", total: int | None = None, max_in_flight: int | None = None,
              batch_size: int | None = None) -> Iterator[UnitResult]:
    """Apply ``fn`` to every unit; yield :class:`UnitResult` as units complete (in completion order).

    ``fn`` and the units must be picklable for process and Dask execution (module-level functions,
    plain data). ``fn`` is sent once to each worker (scattered once on Dask); units travel in batches of
    ``batch_size`` (default: small enough that every worker stays busy until the end).

    Local processes start from a clean interpreter (``forkserver`` on Linux, ``spawn`` elsewhere), so a
    worker holds only the units it is given, never a copy of the caller's planning state. A worker that
    dies (SIGKILL, the out-of-memory killer) is replaced; the unit it was running is retried once in a
    fresh worker and reported as failed if that dies too; the run continues.

    SIGINT/SIGTERM during the map stop new work, end the workers (none is left after a few seconds) and
    raise :class:`Interrupted` with the number of units done. Progress (:class:`harmony.progress.Progress`)
    is a bar on a terminal and a plain line every 30 s otherwise, unless ``progress=False``.
    """
    from .progress import Progress

    units = list(units) if total is None and not isinstance(units, Sequence) else units
    if total is None:
        total = len(units)  # type: ignore[arg-type]
    call = _Call(fn, key)
    counter = _Counter(0, total)
    if total == 0:
        return
    n = min(workers or default_workers(), total) if workers != 0 else 0
    with Progress(total, desc or "units", enabled=progress) as bar, stop_on_signals():
        _ACTIVE.append(counter)
        try:
            if scheduler is not None:
                source = _map_dask(call, units, scheduler, max_in_flight, batch_size, total)
            elif n == 0:
                source = (call(u) for u in units)
            else:
                source = _map_processes(call, units, n, max_in_flight, batch_size, total)
            try:
                for r in source:
                    counter.done += 1
                    bar.update(1)
                    yield r
            finally:
                source.close()   # ends the workers now (also when the caller stops early)
        finally:
            _ACTIVE.remove(counter)


def _default_batch(total: int, slots: int, cap: int) -> int:
    # At least 16 batches per worker slot: big enough to amortise the messages (Dask's round trips),
    # small enough that the last batches do not leave workers idle at the end.
    return max(1, min(cap, total // max(1, 16 * slots)))


def _mp_context():
    import multiprocessing as mp

    if sys.platform.startswith("linux"):
        ctx = mp.get_context("forkserver")
        # Workers fork from a small server that imported only this module (numpy), never from the caller,
        # so none inherits the caller's memory (annotations, plans).
        ctx.set_forkserver_preload(["harmony.parallel"])
        return ctx
    return mp.get_context("spawn")  # pragma: no cover - macOS/Windows


def _process_main(call: _Call, tasks, results, parent_pid: int) -> None:
    """A local worker: run the batches from ``tasks`` in order, send one result per unit to ``results``."""
    _worker_init(parent_pid)
    while True:
        batch = tasks.get()
        if batch is None:
            break
        for unit in batch:
            r = call(unit)
            try:
                results.send(r)
            except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable return value
                results.send(UnitResult(r.key, None, f"result could not be sent back ({exc.__class__.__name__}: "
                                        f"{exc})".splitlines()[0]))
    results.close()


@dataclass
class _Slot:
    proc: Any
    tasks: Any
    results: Any
    outstanding: deque = field(default_factory=deque)   # (unit, attempt), in the order the worker runs them


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory, or killed)" if -exitcode == signal.SIGKILL else ""
        return f"worker process killed by {name}{hint}"
    return f"worker process exited with code {exitcode}"


def _map_processes(call: _Call, units: Iterable[Any], n: int, max_in_flight: int | None,
                   batch_size: int | None, total: int) -> Iterator[UnitResult]:
    from multiprocessing.connection import wait as mp_wait

    ctx = _mp_context()
    bs = batch_size or _default_batch(total, n, 4)
    # One batch running and one queued per worker: enough to hide the round trip, little enough that no
    # worker still holds a queue of units while the others have finished.
    per_worker = max(bs, (max_in_flight or 2 * n * bs) // n)
    parent = os.getpid()
    it = iter(units)
    retry: deque = deque()          # (unit, attempt) to run alone in a fresh batch
    exhausted = False
    slots: list[_Slot] = []

    def start() -> _Slot:
        r, w = ctx.Pipe(duplex=False)
        q = ctx.Queue()
        p = ctx.Process(target=_process_main, args=(call, q, w, parent), daemon=True, name="harmony-worker")
        p.start()
        w.close()
        return _Slot(p, q, r)

    def feed(slot: _Slot) -> None:
        nonlocal exhausted
        while len(slot.outstanding) < per_worker:
            if retry:
                batch = [retry.popleft()]
            else:
                batch = []
                while not exhausted and len(batch) < bs:
                    try:
                        batch.append((next(it), 0))
                    except StopIteration:
                        exhausted = True
                if not batch:
                    return
            slot.tasks.put([u for u, _a in batch])
            slot.outstanding.extend(batch)

    def stop(slot: _Slot, hard: bool) -> None:
        if hard and slot.proc.is_alive():
            slot.proc.terminate()
        slot.tasks.cancel_join_thread()
        slot.tasks.close()

    try:
        slots = [start() for _ in range(n)]
        while True:
            for s in slots:
                feed(s)
            busy = [s for s in slots if s.outstanding]
            if not busy:
                break
            ready = set(mp_wait([s.results for s in busy] + [s.proc.sentinel for s in busy]))
            for s in list(busy):
                dead = s.proc.sentinel in ready
                if s.results in ready or dead:
                    try:
                        while s.outstanding and s.results.poll():
                            r = s.results.recv()
                            s.outstanding.popleft()
                            yield r
                    except (EOFError, OSError):
                        dead = True
                if not dead:
                    continue
                s.proc.join(1.0)
                if s.proc.is_alive():   # the pipe broke but the process lingers: end it
                    s.proc.kill()
                    s.proc.join(1.0)
                reason = _death_reason(s.proc.exitcode)
                stop(s, hard=False)
                s.results.close()
                lost = list(s.outstanding)
                slots.remove(s)
                if lost:
                    # The first outstanding unit was running; the others had not started (no blame).
                    (unit, attempt), rest = lost[0], lost[1:]
                    if attempt == 0:
                        retry.appendleft((unit, 1))
                    else:
                        yield UnitResult(call.key_fn(unit), None, f"{reason} twice while running this unit "
                                         "(retried once); skipped")
                    retry.extendleft(reversed(rest))
                if lost or retry or not exhausted:
                    slots.append(start())
        for s in slots:   # orderly end: no more work
            s.tasks.put(None)
        deadline = time.monotonic() + 5.0
        for s in slots:
            s.proc.join(max(0.0, deadline - time.monotonic()))
    finally:
        _end_processes(slots)


def _end_processes(slots: list) -> None:
    """SIGTERM every live worker, wait up to 2 s, SIGKILL what is left, reap all (no zombie, no orphan)."""
    for s in slots:
        if s.proc.is_alive():
            s.proc.terminate()
    deadline = time.monotonic() + 2.0
    for s in slots:
        s.proc.join(max(0.0, deadline - time.monotonic()))
    for s in slots:
        if s.proc.is_alive():
            s.proc.kill()
            s.proc.join(1.0)
        try:
            s.tasks.cancel_join_thread()
            s.tasks.close()
            s.results.close()
        except Exception:  # pragma: no cover
            pass


# --- Dask ----------------------------------------------------------------------------------------------

_DASK_INITIALISED = False


def _restore_malloc_thresholds() -> None:
    """Undo the effect of ``MALLOC_TRIM_THRESHOLD_`` that Dask's nanny sets for its workers.

    Setting that variable turns off glibc's adaptive mmap threshold, so every image-sized array (a few MB)
    is a fresh ``mmap`` whose pages are faulted in and zeroed again: measured here, a unit costs about 3x
    the CPU in a ``dask worker`` than in a local process. Fixed thresholds at glibc's own adaptive
    maximum (32 MB mmap, 64 MB trim) give the local figure back.
    """
    if not sys.platform.startswith("linux") or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 32 << 20)   # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)   # M_TRIM_THRESHOLD
    except Exception:  # pragma: no cover - not glibc
        pass


def _dask_batch(call: _Call, batch: list) -> list[UnitResult]:
    """Run one batch on a Dask worker (the worker process is initialised once, as local workers are)."""
    global _DASK_INITIALISED
    if not _DASK_INITIALISED:
        _worker_init(None)
        _restore_malloc_thresholds()
        _DASK_INITIALISED = True
    return [call(u) for u in batch]


def _map_dask(call: _Call, units: Iterable[Any], scheduler: Any, max_in_flight: int | None,
              batch_size: int | None, total: int) -> Iterator[UnitResult]:
    from dask.distributed import Client, as_completed

    own_client = not hasattr(scheduler, "submit")
    client = Client(scheduler, set_as_default=False) if own_client else scheduler
    futures = []
    try:
        client.run(_init_worker)   # thread caps belong to worker initialisation (importing io sets none)
        n_threads = sum(client.nthreads().values()) or 1
        bs = batch_size or _default_batch(total, n_threads, 16)
        limit = max(1, (max_in_flight or 2 * n_threads * bs) // bs)   # batches in flight
        # The function (with whatever read-only data it closes over) goes to the workers once.
        [call_future] = client.scatter([call], broadcast=True, hash=False)
        it = iter(units)

        def next_batch() -> list | None:
            batch = list(itertools.islice(it, bs))
            return batch or None

        batches: dict[str, list] = {}

        def submit(batch: list):
            fut = client.submit(_dask_batch, call_future, batch, pure=False)
            batches[fut.key] = batch
            futures.append(fut)
            return fut

        first = []
        while len(first) < limit:
            b = next_batch()
            if b is None:
                break
            first.append(submit(b))
        # The client is not the default one (set_as_default=False): give as_completed its loop.
        ac = as_completed(first, loop=client.loop)
        for fut in ac:
            batch = batches.pop(fut.key)
            try:
                results = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after Dask's own retries
                msg = f"Dask task failed ({exc.__class__.__name__}: {exc})".splitlines()[0]
                results = [UnitResult(call.key_fn(u), None, msg) for u in batch]
            fut.release()
            b = next_batch()
            if b is not None:
                ac.add(submit(b))
            yield from results
    finally:
        for f in futures:
            if not f.done():
                f.cancel()
        if own_client:
            client.close()

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
    """The outcome of one unit: its value, or the one-line reason it failed.

    Parameters
    ----------
    key : str
        The unit's key (what ``key(unit)`` returned), which callers sort results by.
    value : object
        What the mapped function returned (None when the unit failed).
    error : str or None
        One line saying why the unit failed (an :class:`~harmony.errors.ItemError`'s ``reason``, or
        ``ExceptionName: message``); None on success.
    traceback : str or None
        The formatted traceback of the failure, for logs.
    """

    key: str
    value: Any = None
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        """True when the unit succeeded (``error`` is None)."""
        return self.error is None


def unit_seed(seed: int, key: str) -> int:
    """A 63-bit seed derived from the run seed and a unit key (stable across processes and platforms).

    The first 8 bytes of ``sha256("<seed>:<key>")``, little-endian, shifted right by one bit. A unit's
    random draws then depend on the run seed and its own key alone, never on the worker that runs it or
    the order units finish in, so outputs are byte-identical for any worker count.

    Parameters
    ----------
    seed : int
        The run seed (``--seed``).
    key : str
        The unit's key (e.g. ``HCOCO/c100300``).

    Returns
    -------
    int
        A seed in ``[0, 2**63)``.

    Examples
    --------
    >>> unit_seed(0, "a") == unit_seed(0, "a") != unit_seed(1, "a")
    True
    """
    digest = hashlib.sha256(f"{int(seed)}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def unit_rng(seed: int, key: str) -> np.random.Generator:
    """A NumPy generator seeded with :func:`unit_seed` (``np.random.default_rng``, PCG64).

    Parameters
    ----------
    seed : int
        The run seed.
    key : str
        The unit's key.

    Returns
    -------
    numpy.random.Generator
        The same stream for the same (seed, key) in any process.
    """
    return np.random.default_rng(unit_seed(seed, key))


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A NumPy generator from a Generator (returned as is), an int seed, or None (fresh OS entropy).

    Every function of the library that draws random numbers takes ``rng`` in one of these forms.

    Parameters
    ----------
    rng : numpy.random.Generator or int or None
        The generator, a seed for ``np.random.default_rng``, or None.

    Returns
    -------
    numpy.random.Generator
        ``rng`` itself when it is a Generator, otherwise a new one.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def default_workers() -> int:
    """The number of local worker processes when none is given: the CPU cores this process may use.

    Returns
    -------
    int
        ``len(os.sched_getaffinity(0))`` (honours ``taskset`` and batch-scheduler CPU sets), or
        ``os.cpu_count()`` where affinity is not available; at least 1.
    """
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
            for signum in self.SIGNALS:
                self._old[signum] = signal.signal(signum, self._raise)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._old.items():
            signal.signal(signum, handler)
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
    if not process_alive(parent_pid):  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if not process_alive(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="harmony-parent-watch", daemon=True).start()


def process_alive(pid: int) -> bool:
    """True when process ``pid`` exists and is not a zombie (a killed process its parent has not reaped).

    ``os.kill(pid, 0)`` says whether the process exists; on Linux ``/proc/<pid>/stat`` then tells a
    zombie (state ``Z``) from a running process. Workers use it to notice their parent's death; tests
    and benchmarks use it to check that no process of a run is left.

    Parameters
    ----------
    pid : int
        Process id.

    Returns
    -------
    bool
        False for a process that is gone, a zombie, or owned by another user (a reused pid).
    """
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

    Parameters
    ----------
    fn : callable
        ``fn(unit) -> value``, run once per unit. Any exception becomes that unit's ``error``.
    units : iterable
        The work units (consumed lazily by local processes and Dask; a non-sequence is listed first
        unless ``total`` is given).
    workers : int or None
        0: inline in this process; None: one process per core (:func:`default_workers`); N: N processes
        (never more than there are units).
    scheduler : str or dask.distributed.Client or None
        ``tcp://HOST:PORT`` of a Dask scheduler (or a client): run there instead of local processes.
    key : callable
        ``key(unit) -> str``: the unit's key (default: its ``key`` attribute or item, else ``str(unit)``).
    progress : bool
        Show progress on stderr.
    desc : str
        Label of the progress bar/lines (``units`` when empty).
    total : int or None
        Number of units, when ``units`` is a generator that should not be listed up front.
    max_in_flight : int or None
        Units queued on the workers at once (default: two batches per worker).
    batch_size : int or None
        Units per message to a worker (default: at least 16 batches per worker, at most 4 units locally
        and 16 on Dask).

    Returns
    -------
    iterator of UnitResult
        One per unit, yielded in completion order (sort by ``key`` for deterministic output).

    Raises
    ------
    Interrupted
        SIGINT or SIGTERM arrived during the map (after every worker has ended).

    References
    ----------
    .. [1] Dask distributed, ``Client.scatter`` / ``as_completed``: https://distributed.dask.org

    Examples
    --------
    >>> results = map_units(abs, [-2, 3, -5], workers=0, progress=False, key=str)
    >>> sorted((r.key, r.value) for r in results)
    [('-2', 2), ('-5', 5), ('3', 3)]
    """
    from .progress import Progress

    units = list(units) if total is None and not isinstance(units, Sequence) else units
    if total is None:
        total = len(units)  # type: ignore[arg-type]
    call = _Call(fn, key)
    counter = _Counter(0, total)
    if total == 0:
        return
    processes = min(workers or default_workers(), total) if workers != 0 else 0
    with Progress(total, desc or "units", enabled=progress) as bar, stop_on_signals():
        _ACTIVE.append(counter)
        try:
            if scheduler is not None:
                source = _map_dask(call, units, scheduler, max_in_flight, batch_size, total)
            elif processes == 0:
                source = (call(unit) for unit in units)
            else:
                source = _map_processes(call, units, processes, max_in_flight, batch_size, total)
            try:
                for result in source:
                    counter.done += 1
                    bar.update(1)
                    yield result
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
            result = call(unit)
            try:
                results.send(result)
            except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable return value
                results.send(UnitResult(result.key, None, f"result could not be sent back ({exc.__class__.__name__}: "
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


class _LocalPool:
    """The local worker processes of one :func:`map_units` call, and the units they hold.

    Each worker has a task queue (batches of units) and a result pipe (one :class:`UnitResult` per unit,
    in the order it runs them). The pool keeps ``per_worker`` units queued on each worker, reads results
    as they arrive, and replaces a worker that dies: its running unit is retried once (alone, in a fresh
    batch), the units queued behind it are re-queued without blame.
    """

    def __init__(self, call: _Call, units: Iterable[Any], workers: int, max_in_flight: int | None,
                 batch_size: int | None, total: int):
        self.call = call
        self.context = _mp_context()
        self.batch_size = batch_size or _default_batch(total, workers, 4)
        # One batch running and one queued per worker: enough to hide the round trip, little enough that
        # no worker still holds a queue of units while the others have finished.
        self.per_worker = max(self.batch_size, (max_in_flight or 2 * workers * self.batch_size) // workers)
        self.parent_pid = os.getpid()
        self.units = iter(units)
        self.retry: deque = deque()     # (unit, attempt) to run alone in a fresh batch
        self.exhausted = False
        self.slots: list[_Slot] = []

    def start_worker(self) -> None:
        """Start one worker process with its own task queue and result pipe."""
        receiver, sender = self.context.Pipe(duplex=False)
        tasks = self.context.Queue()
        process = self.context.Process(target=_process_main, args=(self.call, tasks, sender, self.parent_pid),
                                       daemon=True, name="harmony-worker")
        process.start()
        sender.close()
        self.slots.append(_Slot(process, tasks, receiver))

    def _next_batch(self) -> list:
        """A retried unit alone, else up to ``batch_size`` new units (empty when none is left)."""
        if self.retry:
            return [self.retry.popleft()]
        batch = []
        while not self.exhausted and len(batch) < self.batch_size:
            try:
                batch.append((next(self.units), 0))
            except StopIteration:
                self.exhausted = True
        return batch

    def feed(self) -> None:
        """Queue batches on every worker until each holds ``per_worker`` units (or no unit is left)."""
        for slot in self.slots:
            while len(slot.outstanding) < self.per_worker:
                batch = self._next_batch()
                if not batch:
                    break
                slot.tasks.put([unit for unit, _attempt in batch])
                slot.outstanding.extend(batch)

    def wait(self) -> tuple[list[_Slot], set]:
        """The workers holding units, and which of their pipes and process sentinels are ready."""
        from multiprocessing.connection import wait as mp_wait

        busy = [slot for slot in self.slots if slot.outstanding]
        if not busy:
            return busy, set()
        return busy, set(mp_wait([slot.results for slot in busy] + [slot.proc.sentinel for slot in busy]))

    def collect(self, slot: _Slot, ready: set) -> Iterator[UnitResult]:
        """Yield the results a worker has sent; replace the worker when it died."""
        dead = slot.proc.sentinel in ready
        if slot.results in ready or dead:
            try:
                while slot.outstanding and slot.results.poll():
                    result = slot.results.recv()
                    slot.outstanding.popleft()
                    yield result
            except (EOFError, OSError):
                dead = True
        if dead:
            yield from self._replace_dead(slot)

    def _replace_dead(self, slot: _Slot) -> Iterator[UnitResult]:
        """Reap a dead worker, re-queue its units (the running one is retried once), start a new one."""
        slot.proc.join(1.0)
        if slot.proc.is_alive():   # the pipe broke but the process lingers: end it
            slot.proc.kill()
            slot.proc.join(1.0)
        reason = _death_reason(slot.proc.exitcode)
        slot.tasks.cancel_join_thread()
        slot.tasks.close()
        slot.results.close()
        lost = list(slot.outstanding)
        self.slots.remove(slot)
        if lost:
            # The first outstanding unit was running; the others had not started (no blame).
            (unit, attempt), rest = lost[0], lost[1:]
            if attempt == 0:
                self.retry.appendleft((unit, 1))
            else:
                yield UnitResult(self.call.key_fn(unit), None, f"{reason} twice while running this unit "
                                 "(retried once); skipped")
            self.retry.extendleft(reversed(rest))
        if lost or self.retry or not self.exhausted:
            self.start_worker()

    def finish(self) -> None:
        """Orderly end once no work is left: tell every worker to stop, wait up to 5 s for them."""
        for slot in self.slots:
            slot.tasks.put(None)
        deadline = time.monotonic() + 5.0
        for slot in self.slots:
            slot.proc.join(max(0.0, deadline - time.monotonic()))


def _map_processes(call: _Call, units: Iterable[Any], workers: int, max_in_flight: int | None,
                   batch_size: int | None, total: int) -> Iterator[UnitResult]:
    """Run ``call`` over ``units`` on ``workers`` local processes; yield results as they complete.

    Whatever ends the map (the last result, an error, :class:`Interrupted`, the caller closing the
    generator), :func:`_end_processes` ends every worker before control returns.
    """
    pool = _LocalPool(call, units, workers, max_in_flight, batch_size, total)
    try:
        for _ in range(workers):
            pool.start_worker()
        while True:
            pool.feed()
            busy, ready = pool.wait()
            if not busy:
                break
            for slot in busy:
                yield from pool.collect(slot, ready)
        pool.finish()
    finally:
        _end_processes(pool.slots)


def _end_processes(slots: list) -> None:
    """SIGTERM every live worker, wait up to 2 s, SIGKILL what is left, reap all (no zombie, no orphan)."""
    for slot in slots:
        if slot.proc.is_alive():
            slot.proc.terminate()
    deadline = time.monotonic() + 2.0
    for slot in slots:
        slot.proc.join(max(0.0, deadline - time.monotonic()))
    for slot in slots:
        if slot.proc.is_alive():
            slot.proc.kill()
            slot.proc.join(1.0)
        try:
            slot.tasks.cancel_join_thread()
            slot.tasks.close()
            slot.results.close()
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
    return [call(unit) for unit in batch]


def _map_dask(call: _Call, units: Iterable[Any], scheduler: Any, max_in_flight: int | None,
              batch_size: int | None, total: int) -> Iterator[UnitResult]:
    from dask.distributed import Client, as_completed

    own_client = not hasattr(scheduler, "submit")
    client = Client(scheduler, set_as_default=False) if own_client else scheduler
    futures = []
    try:
        client.run(_init_worker)   # thread caps belong to worker initialisation (importing io sets none)
        n_threads = sum(client.nthreads().values()) or 1
        per_batch = batch_size or _default_batch(total, n_threads, 16)
        limit = max(1, (max_in_flight or 2 * n_threads * per_batch) // per_batch)   # batches in flight
        # The function (with whatever read-only data it closes over) goes to the workers once.
        [call_future] = client.scatter([call], broadcast=True, hash=False)
        remaining = iter(units)

        def next_batch() -> list | None:
            batch = list(itertools.islice(remaining, per_batch))
            return batch or None

        batches: dict[str, list] = {}

        def submit(batch: list):
            future = client.submit(_dask_batch, call_future, batch, pure=False)
            batches[future.key] = batch
            futures.append(future)
            return future

        first = []
        while len(first) < limit:
            batch = next_batch()
            if batch is None:
                break
            first.append(submit(batch))
        # The client is not the default one (set_as_default=False): give as_completed its loop.
        completed = as_completed(first, loop=client.loop)
        for future in completed:
            batch = batches.pop(future.key)
            try:
                results = future.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after Dask's own retries
                message = f"Dask task failed ({exc.__class__.__name__}: {exc})".splitlines()[0]
                results = [UnitResult(call.key_fn(unit), None, message) for unit in batch]
            future.release()
            batch = next_batch()
            if batch is not None:
                completed.add(submit(batch))
            yield from results
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
        if own_client:
            client.close()

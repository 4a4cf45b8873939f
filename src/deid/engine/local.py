"""The engines of one machine: this process alone, or a pool of worker processes."""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib.machinery
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from deid.engine import DIED, Engine, Job, Outcome, Pool, Raised, Runner, one_line
from deid.errors import DeidError

# Items queued per worker beyond the one it is on. A queued item is only a path (the
# worker reads and decodes it), so a deep queue costs no memory and keeps workers busy
# when items take milliseconds each; it stays bounded, whatever the number of items.
ITEMS_IN_FLIGHT_PER_WORKER = 16

# Where a container's CPU limit is written: cgroup v2 ("QUOTA PERIOD" or "max PERIOD"),
# and cgroup v1 (quota, -1 for none, and period, in two files).
CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_CPU_QUOTA = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def usable_cores() -> int:
    """The cores this process may run on, which is what ``workers = 0`` means: its CPU
    affinity (a cluster job or container given some of a node's cores) and its
    container's CPU quota, not every core of the machine; a 128-core node running a job
    allowed 2 would otherwise start 128 workers, each loading its own models."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this system (macOS, Windows)
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    return max(1, min(cores, quota) if quota else cores)


def cgroup_cpu_limit() -> int | None:
    """Cores allowed by the container's CPU quota, rounded up; None when there is none or
    it cannot be read."""
    try:
        quota, period = CGROUP_V2_CPU_MAX.read_text().split()
    except (OSError, ValueError):
        try:
            quota, period = (path.read_text().strip() for path in CGROUP_V1_CPU_QUOTA)
        except (OSError, ValueError):
            return None
    return cores_from_quota(quota, period)


def cores_from_quota(quota: str, period: str) -> int | None:
    """Cores a CFS quota of ``quota`` microseconds every ``period`` allows, rounded up so
    that no part of the quota goes unused; None for no quota ("max", -1) or an unreadable
    one."""
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return -(-quota_us // period_us)


class InProcess(Engine):
    """Every item in this process, one after the other."""

    def __init__(self, workers: int = 1, device: str = "auto", address: str = "") -> None:
        self.size = 1

    def pool(self, job: Job[Any, Any], size: int) -> Pool:
        return _InProcessPool(job)


class _InProcessPool(Pool):
    def __init__(self, job: Job[Any, Any]) -> None:
        self._runner = job.start()
        self._done: list[tuple[list[Any], Outcome]] = []

    def runtime(self) -> dict[str, Any]:
        return self._runner.runtime()

    def has_room(self) -> bool:
        return not self._done

    def busy(self) -> bool:
        return bool(self._done)

    def submit(self, task: list[Any]) -> None:
        self._done.append((task, run_task(self._runner, task)))

    def wait(self) -> list[tuple[list[Any], Outcome]]:
        done, self._done = self._done, []
        return done

    def __exit__(self, exc_type: object, *_: object) -> None:
        pass


def run_task(runner: Runner[Any, Any], task: list[Any]) -> Outcome:
    """A task's items through the runner; a runner that raises fails its item, not the run."""
    return [_run_item(runner, item) for item in task]


def _run_item(runner: Runner[Any, Any], item: Any) -> Any:
    try:
        return runner(item)
    except Exception as exc:  # reported as the item's failure by the driver
        return Raised(f"internal error: {one_line(exc)}")


class LocalProcesses(Engine):
    """A pool of worker processes on this machine: ``workers`` of them, 0 meaning one per
    usable core."""

    def __init__(self, workers: int = 0, device: str = "auto", address: str = "") -> None:
        self.size = workers or usable_cores()

    def pool(self, job: Job[Any, Any], size: int) -> Pool:
        return _ProcessPool(job, size)


class _ProcessPool(Pool):
    def __init__(self, job: Job[Any, Any], size: int) -> None:
        self._job, self._size = job, size
        self._room = size * ITEMS_IN_FLIGHT_PER_WORKER
        self._in_flight: dict[concurrent.futures.Future[Outcome], list[Any]] = {}
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(caller_script_not_reimported())
        self._executor = self._start()

    def _start(self) -> concurrent.futures.ProcessPoolExecutor:
        # "spawn": a worker must not inherit a parent's half-initialised model runtime.
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self._size, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(self._job,),
        )

    def runtime(self) -> dict[str, Any]:
        try:
            return self._executor.submit(_worker_runtime).result()
        except BrokenProcessPool:
            raise DeidError(
                "a worker process died while loading the models; rerun with --workers 1 to see why"
            ) from None

    def has_room(self) -> bool:
        return sum(map(len, self._in_flight.values())) < self._room

    def busy(self) -> bool:
        return bool(self._in_flight)

    def submit(self, task: list[Any]) -> None:
        try:
            future = self._executor.submit(_worker_task, task)
        except BrokenProcessPool:  # broken since the last wait: a fresh pool takes over
            self._restart()
            future = self._executor.submit(_worker_task, task)
        self._in_flight[future] = task

    def wait(self) -> list[tuple[list[Any], Outcome]]:
        done, _ = concurrent.futures.wait(self._in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
        finished: list[tuple[list[Any], Outcome]] = []
        broken = False
        for future in done:
            task = self._in_flight.pop(future)
            try:
                finished.append((task, future.result()))
            except BrokenProcessPool:
                broken = True
                finished.append((task, DIED))
        if broken:
            # Every worker of a broken pool is gone, with every task it held.
            finished += [(task, DIED) for task in self._in_flight.values()]
            self._in_flight.clear()
            self._restart()
        return finished

    def _restart(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = self._start()

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is not None:
                # Interrupted or failed: stop the workers now rather than let them finish
                # their items. Outputs are written whole or not at all: this loses nothing.
                for process in list((getattr(self._executor, "_processes", None) or {}).values()):
                    process.terminate()
            self._executor.shutdown(wait=True, cancel_futures=True)
        finally:
            self._stack.close()


@contextlib.contextmanager
def caller_script_not_reimported() -> Iterator[None]:
    """While worker processes run, keep them from running the caller's script again.

    A spawned worker normally re-imports the script that started the parent, so a script
    calling ``deid.run(...)`` at its top level (as the README's example does) would run it
    again in every worker, which Python refuses while the worker starts. Worker code lives
    in deid's own modules and needs nothing from the script, so the script is announced
    to the workers as a ``__main__`` module, which multiprocessing never re-imports."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None or not getattr(main, "__file__", None):
        yield
        return
    main.__spec__ = importlib.machinery.ModuleSpec("deid.__main__", None)
    try:
        yield
    finally:
        main.__spec__ = None


def quiet_worker() -> None:
    """What every worker process does first.

    Ctrl-C reaches every process of the terminal's group; the main process alone decides
    what an interrupt means (it stops the workers). Native model runtimes log start-up
    notices straight to file descriptor 2 from their own threads; a worker reports only
    through its return values, so its stderr is closed off to keep the user's terminal to
    deid's own output."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


_RUNNER: Runner[Any, Any] | None = None
_START_ERROR: Exception | None = None


def _start_worker(job: Job[Any, Any]) -> None:
    global _RUNNER, _START_ERROR
    quiet_worker()
    try:
        _RUNNER = job.start()
    except Exception as exc:  # reported by _worker_runtime, or with each task
        _START_ERROR = exc


def _worker_task(task: list[Any]) -> Outcome:
    if _RUNNER is None:
        return Raised(f"the models could not be loaded: {_START_ERROR}")
    return run_task(_RUNNER, task)


def _worker_runtime() -> dict[str, Any]:
    if _RUNNER is None:
        if isinstance(_START_ERROR, DeidError):
            raise _START_ERROR
        raise DeidError(f"the models could not be loaded: {_START_ERROR}")
    return _RUNNER.runtime()

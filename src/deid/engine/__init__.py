"""Runs one job over many items, in this process, in worker processes or on Ray actors,
with one rule for every way of running it.

A ``Job`` is picklable plain data: each worker builds its own ``Runner`` from it once (the
models load there) and hands every item it is given to it. ``run``, ``verify`` and
``eval`` (through ``run``) are jobs; the engines only move items and results.

The rule, the same for every engine: items go out a few at a time with a bounded number in
flight, so that memory does not grow with the number of items. A worker that dies (killed
for lack of memory, a crash in native code, a lost node) takes no item with it: the items
it may have held are tried again one at a time on a worker of their own, and only an item
that kills that worker too is reported, as the job's own failure record (``Job.failed``).
An item whose runner raises is reported the same way, with the error. An interrupt
(Ctrl-C, SIGTERM turned into one by the CLI) stops every worker at once; jobs write their
outputs whole or not at all, so nothing partial is left.

A new engine is one module with an ``Engine`` subclass plus one line in ``ENGINES``.
"""

from __future__ import annotations

import contextlib
import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, Callable, ClassVar, Generic, Protocol, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

WORKER_DIED = (
    "the worker process died while processing it (a crash, or killed for lack of memory); "
    "nothing was written for it"
)


class Runner(Protocol[Item, Result]):
    """A job's per-process state: built once in each worker."""

    def __call__(self, item: Item) -> Result: ...

    def runtime(self) -> dict[str, Any]:
        """What runs (models, devices), for the report."""
        ...


class Job(ABC, Generic[Item, Result]):
    """What an engine runs. Subclasses are picklable: they travel to every worker."""

    # Items handed to a worker at once: several when each takes milliseconds (the hand-off
    # would dominate), one when each takes seconds (the work spreads evenly).
    items_per_task: ClassVar[int] = 1

    @abstractmethod
    def start(self) -> Runner[Item, Result]:
        """Build this process's runner (load the models). Raises DeidError when it cannot."""

    @abstractmethod
    def failed(self, item: Item, reason: str) -> Result:
        """The result of an item the engine could not run to its end."""


class Died:
    """The outcome of a task whose worker died."""


DIED = Died()


class Raised:
    """The outcome of a task whose runner raised or could not start: ``message`` says what,
    as the items' failure reason."""

    def __init__(self, message: str) -> None:
        self.message = message


# A task's outcome: per item its result (Raised when the runner raised on it), or one
# Died or Raised for the whole task.
Outcome = list[Any] | Died | Raised
OnResult = Callable[[Any], None]


class Pool(ABC):
    """Workers of one engine, taking tasks (lists of items). After a worker dies, the pool
    goes on with fresh ones."""

    @abstractmethod
    def runtime(self) -> dict[str, Any]:
        """The runner's runtime, from one worker (raises DeidError when none can start)."""

    @abstractmethod
    def has_room(self) -> bool: ...

    @abstractmethod
    def busy(self) -> bool: ...

    @abstractmethod
    def submit(self, task: list[Any]) -> None: ...

    @abstractmethod
    def wait(self) -> list[tuple[list[Any], Outcome]]:
        """Block until at least one task is finished; those finished, with their outcome."""

    def __enter__(self) -> Pool:
        return self

    @abstractmethod
    def __exit__(self, exc_type: object, *_: object) -> None:
        """Stop the workers: at once when leaving on an exception (an interrupt)."""


class Engine(ABC):
    """A way of running workers. ``size`` is the number of workers of its main pool."""

    size: int

    def session(self) -> contextlib.AbstractContextManager[None]:
        """Around everything one job run needs (a cluster connection)."""
        return contextlib.nullcontext()

    @abstractmethod
    def pool(self, job: Job[Any, Any], size: int) -> Pool: ...


def run_job(job: Job[Item, Result], items: Iterable[Item], on_result: OnResult, engine: Engine) -> dict[str, Any]:
    """Run ``job`` over ``items`` (read as they are needed: a generator streams) and pass
    each result to ``on_result`` as it comes, in no set order; returns the runner's runtime."""
    tasks = _tasks(iter(items), job.items_per_task)
    suspects: list[Item] = []
    with engine.session():
        with engine.pool(job, engine.size) as pool:
            runtime = pool.runtime()
            task = next(tasks, None)
            while task is not None or pool.busy():
                while task is not None and pool.has_room():
                    pool.submit(task)
                    task = next(tasks, None)
                for done, outcome in pool.wait():
                    suspects += _deliver(job, done, outcome, on_result)
        # One at a time on a worker of its own, after the main pool is gone (so that it
        # finds a free core): when that worker dies, the item it held is the one that
        # killed it; the pool starts a fresh worker for the next.
        if suspects:
            with engine.pool(job, 1) as pool:
                for item in suspects:
                    pool.submit([item])
                    for done, outcome in pool.wait():
                        if isinstance(outcome, Died):
                            on_result(job.failed(item, WORKER_DIED))
                        else:
                            _deliver(job, done, outcome, on_result)
    return runtime


def _deliver(job: Job[Any, Any], task: list[Any], outcome: Outcome, on_result: OnResult) -> list[Any]:
    """Pass a finished task's results on; returns its items when its worker died."""
    if isinstance(outcome, Died):
        return task
    if isinstance(outcome, Raised):
        for item in task:
            on_result(job.failed(item, outcome.message))
        return []
    for item, result in zip(task, outcome):
        on_result(job.failed(item, result.message) if isinstance(result, Raised) else result)
    return []


def _tasks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while True:
        task = [item for _, item in zip(range(size), items)]
        if not task:
            return
        yield task


def one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[-300:]


# name -> "module:class"; each class is constructed as cls(workers, device, address):
# workers 0 meaning one per core (of this machine, or of the cluster), ``device`` the
# config's, ``address`` the cluster's.
ENGINES: dict[str, str] = {
    # Worker processes on this machine.
    "local": "deid.engine.local:LocalProcesses",
    # This process alone: what --workers 1 means, the simplest to debug (a crash in native
    # code then ends the run).
    "in-process": "deid.engine.local:InProcess",
    # Actors on a Ray cluster (deid[ray]).
    "ray": "deid.engine.ray_actors:RayActors",
}


def build_engine(name: str, workers: int = 0, device: str = "auto", address: str = "") -> Engine:
    module_name, _, class_name = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)(workers, device, address)


def engine_name(engine: str, workers: int) -> str:
    """The engine a run's settings choose: --workers 1 on this machine runs in this process.
    Otherwise items go to worker processes even on one core, so that a crash in native
    code fails only its own item."""
    return "in-process" if engine == "local" and workers == 1 else engine

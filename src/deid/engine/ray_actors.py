"""The Ray engine: a pool of actors on a Ray cluster, each running the job's runner.

The driver (the process that called the library) keeps the journal and writes the report;
actors only read and write files, which every node must see at the same path (a shared
filesystem). Tasks go out a few per actor; an actor that dies (its node lost, a crash in
native code, the out-of-memory killer) is replaced, and what it held follows the engines'
one retry rule (deid.engine).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

from deid.engine import DIED, Engine, Job, Outcome, Pool, Raised, one_line
from deid.errors import DeidError, UsageError
from deid.extras import install_hint

# Tasks queued on an actor beyond the one it runs: enough that it never waits for the
# driver between tasks, few enough that a lost actor takes little work with it.
TASKS_PER_ACTOR = 2


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"--engine ray needs Ray, which is not installed; {install_hint('ray')}") from None
    return ray


class RayActors(Engine):
    """``workers`` actors (0: one per CPU of the cluster) on the cluster at ``address`` (a
    new local instance when empty, "auto" the one started on this node with `ray start`)."""

    def __init__(self, workers: int = 0, device: str = "auto", address: str = "") -> None:
        self._ray = import_ray()
        self._workers, self._device, self._address = workers, device, address
        self.size = workers or 1

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        ray = self._ray
        started_here = False
        if not ray.is_initialized():
            # Ray's own SIGTERM handler exits at once; the caller's (the CLI stops the run,
            # keeps what is done and says how to resume) is put back.
            main_thread = threading.current_thread() is threading.main_thread()
            on_sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
            try:
                ray.init(
                    address=self._address or "local", include_dashboard=False, log_to_driver=False,
                    logging_level=logging.ERROR,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self._address or "a local instance"
                raise UsageError(f"cannot start or join the Ray cluster at {where}: {' '.join(str(exc).split())}") from None
            finally:
                if on_sigterm is not None:
                    signal.signal(signal.SIGTERM, on_sigterm)
            started_here = True
        try:
            self.size = self._workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            yield
        finally:
            if started_here:
                ray.shutdown()

    def pool(self, job: Job[Any, Any], size: int) -> Pool:
        options: dict[str, Any] = {"num_cpus": 1, "max_restarts": 0}
        gpus = float(self._ray.cluster_resources().get("GPU", 0))
        if self._device != "cpu" and gpus > 0:
            # Actors share the GPUs: a fraction each, so that they all fit at once.
            options["num_gpus"] = min(1.0, gpus / size)
        return _ActorPool(self._ray, self._ray.remote(**options)(JobActor), job, size)


class JobActor:
    """One actor: the job's runner, built once."""

    def __init__(self, job: Job[Any, Any]) -> None:
        self._runner = job.start()

    def runtime(self) -> dict[str, Any]:
        return self._runner.runtime()

    def process(self, task: list[Any]) -> Outcome:
        from deid.engine.local import run_task

        return run_task(self._runner, task)


class _ActorPool(Pool):
    def __init__(self, ray: Any, actor_class: Any, job: Job[Any, Any], size: int) -> None:
        self._ray, self._actor_class, self._job, self._size = ray, actor_class, job, size
        self._load: dict[Any, int] = {}  # actor -> tasks it holds
        self._in_flight: dict[Any, tuple[Any, list[Any]]] = {}  # ref -> (actor, task)
        self._first: Any = None

    def runtime(self) -> dict[str, Any]:
        self._first = self._actor_class.remote(self._job)
        try:
            return self._ray.get(self._first.runtime.remote())
        except self._ray.exceptions.RayError as exc:
            self._ray.kill(self._first)
            raise DeidError(f"a Ray actor could not load the models: {one_line(exc)}") from None

    def _actor_with_room(self) -> Any:
        for actor, load in self._load.items():
            if load < TASKS_PER_ACTOR:
                return actor
        # Actors start as work comes, so that a run of few items starts few.
        actor = self._first or self._actor_class.remote(self._job)
        self._first = None
        self._load[actor] = 0
        return actor

    def has_room(self) -> bool:
        return len(self._load) < self._size or any(load < TASKS_PER_ACTOR for load in self._load.values())

    def busy(self) -> bool:
        return bool(self._in_flight)

    def submit(self, task: list[Any]) -> None:
        actor = self._actor_with_room()
        self._in_flight[actor.process.remote(task)] = (actor, task)
        self._load[actor] += 1

    def wait(self) -> list[tuple[list[Any], Outcome]]:
        ray = self._ray
        ready, _ = ray.wait(list(self._in_flight), num_returns=1)
        finished: list[tuple[list[Any], Outcome]] = []
        for ref in ready:
            actor, task = self._in_flight.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayActorError:
                # The actor is gone with whatever it held; a fresh one takes its place
                # when work comes.
                finished.append((task, DIED))
                if self._load.pop(actor, None) is not None:
                    ray.kill(actor)
                continue
            except ray.exceptions.RayTaskError as exc:
                outcome = Raised(f"internal error on a Ray actor: {one_line(exc)}")
            if actor in self._load:
                self._load[actor] -= 1
            finished.append((task, outcome))
        return finished

    def __exit__(self, exc_type: object, *_: object) -> None:
        for actor in [*self._load, *([self._first] if self._first is not None else [])]:
            self._ray.kill(actor)
        self._load.clear()

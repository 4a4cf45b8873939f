"""The Ray engine: the run's files processed by a pool of actors on a Ray cluster.

Each actor loads the models once and runs ``deid.process.process_file``, the function the
local worker processes run: no stage has a second implementation. The driver (the
process that called ``deid.run``) plans the output names and the noise seeds, keeps the
journal and writes the report; actors only read SRC and write OUT, which every node must
see at the same path (a shared filesystem).

Files go out a few at a time with a bounded number in flight per actor, so the driver's
memory does not grow with the dataset. An actor that dies (its node lost, a crash in
native code, the out-of-memory killer) takes no file with it: the files it held are tried
again one at a time on fresh actors, and only a file that kills its actor again is
reported as failed, as in the local engine.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path
from typing import Any, Callable

from deid.config import Config
from deid.errors import DeidError, UsageError
from deid.extras import install_hint
from deid.process import FileResult, WorkItem, failed_result
from deid.workers import FILES_PER_TASK, WORKER_DIED, OnResult

# The per-file function an actor runs: process_file's arguments.
Task = Callable[[WorkItem, Path, Any], FileResult]

# Tasks queued on an actor beyond the one it runs: enough that it never waits for the
# driver between tasks, few enough that a lost actor takes little work with it.
TASKS_PER_ACTOR = 2


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"--engine ray needs Ray, which is not installed; {install_hint('ray')}") from None
    return ray


class FileWorker:
    """One actor: the stages of one process, built once."""

    def __init__(self, config: Config, run: str, task: Task | None = None) -> None:
        from deid.output import set_temp_identity
        from deid.process import Stages

        set_temp_identity(run)
        self._stages = Stages(config, threads=1)
        self._task = task

    def runtime(self) -> dict[str, Any]:
        return self._stages.runtime()

    def process(self, items: list[WorkItem], out_dir: Path) -> list[FileResult]:
        from deid.process import process_file

        if self._task is not None:
            return [self._task(item, out_dir, self._stages) for item in items]
        return [process_file(item, out_dir, self._stages) for item in items]


def process_all_ray(
    items: list[WorkItem], out_dir: Path, config: Config, on_result: OnResult, run: str,
    task: Task | None = None,
) -> dict[str, Any]:
    """Process ``items`` on the Ray cluster at ``config.ray_address`` (a new local
    instance when empty) and pass each result to ``on_result`` as it comes; returns what
    ran (models, devices). ``task(item, out_dir, stages)`` replaces process_file in the
    actors; tests use it to kill an actor."""
    ray = import_ray()
    started_here = False
    if not ray.is_initialized():
        try:
            ray.init(
                address=config.ray_address or "local", include_dashboard=False, log_to_driver=False,
                logging_level=logging.ERROR,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = config.ray_address or "a local instance"
            raise UsageError(f"cannot start or join the Ray cluster at {where}: {' '.join(str(exc).split())}") from None
        started_here = True
    try:
        return _Pool(ray, config, run, task).run(items, out_dir, on_result)
    finally:
        if started_here:
            ray.shutdown()


class _Pool:
    def __init__(self, ray: Any, config: Config, run: str, task: Task | None) -> None:
        self._ray = ray
        resources = ray.cluster_resources()
        cpus = max(1, int(resources.get("CPU", 1)))
        gpus = float(resources.get("GPU", 0))
        self.size = config.workers or cpus
        options: dict[str, Any] = {"num_cpus": 1, "max_restarts": 0}
        if config.device != "cpu" and gpus > 0:
            # Actors share the GPUs: a fraction each, so that they all fit at once.
            options["num_gpus"] = min(1.0, gpus / self.size)
        self._actor_class = ray.remote(**options)(FileWorker)
        self._args = (config, run, task)
        self.runtime: dict[str, Any] | None = None

    def _new_actor(self) -> Any:
        actor = self._actor_class.remote(*self._args)
        if self.runtime is None:
            try:
                self.runtime = self._ray.get(actor.runtime.remote())
            except self._ray.exceptions.RayError as exc:
                raise DeidError(f"a Ray actor could not load the models: {_cause(exc)}") from None
        return actor

    def run(self, items: list[WorkItem], out_dir: Path, on_result: OnResult) -> dict[str, Any]:
        ray = self._ray
        if not items:
            actor = self._new_actor()
            ray.kill(actor)
            return self.runtime or {}
        actors = [self._new_actor() for _ in range(min(self.size, -(-len(items) // FILES_PER_TASK)))]
        pending = deque(items[i:i + FILES_PER_TASK] for i in range(0, len(items), FILES_PER_TASK))
        load = {actor: 0 for actor in actors}
        in_flight: dict[Any, tuple[Any, list[WorkItem]]] = {}
        suspects: list[WorkItem] = []
        try:
            while pending or in_flight:
                for actor in list(load):
                    while pending and load[actor] < TASKS_PER_ACTOR:
                        chunk = pending.popleft()
                        in_flight[actor.process.remote(chunk, out_dir)] = (actor, chunk)
                        load[actor] += 1
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in ready:
                    actor, chunk = in_flight.pop(ref)
                    try:
                        results = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        # process_file reports its own failures; this is the engine's.
                        load[actor] -= 1
                        for item in chunk:
                            on_result(failed_result(item.source, f"internal error on a Ray actor: {_cause(exc)}"))
                        continue
                    except ray.exceptions.RayActorError:
                        # The actor is gone with whatever it held: those files are tried
                        # again one by one, and a fresh actor takes its place.
                        suspects += chunk
                        if actor in load:
                            del load[actor]
                            load[self._new_actor()] = 0
                        continue
                    load[actor] -= 1
                    for result in results:
                        on_result(result)
        finally:
            for actor in list(load):
                ray.kill(actor)
        # After the pool is gone, so that each fresh actor finds a free CPU.
        for item in suspects:
            on_result(self._alone(item, out_dir))
        return self.runtime or {}

    def _alone(self, item: WorkItem, out_dir: Path) -> FileResult:
        """One file on a fresh actor of its own: if it dies, this file killed it."""
        ray = self._ray
        actor = self._new_actor()
        try:
            return ray.get(actor.process.remote([item], out_dir))[0]
        except ray.exceptions.RayActorError:
            return failed_result(item.source, WORKER_DIED)
        finally:
            ray.kill(actor)


def _cause(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[-300:]

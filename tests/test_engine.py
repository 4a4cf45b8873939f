"""Every engine keeps the same promises, shown with a job quick enough to need no model:
each item's result comes back once; an item that kills its worker fails alone; a worker
killed mid-item takes nothing with it; an interrupt stops every worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deid.engine import WORKER_DIED, build_engine, run_job
from dying_worker import DyingJob, EchoJob

TESTS = Path(__file__).resolve().parent
# (engine name, workers); in-process cannot outlive a worker that dies: it is the run.
ENGINES = [("in-process", 1), ("local", 1), ("local", 2), ("ray", 2)]
SURVIVING = [engine for engine in ENGINES if engine[0] != "in-process"]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'deid[ray]'")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}},
    )
    yield
    ray.shutdown()


@pytest.fixture(params=ENGINES, ids=lambda e: f"{e[0]}-{e[1]}")
def engine(request):
    name, workers = request.param
    if name == "ray":
        request.getfixturevalue("ray_cluster")
    return build_engine(name, workers)


@pytest.fixture(params=SURVIVING, ids=lambda e: f"{e[0]}-{e[1]}")
def surviving_engine(request):
    name, workers = request.param
    if name == "ray":
        request.getfixturevalue("ray_cluster")
    return build_engine(name, workers)


def run_all(job, items, engine) -> list[str]:
    results = []
    run_job(job, items, results.append, engine)
    return results


@pytest.mark.parametrize("items", [[], ["a"], [f"item{i}" for i in range(37)]], ids=["none", "one", "many"])
def test_every_item_comes_back_once(engine, items):
    assert sorted(run_all(EchoJob(), items, engine)) == sorted(f"done {item}" for item in items)


def test_items_are_read_as_they_are_needed(engine):
    taken = []

    def items():
        for index in range(100):
            taken.append(index)
            yield f"item{index}"

    results = []

    def on_result(result):
        results.append((len(taken), result))

    run_job(EchoJob(), items(), on_result, engine)
    assert len(results) == 100
    assert results[0][0] < 100, "the first result waited for every item to be read"


def test_an_item_whose_runner_raises_fails_alone(engine):
    results = run_all(EchoJob(), ["a", "raise_me", "b"], engine)
    assert sorted(r for r in results if r.startswith("done")) == ["done a", "done b"]
    failed = [r for r in results if r.startswith("failed")]
    assert len(failed) == 1 and "raise_me" in failed[0] and "ValueError: cannot do raise_me" in failed[0]


def test_an_item_that_kills_every_worker_fails_alone(surviving_engine):
    items = [f"item{i}" for i in range(12)] + ["crash.jpg"] + [f"later{i}" for i in range(12)]
    results = run_all(DyingJob(EchoJob()), items, surviving_engine)
    assert sorted(results) == sorted([f"done {i}" for i in items if i != "crash.jpg"] + [f"failed crash.jpg: {WORKER_DIED}"])


def test_a_worker_killed_mid_item_takes_nothing_with_it(surviving_engine, tmp_path):
    items = [f"item{i}" for i in range(12)] + ["crash.jpg"] + [f"later{i}" for i in range(12)]
    marker = tmp_path / "killed-once"
    results = run_all(DyingJob(EchoJob(), once_marker=str(marker)), items, surviving_engine)
    assert marker.exists()
    assert sorted(results) == sorted(f"done {i}" for i in items)


INTERRUPTED = 130
SCRIPT = """
import signal, sys
from deid.engine import build_engine, run_job
from dying_worker import EchoJob

def on_sigterm(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, on_sigterm)
done = []
try:
    run_job(EchoJob(slow_s=0.5), [f"slow{{i}}" for i in range(200)], lambda r: (done.append(r), print(r, flush=True)),
            build_engine({name!r}, {workers}))
except KeyboardInterrupt:
    sys.exit({code})
"""


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("name, workers", SURVIVING, ids=lambda v: str(v))
def test_an_interrupt_stops_every_worker(tmp_path, name, workers, signum):
    if name == "ray":
        pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'deid[ray]'")
    script = tmp_path / "job.py"
    script.write_text(SCRIPT.format(name=name, workers=workers, code=INTERRUPTED))
    # Its own process group, as a terminal's Ctrl-C reaches the whole foreground group.
    # Ray's workers find the test's jobs through the path they inherit.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    job = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True, env=env,
    )
    assert job.stdout.readline().startswith("done"), "the job never got going"
    workers_seen = descendants(job.pid)
    assert workers_seen, "no worker processes seen"
    if signum == signal.SIGINT:
        os.killpg(job.pid, signum)
    else:
        job.send_signal(signum)
    job.communicate(timeout=60)
    assert job.returncode == INTERRUPTED
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and [pid for pid in workers_seen if alive(pid)]:
        time.sleep(0.2)
    assert [pid for pid in workers_seen if alive(pid)] == []

"""The Ray engine keeps every promise of the local one, on a real local Ray instance."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from deid import run
from deid.config import Config

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'deid[ray]'")

TESTS = Path(__file__).resolve().parent
PHOTOS = 16


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def report_lines(report_dir: Path) -> list[str]:
    return (report_dir / "images.jsonl").read_text().splitlines()


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance for the module; its workers can import the test helpers."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}},
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(shared_data: Path, tmp_path_factory) -> Path:
    """Real photos, one damaged file, and one file named crash* for the dying actor."""
    src = tmp_path_factory.mktemp("ray") / "src"
    caltech = sorted((shared_data / "faces" / "caltech").iterdir())[:PHOTOS]
    for index, photo in enumerate(caltech):
        folder = src / ("a" if index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, folder / photo.name)
    shutil.copy(caltech[0], src / "crash_me.jpg")
    data = caltech[1].read_bytes()
    (src / "damaged.jpg").write_bytes(data[: len(data) // 3])
    return src


@pytest.fixture(scope="module")
def local_result(photos, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("local") / "out"
    summary = run(photos, out, Config(workers=2))
    assert summary.counts.failed == 1
    return out, summary.report_dir


def test_same_outputs_and_report_as_the_local_engine(cluster, photos, local_result, tmp_path):
    local_out, local_report = local_result
    summary = run(photos, tmp_path / "out", Config(workers=2, engine="ray"))
    assert files_under(tmp_path / "out") == files_under(local_out)
    assert report_lines(summary.report_dir) == report_lines(local_report)


def test_a_file_failing_on_an_actor_is_failed_and_leaves_nothing(cluster, photos, tmp_path):
    summary = run(photos, tmp_path / "out", Config(workers=2, engine="ray"))
    failed = summary.failed_files
    assert [f.source for f in failed] == ["damaged.jpg"]
    assert "decodable" in failed[0].error or "truncated" in failed[0].error
    written = files_under(tmp_path / "out")
    assert "damaged.jpg" not in written
    assert not [name for name in written if Path(name).name.startswith(".deid-")]


def test_an_actor_dying_mid_file_fails_nothing_a_retry_processes(cluster, photos, local_result, tmp_path, monkeypatch):
    import deid.pipeline
    from dying_worker import DyingJob

    marker = tmp_path / "actor-killed-once"
    file_job = deid.pipeline.FileJob
    monkeypatch.setattr(deid.pipeline, "FileJob", lambda *args: DyingJob(file_job(*args), once_marker=str(marker)))
    summary = run(photos, tmp_path / "out", Config(workers=2, engine="ray"))
    assert marker.exists()
    assert summary.counts.failed == 1  # the damaged file only
    assert files_under(tmp_path / "out") == files_under(local_result[0])


def test_a_killed_driver_is_resumed_to_the_same_result(cluster, photos, local_result, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "deid", "run", photos, out, "--engine", "ray", "--ray-address", cluster,
               "--workers", "1"]
    driver = subprocess.Popen([str(c) for c in command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = tmp_path / "out.report" / "journal.jsonl"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and driver.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 4:
            break
        time.sleep(0.2)
    assert driver.poll() is None, "the run ended before it could be killed"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert 4 <= len(journal.read_text().splitlines()) < PHOTOS + 1
    resumed = run_cli("run", photos, out, "--engine", "ray", "--ray-address", cluster, "--resume")
    assert resumed.returncode == 1, resumed.stderr  # the damaged file
    assert files_under(out) == files_under(local_result[0])
    assert report_lines(tmp_path / "out.report") == report_lines(local_result[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_head_and_a_second_node_started_with_ray_start(photos, local_result, tmp_path):
    """Two Ray nodes on this machine, as on a cluster: `ray start --head`, then `ray start
    --address`; deid joins with --ray-address and spreads actors over both."""
    if ray.is_initialized():
        ray.shutdown()
    ray_cli = str(Path(sys.executable).with_name("ray"))
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    nodes = [subprocess.Popen(
        [ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
         "--include-dashboard", "false", "--block"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )]
    address = f"127.0.0.1:{port}"
    try:
        time.sleep(5)
        nodes.append(subprocess.Popen(
            [ray_cli, "start", "--address", address, "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--block"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        result = None
        for _ in range(30):  # until the second node has joined: 2 CPUs in the cluster
            probe = subprocess.run(
                [sys.executable, "-c", f"import ray; ray.init(address='{address}', logging_level='ERROR'); "
                 "print(int(ray.cluster_resources().get('CPU', 0)))"],
                capture_output=True, text=True, env=env,
            )
            if probe.stdout.strip() == "2":
                break
            time.sleep(2)
        assert probe.stdout.strip() == "2", probe.stderr[-2000:]
        result = run_cli("run", photos, tmp_path / "out", "--engine", "ray", "--ray-address", address)
        assert result.returncode == 1, result.stderr  # the damaged file
        assert files_under(tmp_path / "out") == files_under(local_result[0])
    finally:
        for node in reversed(nodes):
            node.send_signal(signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()



def test_verify_on_ray_reports_the_file_that_kills_its_actor_as_the_local_engine_does(cluster, photos, tmp_path, monkeypatch):
    from deid.engine import WORKER_DIED
    from deid.results import Unreadable
    from dying_worker import verify_with_a_file_that_kills_its_worker

    # Where an earlier test left no Ray instance, the one verify starts finds the test's
    # jobs through the path its workers inherit.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    result = verify_with_a_file_that_kills_its_worker(photos / "a", tmp_path, monkeypatch, workers=2, engine="ray")
    assert result.report.files == 4
    assert result.report.unreadable == [Unreadable("crash.jpg", WORKER_DIED)]
    assert result.exit_code == 1


def test_keep_faces_on_ray_keeps_what_the_local_engine_keeps(cluster, shared_data, tmp_path):
    pytest.importorskip("dlib", reason="the audit extra is not installed: pip install 'deid[audit]'")
    webcam = shared_data / "faces" / "facemask"
    (tmp_path / "consent").mkdir()
    shutil.copy(webcam / "12-photo.jpg", tmp_path / "consent" / "participant.jpg")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("13-photo.jpg", "2-photo.jpg", "60-photo.jpg"):  # him, her, both
        shutil.copy(webcam / name, src / name)
    local = run(src, tmp_path / "local", Config(workers=1), keep_faces=tmp_path / "consent")
    on_ray = run(src, tmp_path / "ray", Config(workers=2, engine="ray"), keep_faces=tmp_path / "consent")
    assert local.counts.consent_matches == on_ray.counts.consent_matches == 2
    assert report_lines(on_ray.report_dir) == report_lines(local.report_dir)
    assert files_under(tmp_path / "ray") == files_under(tmp_path / "local")

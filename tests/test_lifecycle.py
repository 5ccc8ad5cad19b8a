"""How an iteration ends when its process does: real processes, real signals."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops import tracking
from mlops.errors import NotFound
from mlops.store import open_store

PRELUDE = """
import sys, time
from mlops import tracking
it = tracking.start_iteration(sys.argv[1])
print(it.id, flush=True)
for step in range(500):
    it.log_metric("loss", 1.0 / (step + 1))
it.log_parameter("lr", 0.1)
"""


def _run(home: Path, body: str, name: str, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "MLOPS_HOME": str(home), **kwargs.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body), name],
        capture_output=True, text=True, env=env, timeout=60, **kwargs,
    )  # fmt: skip


def _start(home: Path, body: str, name: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body), name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MLOPS_HOME": str(home)},
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _points(iteration_id: str) -> int:
    return len(tracking.get_metric_history(iteration_id, "loss"))


def test_exit_without_ending_saves_everything_as_finished(active, mlops_home: Path) -> None:  # type: ignore[no-untyped-def]
    out = _run(mlops_home, "", "forgot-to-end")
    assert out.returncode == 0, out.stderr
    got = tracking.get_iteration(out.stdout.strip())
    assert got["status"] == "finished" and got["parameters"] == {"lr": 0.1}
    assert _points(got["id"]) == 500


def test_an_uncaught_exception_marks_failed_with_its_message(active, mlops_home: Path) -> None:  # type: ignore[no-untyped-def]
    out = _run(mlops_home, "raise RuntimeError('CUDA out of memory')", "oom")
    assert out.returncode == 1 and "CUDA out of memory" in out.stderr
    got = tracking.get_iteration(out.stdout.strip())
    assert got["status"] == "failed"
    assert got["error"] == {"type": "RuntimeError", "message": "CUDA out of memory"}
    assert _points(got["id"]) == 500


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_mark_killed(active, mlops_home: Path, sig: signal.Signals) -> None:  # type: ignore[no-untyped-def]
    # A script run from a terminal gets Ctrl-C as KeyboardInterrupt. Python installs that
    # handler only when SIGINT is not ignored at start-up, and pytest may itself run with
    # SIGINT ignored (`make test &`, nohup), which every child inherits: restore it here. The
    # library leaves an ignored SIGINT alone on purpose (the process asked not to be stopped
    # by Ctrl-C), as it leaves an ignored SIGTERM alone.
    body = """
    import signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print('ready', flush=True)
    time.sleep(60)
    """
    proc, iteration_id = _start(mlops_home, body, "long")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    proc.wait(timeout=90)  # generous: a loaded CI machine starts Python slowly
    assert proc.returncode != 0
    got = tracking.get_iteration(iteration_id)
    assert got["status"] == "killed" and got["ended_at"] is not None
    assert _points(iteration_id) == 500


def test_a_killed_process_shows_crashed_once_its_heartbeat_is_old(active, mlops_home: Path) -> None:  # type: ignore[no-untyped-def]
    proc, iteration_id = _start(mlops_home, "print('ready', flush=True); time.sleep(60)", "dies")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    _wait_until(lambda: _flushed(iteration_id) == 500, "the background writer flushed the points")
    proc.kill()
    proc.wait(timeout=10)
    assert tracking.get_iteration(iteration_id)["status"] == "running"  # heartbeat still fresh
    # Let the heartbeat age as if the 30 s timeout had passed.
    open_store(tracking_uri_of(mlops_home)).update_iteration(
        iteration_id, heartbeat_at=time.time() - 120
    )
    assert tracking.get_iteration(iteration_id)["status"] == "crashed"
    assert [i["id"] for i in tracking.list_iterations(filter='status = "crashed"')] == [
        iteration_id
    ]
    assert _points(iteration_id) == 500  # what was flushed before the kill is kept


def _flushed(iteration_id: str) -> int:
    """The points of ``loss`` stored so far (none before the first flush)."""
    try:
        return _points(iteration_id)
    except NotFound:
        return 0


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting until {what}"
        time.sleep(0.05)


def tracking_uri_of(home: Path) -> str:
    return f"sqlite:///{home / 'mlops.db'}"


def test_exit_is_bounded_when_the_store_is_stuck(active, mlops_home: Path) -> None:  # type: ignore[no-untyped-def]
    body = """
    import sqlite3, os
    lock = sqlite3.connect(os.path.join(os.environ["MLOPS_HOME"], "mlops.db"), isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    """
    started = time.monotonic()
    out = _run(mlops_home, body, "stuck", env={"MLOPS_FLUSH_TIMEOUT": "1"})
    elapsed = time.monotonic() - started
    assert out.returncode == 0
    assert elapsed < 20, f"exit took {elapsed:.1f} s"
    assert "MLOPS_FLUSH_TIMEOUT" in out.stderr and "metric points" in out.stderr


WORKER = """
import sys
from mlops import tracking
worker = int(sys.argv[1])
for n in range(4):
    with tracking.start_iteration(f"w{worker}-{n}") as it:
        it.log_parameters({"worker": worker, "n": n})
        for step in range(2000):
            it.log_metric("loss", step * 0.001)
            it.log_metric("acc", 1 - step * 0.0001)
"""


def test_eight_processes_write_one_database_without_losing_a_point(
    active, mlops_home: Path
) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "MLOPS_HOME": str(mlops_home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(w)], env=env, stderr=subprocess.PIPE, text=True
        )
        for w in range(8)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert not any("locked" in e for e in errors), errors
    iterations = tracking.list_iterations(limit=1000)
    assert len(iterations) == 32
    assert {i["status"] for i in iterations} == {"finished"}
    db = sqlite3.connect(mlops_home / "mlops.db")
    count = db.execute("SELECT COUNT(*) FROM metric_points").fetchone()[0]
    assert count == 8 * 4 * 2000 * 2

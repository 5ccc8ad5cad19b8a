"""A store that cannot be written (a full disk) never ends a training run.

The embedded SQLite database is made full for real: ``PRAGMA max_page_count`` on the store's
own connections caps the file at its current size, so SQLite answers every write that needs a
new page with SQLITE_FULL ("database or disk is full"), the error of a full disk. Raising the
cap again is space coming back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from mlops import tracking
from mlops.config import tracking_uri
from mlops.errors import InvalidInput, IterationEnded, NotFound, Unavailable
from mlops.store import Store, open_store
from mlops.store.sql.engine import DriverCursor
from mlops.tracking._outbox import Outbox

NO_LIMIT = 1_073_741_823  # SQLite's default max_page_count


class Disk:
    """Makes the embedded store's database full, or gives it space again."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pages = NO_LIMIT
        self.refused = 0
        self.fail_every: int | None = None
        self._writes = 0
        engine = store._engine  # type: ignore[attr-defined]
        event.listen(engine, "begin", self._on_begin)
        event.listen(engine, "handle_error", self._on_error)

    def _on_begin(self, conn: Any) -> None:
        pages = self.pages
        if self.fail_every is not None and conn.get_execution_options().get("mlops_write"):
            self._writes += 1
            pages = 1 if self._writes % self.fail_every == 0 else NO_LIMIT
        # A cap below the file's size becomes its size: no page can be added.
        conn.exec_driver_sql(f"PRAGMA max_page_count={pages}")

    def _on_error(self, context: Any) -> None:
        if "full" in str(context.original_exception):
            self.refused += 1

    def fill(self) -> None:
        self.pages = 1

    def free(self) -> None:
        self.pages = NO_LIMIT


@pytest.fixture
def disk(active: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    found = Disk(open_store(tracking_uri()))
    translated = DriverCursor._translated

    def counted(self: DriverCursor, statement: str, params: Any, exc: Exception) -> Exception:
        # the write hot path runs on the driver's cursor, past SQLAlchemy's error events
        if "full" in str(exc):
            found.refused += 1
        return translated(self, statement, params, exc)

    monkeypatch.setattr(DriverCursor, "_translated", counted)
    yield found


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def history(store: Store, iteration_id: str, metric: str = "loss") -> list[tuple[int, float]]:
    try:
        points = store.get_metric_history(iteration_id, metric)
    except NotFound:  # nothing written yet
        return []
    return [(p.step, p.value) for p in points]


def test_a_full_disk_does_not_end_the_run_and_the_points_are_written_when_space_is_back(
    disk: Disk, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_FLUSH_TIMEOUT", "1")
    monkeypatch.setenv("MLOPS_MAX_BUFFERED_POINTS", "50000")
    it = tracking.start_iteration("full-disk")
    disk.fill()
    started = time.monotonic()
    with it:
        it.log_parameter("lr", 0.1)
        it.set_tag("team", "vision")
        for step in range(100_000):
            it.log_metric("loss", float(step))
        wait_for("the writer to meet the full disk", lambda: it.unwritten is not None)
        # Input errors still raise, full disk or not.
        with pytest.raises(InvalidInput, match="metric 'loss'"):
            it.log_metric("loss", "x")
        with pytest.raises(NotFound, match="ghost"):
            it.log_dataset("ghost")
    ended_in = time.monotonic() - started
    assert disk.refused > 0
    assert ended_in < 15, f"the with block took {ended_in:.1f} s"
    err = capsys.readouterr().err
    assert "gave up after 1 s (MLOPS_FLUSH_TIMEOUT) writing iteration 'full-disk'" in err
    assert "50,000 metric points, 1 parameters, 1 tags" in err
    assert "50,000 more points that were not kept" in err
    unwritten = it.unwritten
    assert unwritten is not None and unwritten["error"]
    assert unwritten["metric_points"] == unwritten["points_not_kept"] == 50_000
    assert (unwritten["parameters"], unwritten["tags"]) == (1, 1)
    assert it["status"] == "finished" and it["metrics"] == {"loss": 99_999.0}
    with pytest.raises(IterationEnded):
        it.log_metric("loss", 1.0)
    assert disk.store.get_iteration(it.id).status == "running"  # nothing reached the store

    disk.free()  # the background writer writes what was kept, then ends the iteration
    said: list[str] = []
    wait_for(
        "the writer to say it wrote the iteration",
        lambda: said.append(capsys.readouterr().err) or "is now written" in "".join(said),
    )
    assert "is now written and ended (finished); 50,000 points were not kept" in "".join(said)
    stored = disk.store.get_iteration(it.id)
    assert stored.status == "finished"
    assert stored.parameters == {"lr": 0.1} and stored.tags == {"team": "vision"}
    assert history(disk.store, it.id) == [(step, float(step)) for step in range(50_000)]
    assert it.end_iteration()["metrics"] == {"loss": 49_999.0}  # the stored iteration now
    assert it.unwritten is not None and it.unwritten["metric_points"] == 0


def test_log_calls_never_wait_for_a_failing_store(disk: Disk) -> None:
    it = tracking.start_iteration("keeps-training")
    disk.fill()
    for step in range(5000):  # more than fits in the pages the file has
        it.log_metric("loss", float(step))
    wait_for("a write to fail", lambda: it.unwritten is not None)
    started = time.monotonic()
    for step in range(5000, 100_000):
        it.log_metric("loss", float(step))
    assert time.monotonic() - started < 5  # a few microseconds a call, store or no store
    disk.free()
    wait_for("the kept points to be written", lambda: last_step(disk.store, it.id) == 99_999)
    final = it.end_iteration()
    assert final["status"] == "finished" and final["metrics"] == {"loss": 99_999.0}
    assert history(disk.store, it.id) == [(step, float(step)) for step in range(100_000)]
    assert it.unwritten is None


def last_step(store: Store, iteration_id: str) -> int | None:
    summary = store.get_iteration(iteration_id).metrics.get("loss")
    return None if summary is None else summary.last_step


def test_a_store_that_fails_now_and_then_neither_loses_nor_duplicates_a_point(
    disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_FLUSH_TIMEOUT", "10")
    it = tracking.start_iteration("flaky")
    disk.fail_every = 3  # every third write transaction finds the disk full
    expected: dict[int, float] = {}
    for round_ in range(12):
        for step in range(round_ * 3000, (round_ + 1) * 3000):
            it.log_metric("loss", step + round_ / 100, step=step)
            expected[step] = step + round_ / 100
        for step in range(0, round_ * 3000, 997):  # replace points of earlier batches
            it.log_metric("loss", -step - round_, step=step)
            expected[step] = -step - round_
        it._flush()  # what the background writer does every second, now
    final = it.end_iteration()
    assert disk.refused > 0
    assert final["status"] == "finished" and it.unwritten is None
    assert history(disk.store, it.id) == sorted(expected.items())


EXITS = """
import os, sys
from sqlalchemy import event
from mlops import tracking
from mlops.config import tracking_uri
from mlops.store import open_store

it = tracking.start_iteration("exits-on-a-full-disk")
print(it.id, flush=True)
engine = open_store(tracking_uri())._engine
event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("PRAGMA max_page_count=1"))
for step in range(1000):
    it.log_metric("loss", float(step))
it.log_parameter("lr", 0.1)
print("training done", flush=True)
"""


def test_a_process_that_exits_on_a_full_disk_exits_normally_and_says_what_is_lost(
    active: dict[str, str], mlops_home: Path
) -> None:
    env = {**os.environ, "MLOPS_HOME": str(mlops_home), "MLOPS_FLUSH_TIMEOUT": "1"}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(EXITS)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "training done"
    assert "1,000 metric points, 1 parameters" in out.stderr
    assert "lost (the process is exiting)" in out.stderr
    assert elapsed < 20, f"exit took {elapsed:.1f} s"
    iteration_id = out.stdout.splitlines()[0]
    assert tracking.get_iteration(iteration_id)["status"] == "running"


def test_what_the_store_refuses_for_good_is_counted_and_not_retried() -> None:
    outbox = Outbox(max_points=25_000)
    rows = [("loss", step, float(step), 0.0) for step in range(30_000)]
    outbox.add(rows, {"lr": 0.1}, {}, [])
    assert (outbox.points, outbox.not_kept) == (25_000, 5_000)
    sent: list[Any] = []

    def down(**records: Any) -> None:
        raise Unavailable("the disk is full")

    def write(**records: Any) -> None:
        sent.extend(records["metrics"] or [])

    assert outbox.send(down) is False  # kept for the next try, compact while it waits
    assert outbox.points == 25_000 and isinstance(outbox.error, Unavailable)
    assert outbox.send(write) is True and sent == rows[:25_000] and outbox.empty()

    def gone(**records: Any) -> None:
        raise NotFound("iteration 'x' was deleted")

    outbox.add(rows[:15_000], {"lr": 0.2}, {"team": "a"}, [])
    assert outbox.send(gone) is True  # a retry cannot cure it: counted as refused, dropped
    assert outbox.empty() and isinstance(outbox.error, NotFound)
    assert outbox.lost == {"points": 15_000, "parameters": 1, "tags": 1, "datasets": 0}
    assert "refused by the store for good: 15,000 metric points" in outbox.summary()


def test_end_iteration_on_a_locked_database_returns_within_the_flush_timeout(
    active: dict[str, str], mlops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    monkeypatch.setenv("MLOPS_FLUSH_TIMEOUT", "1")
    store = open_store(tracking_uri())
    it = tracking.start_iteration("locked")
    it.log_metric("loss", 0.5)
    lock = sqlite3.connect(mlops_home / "mlops.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another process holds the database (for minutes)
    started = time.monotonic()
    final = it.end_iteration()
    assert time.monotonic() - started < 3
    assert final["status"] == "finished" and final["metrics"] == {"loss": 0.5}
    lock.execute("ROLLBACK")
    lock.close()
    wait_for("the iteration to be ended", lambda: store.get_iteration(it.id).ended_at)
    assert history(store, it.id) == [(0, 0.5)]


def test_a_working_store_slower_than_the_script_is_waited_for_not_dropped(
    active: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_MAX_BUFFERED_POINTS", "20000")
    for run in range(4):  # each end races the writer's flush of the last points
        with tracking.start_iteration(f"fast-logger-{run}") as it:
            for step in range(60_000):
                it.log_metric("loss", float(step))
        assert it.unwritten is None
        assert len(tracking.get_metric_history(it.id, "loss")) == 60_000

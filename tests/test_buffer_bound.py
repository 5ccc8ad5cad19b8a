"""The client's buffer of points is bounded (``MLOPS_BUFFER_POINTS``): past it a log call waits
for a writer that makes progress, and never for a store that fails."""

from __future__ import annotations

import sqlite3
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from mlops import tracking
from mlops.errors import InvalidInput, Unavailable
from mlops.tracking import _iteration
from mlops.tracking._outbox import BATCH_SIZE

BOUND = 2 * BATCH_SIZE
POINTS = 6 * BATCH_SIZE


class GatedStore:
    """The embedded store, whose writes of points wait for ``gate`` (a paused writer)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()

    def log_batch(self, *args: Any, **kwargs: Any) -> None:
        self.gate.wait()
        self.inner.log_batch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FailingStore(GatedStore):
    """A store that refuses every write of points (a database locked by another process)."""

    def log_batch(self, *args: Any, **kwargs: Any) -> None:
        raise Unavailable("the database is locked (test)")


@pytest.fixture
def bounded(monkeypatch: pytest.MonkeyPatch, active: dict[str, str]) -> None:
    monkeypatch.setenv("MLOPS_BUFFER_POINTS", str(BOUND))
    # a writer with no progress is given up on after STALL_SECONDS: never, in these tests
    monkeypatch.setattr(_iteration, "STALL_SECONDS", 3600.0)


def _stored_points(home: Path, iteration_id: str) -> int:
    with sqlite3.connect(home / "mlops.db") as conn:
        query = "SELECT count(*) FROM metric_points WHERE iteration_id = ?"
        return int(conn.execute(query, (iteration_id,)).fetchone()[0])


def test_log_calls_wait_for_a_slow_writer_past_the_bound_and_resume(
    bounded: None, mlops_home: Path
) -> None:
    it = tracking.start_iteration("bounded")
    store = GatedStore(it._store)
    it._store = store  # type: ignore[assignment]
    done = threading.Event()

    def train() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for step in range(POINTS):
                it.log_metric("loss", 1.0 / (step + 1))
        done.set()

    trainer = threading.Thread(target=train, daemon=True)
    trainer.start()
    assert it._throttled.wait(60), "the log call never waited for the paused writer"
    assert not done.is_set()
    held = len(it._points) + it._outbox.points
    # checked once a batch: the writer may have taken a part batch into its outbox in between
    assert BOUND < held <= BOUND + 2 * BATCH_SIZE
    store.gate.set()  # the writer goes on: so does the training loop
    trainer.join(120)
    assert done.is_set()
    ended = it.end_iteration()
    assert ended["metrics"]["loss"] == 1.0 / POINTS
    assert it.unwritten is None
    assert _stored_points(mlops_home, it.id) == POINTS
    assert it._throttles >= 1


def test_log_calls_never_wait_while_the_store_fails(bounded: None, mlops_home: Path) -> None:
    it = tracking.start_iteration("failing")
    real = it._store
    it._store = FailingStore(real)  # type: ignore[assignment]
    it.log_metric("loss", 0.0)
    with pytest.warns(UserWarning, match="could not write"):
        it._flush()  # the store has failed once: the writer knows
    assert it._outbox.error is not None
    for step in range(1, POINTS):  # returns: nothing waits for a failing store
        it.log_metric("loss", 1.0 / (step + 1))
    assert it._throttles == 0
    assert not it._throttled.is_set()
    it._store = real  # the store is back: what was kept in memory is written
    ended = it.end_iteration()
    assert ended["metrics"]["loss"] == 1.0 / POINTS
    assert _stored_points(mlops_home, it.id) == POINTS


def test_a_bad_buffer_bound_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, active: dict[str, str]
) -> None:
    monkeypatch.setenv("MLOPS_BUFFER_POINTS", "lots")
    with pytest.raises(InvalidInput, match="MLOPS_BUFFER_POINTS='lots'"):
        tracking.start_iteration("bad")

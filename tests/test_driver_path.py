"""The write hot path through the driver's cursor (store/sql/engine.py ``DriverCursor``): what
an iteration's end returns is what a later read returns, and a driver error is sorted into the
store's errors like any other, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid

import pytest

from mlops.entities import ModelFile
from mlops.errors import AlreadyExists
from mlops.store.sql.engine import DriverCursor, transaction
from mlops.store.sql.store import SqlStore


def test_the_end_returns_the_iteration_as_a_read_gives_it(sql_store: SqlStore) -> None:
    project = sql_store.create_project("p", None, "active", False)
    experiment = sql_store.create_experiment(project.id, "e", None)
    dataset = sql_store.create_dataset(
        "images", "/data/images", None, ["train", "v2"], None, None, None, None
    )
    iteration_id = uuid.uuid4().hex
    now = time.time()
    system = {"python": "3.11", "gpus": [{"name": "A100", "memory": 80}], "note": "ü"}
    started = sql_store.create_iteration(iteration_id, "run", experiment.id, None, now, system)
    assert started.system == system
    sql_store.log_batch(iteration_id, parameters={"lr": 0.1}, metrics=[("loss", 0, 2.0, now)])
    ended = sql_store.end_iteration(
        iteration_id, "failed", now + 5, error={"type": "ValueError", "message": "bad"},
        model=ModelFile("/m/model.pt", 12, "ab" * 32),
        parameters={"depth": 3, "name": "x", "nan": float("nan")},
        metrics=[("loss", 1, 1.0, now + 1), ("loss", 0, 3.0, now + 2), ("acc", 0, -0.0, now)],
        dataset_ids=[dataset.id], tags={"team": "vision"},
    )  # fmt: skip
    read = sql_store.get_iteration(iteration_id)
    assert repr(ended.to_dict()) == repr(read.to_dict())  # repr: the NaN parameter compares
    assert ended.system == system
    assert ended.status == "failed" and ended.error == {"type": "ValueError", "message": "bad"}
    assert [d.id for d in ended.datasets] == [dataset.id]
    assert ended.datasets[0].tags == ("train", "v2")
    # the step written again is recomputed from the stored points: last at step 1, min 1, max 3
    loss = ended.metrics["loss"]
    assert (loss.last, loss.last_step, loss.min, loss.max) == (1.0, 1, 1.0, 3.0)
    assert str(ended.metrics["acc"].last) == "-0.0"
    assert ended.parameters["depth"] == 3 and ended.tags == {"team": "vision"}


def test_a_driver_error_is_the_store_error_it_always_was(sql_store: SqlStore) -> None:
    project = sql_store.create_project("p", None, "active", False)
    experiment = sql_store.create_experiment(project.id, "e", None)
    iteration_id = uuid.uuid4().hex
    sql_store.create_iteration(iteration_id, "run", experiment.id, None, time.time(), {})
    insert = "INSERT INTO iteration_tags (iteration_id, key, value) VALUES ({p}, {p}, {p})"
    with (
        pytest.raises(AlreadyExists, match="cannot insert twice"),
        transaction(sql_store._engine, True, "insert twice") as conn,
    ):
        cur = DriverCursor(conn)
        cur.run(insert, (iteration_id, "k", "v"))
        cur.run(insert, (iteration_id, "k", "v"))
    # the failed transaction left nothing behind, and the store goes on working
    assert sql_store.get_iteration(iteration_id).tags == {}
    sql_store.log_batch(iteration_id, tags={"k": "v"})
    assert sql_store.get_iteration(iteration_id).tags == {"k": "v"}

"""The bulk read paths of the SQL store: a series fetched in chunks on the driver's cursor and
a page of iterations loaded in five statements (parameter values decoded in one parse)."""

from __future__ import annotations

import math
import time
import uuid

from mlops.series import MetricColumns
from mlops.store.sql import iterations
from mlops.store.sql.store import SqlStore


def test_chunks_pack_every_row_and_nan_for_null() -> None:
    chunks = [[(0, 1.0, 10.0), (1, None, 11.0)], [(2, 2.5, None)], [(2**62, -0.0, 12.0)]]
    columns = MetricColumns.of_chunks(chunks)
    assert list(columns.steps) == [0, 1, 2, 2**62]
    assert columns.values[0] == 1.0 and math.isnan(columns.values[1])
    assert math.copysign(1.0, columns.values[3]) == -1.0
    assert math.isnan(columns.timestamps[2]) and columns.timestamps[3] == 12.0
    assert len(MetricColumns.of_chunks([])) == 0


def test_a_series_longer_than_a_chunk_reads_whole_and_in_order(sql_store: SqlStore) -> None:
    project = sql_store.create_project("bulk", None, "active", False)
    experiment = sql_store.create_experiment(project.id, "bulk", None)
    iteration_id = uuid.uuid4().hex
    now = time.time()
    sql_store.create_iteration(iteration_id, "long", experiment.id, None, now, {})
    steps = 20_000  # more than two chunks of the driver's fetch
    rows = [
        ("loss", s, float("nan") if s == 9_000 else 1.0 / (s + 1), now + s) for s in range(steps)
    ]
    sql_store.log_batch(iteration_id, metrics=rows[::-1])
    columns = sql_store.get_metric_columns(iteration_id, "loss")
    assert list(columns.steps) == list(range(steps))
    assert math.isnan(columns.values[9_000]) and columns.values[19_999] == 1.0 / 20_000
    assert columns.timestamps[123] == now + 123


def test_a_page_of_iterations_keeps_every_value(sql_store: SqlStore) -> None:
    project = sql_store.create_project("page", None, "active", False)
    experiment = sql_store.create_experiment(project.id, "page", None)
    now = time.time()
    values = {"a": 1, "b": 0.5, "c": "text, with [brackets]", "d": None, "e": [1, {"x": "y"}],
              "f": True, "g": float("inf"), "h": 2**70}  # fmt: skip
    ids = []
    for n in range(3):
        iteration_id = uuid.uuid4().hex
        ids.append(iteration_id)
        sql_store.create_iteration(iteration_id, f"run-{n}", experiment.id, None, now, {"n": n})
        sql_store.end_iteration(
            iteration_id, "finished", now + 1, parameters={**values, "n": n},
            metrics=[("acc", 0, float("nan"), now), ("loss", 0, 0.25 * n, now)],
            tags={"team": f"t{n}"},
        )  # fmt: skip
    page = sql_store.list_iterations(experiment.id, order_by="name", limit=10)
    assert [i.id for i in page] == ids
    for n, iteration in enumerate(page):
        assert iteration.parameters == {**values, "n": n}
        assert list(iteration.parameters) == sorted(iteration.parameters)
        assert math.isnan(iteration.metrics["acc"].last)
        assert iteration.metrics["loss"].last == 0.25 * n
        assert iteration.tags == {"team": f"t{n}"} and iteration.system == {"n": n}
        assert iteration == sql_store.get_iteration(iteration.id)
    chosen = sql_store.list_iterations(
        experiment.id, order_by="name", parameter_names=["c", "n"], metric_names=["loss"]
    )
    assert [i.parameters for i in chosen] == [{"c": values["c"], "n": n} for n in range(3)]
    assert [list(i.metrics) for i in chosen] == [["loss"]] * 3
    none = sql_store.list_iterations(experiment.id, parameter_names=[], metric_names=[])
    assert [(i.parameters, i.metrics) for i in none] == [({}, {})] * 3


def test_a_damaged_value_text_is_decoded_one_by_one() -> None:
    assert iterations.decoded_parameters(["1", "[2, 3]", '"x"']) == [1, [2, 3], "x"]
    # two texts that would merge into one array element count differently: one by one then
    assert iterations.decoded_parameters(["1", "2"]) == [1, 2]
    try:
        iterations.decoded_parameters(["1,2"])
    except ValueError:
        pass
    else:
        raise AssertionError("a text that is not one JSON value must not decode silently")

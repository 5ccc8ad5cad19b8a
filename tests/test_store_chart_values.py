"""The values the experiment page's charts read (`Store.get_iteration_values`) on every backend
(SQLite, PostgreSQL, the App over HTTP): columns in the search's order, missing values as None,
NaN and infinities kept, text and number parameters, the limit and ``more``, deleted iterations
left out, and the errors that name what to fix."""

from __future__ import annotations

import math
import time

import pytest

from mlops.charts import MAX_CHART_ITERATIONS
from mlops.errors import InvalidInput, NotFound, QuerySyntaxError
from mlops.store.base import Store

#: (name, parameters, final loss or None when not logged)
RUNS = [
    ("r0", {"lr": 0.1, "model": "cnn", "seed": 0}, 1.5),
    ("r1", {"lr": 0.01, "model": "mlp"}, math.nan),
    ("r2", {"lr": 0.001, "model": "cnn", "seed": 2}, math.inf),
    ("r3", {"model": "rf", "seed": 3}, None),
    ("r4", {"lr": 1e-4, "model": "cnn", "seed": 4, "layers": [64, 32]}, -0.0),
]


@pytest.fixture
def experiment(store: Store) -> str:
    project = store.create_project("charts", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    now = time.time()
    for n, (name, params, loss) in enumerate(RUNS):
        store.create_iteration(f"cv-{name}", name, experiment.id, None, now + n, {})
        metrics = [("acc", 0, n / 10, now)] + ([] if loss is None else [("loss", 3, loss, now)])
        store.log_batch(f"cv-{name}", parameters=params, metrics=metrics)
        store.end_iteration(f"cv-{name}", "finished", now + n + 1)
    store.create_iteration("cv-gone", "gone", experiment.id, None, now + 10, {})
    store.log_batch("cv-gone", parameters={"lr": 9.0}, metrics=[("loss", 0, 9.0, now)])
    store.delete_iteration("cv-gone")
    return experiment.id


def _same(got: list[float | None], want: list[float | None]) -> bool:
    return len(got) == len(want) and all(
        (g is None and w is None)
        or (g is not None and w is not None and (g == w or (math.isnan(g) and math.isnan(w))))
        for g, w in zip(got, want, strict=True)
    )


def test_values_are_columns_in_the_search_order(store: Store, experiment: str) -> None:
    found = store.get_iteration_values(
        experiment, order_by="name", parameter_names=["lr", "model", "layers", "lr"],
        metric_names=["loss", "acc", "never"],
    )  # fmt: skip
    assert found.names == ["r0", "r1", "r2", "r3", "r4"]  # the deleted iteration left out
    assert found.ids == [f"cv-{n}" for n in found.names] and found.more is False
    assert list(found.parameters) == ["lr", "model", "layers"]  # each name once, in order
    assert found.parameters["lr"] == [0.1, 0.01, 0.001, None, 1e-4]
    assert found.parameters["model"] == ["cnn", "mlp", "cnn", "rf", "cnn"]
    assert found.parameters["layers"] == [None, None, None, None, [64, 32]]
    assert list(found.metrics) == ["loss", "acc", "never"]
    assert _same(found.metrics["loss"], [1.5, math.nan, math.inf, None, -0.0])
    zero = found.metrics["loss"][4]
    assert zero is not None and math.copysign(1, zero) == -1  # -0.0 kept bit for bit
    assert _same(found.metrics["acc"], [0.0, 0.1, 0.2, 0.3, 0.4])
    assert found.metrics["never"] == [None] * 5


def test_values_follow_the_filter_order_and_limit(store: Store, experiment: str) -> None:
    cnn = store.get_iteration_values(
        experiment, 'params.model = "cnn"', "-name", metric_names=["acc"]
    )
    assert cnn.names == ["r4", "r2", "r0"] and cnn.parameters == {} and cnn.more is False
    first = store.get_iteration_values(experiment, None, "metrics.acc", 2, ["seed"])
    assert first.names == ["r0", "r1"] and first.parameters["seed"] == [0, None]
    assert first.more is True and first.metrics == {}


def test_values_agree_with_the_iterations_a_search_finds(store: Store, experiment: str) -> None:
    found = store.get_iteration_values(experiment, parameter_names=["seed"], metric_names=["loss"])
    listed = store.list_iterations(experiment_id=experiment)
    assert found.ids == [it.id for it in listed]  # the search's default order: newest first
    assert found.parameters["seed"] == [it.parameters.get("seed") for it in listed]


def test_bad_requests_for_values_say_what_to_fix(store: Store, experiment: str) -> None:
    with pytest.raises(NotFound, match="nope"):
        store.get_iteration_values("nope", metric_names=["acc"])
    with pytest.raises(InvalidInput, match=f"between 1 and {MAX_CHART_ITERATIONS}"):
        store.get_iteration_values(experiment, limit=MAX_CHART_ITERATIONS + 1)
    with pytest.raises(InvalidInput, match="between 1 and"):
        store.get_iteration_values(experiment, limit=0)
    with pytest.raises(InvalidInput, match="at most 50"):
        store.get_iteration_values(experiment, parameter_names=[f"p{k}" for k in range(51)])
    with pytest.raises(InvalidInput, match="must not be empty"):
        store.get_iteration_values(experiment, metric_names=[" "])
    with pytest.raises(InvalidInput, match="must be a list"):
        store.get_iteration_values(experiment, parameter_names="lr")
    with pytest.raises(QuerySyntaxError):
        store.get_iteration_values(experiment, filter="params.lr >", metric_names=["acc"])

"""``Store.list_iteration_dicts`` (what ``tracking.list_iterations`` returns) on every backend:
the same dicts as ``Iteration.to_dict()`` of ``list_iterations``, field for field, for
iterations holding everything an iteration can (NaN and infinite metrics, every kind of
parameter, tags, a dataset, a model, an error, a description, a running one); the HTTP store
hands over the App's documents without making entities of them."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from mlops import tracking
from mlops.entities import ModelFile
from mlops.errors import InvalidInput, QuerySyntaxError
from mlops.store.base import Store


def _same(got: Any, want: Any) -> bool:
    """Equal, NaN equal to NaN, at any depth."""
    if isinstance(got, float) and isinstance(want, float) and math.isnan(got):
        return math.isnan(want)
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in got)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want, strict=True))
    return type(got) is type(want) and got == want


@pytest.fixture
def experiment(store: Store) -> str:
    project = store.create_project("dicts", None, "active", False)
    experiment = store.create_experiment(project.id, "everything", None)
    dataset = store.create_dataset(
        "images", "/data/images", None, ("train",), "v1", None, None, None
    )
    now = time.time()
    store.create_iteration("d-full", "full", experiment.id, None, now, {"host": "box"})
    store.log_batch(
        "d-full",
        parameters={"lr": 0.1, "layers": [64, 32], "opt": "adam", "bn": True, "seed": 7,
                    "none": None, "text_nan": "NaN"},
        metrics=[("loss", 0, 2.0, now), ("loss", 1, math.nan, now), ("acc", 0, math.inf, now),
                 ("zero", 0, -0.0, now)],
        dataset_ids=[dataset.id],
        tags={"team": "vision"},
    )  # fmt: skip
    store.set_iteration_description("d-full", "everything at once")
    store.end_iteration(
        "d-full", "failed", now + 12.345678, error={"type": "ValueError", "message": "bad"},
        model=ModelFile("/models/m.pt", 1234, "ab" * 32),
    )  # fmt: skip
    store.create_iteration("d-running", "running", experiment.id, None, now + 1, {})
    store.log_batch("d-running", metrics=[("loss", 0, 1.0, now)])
    return experiment.id


def test_the_dicts_are_the_iterations_to_dict(store: Store, experiment: str) -> None:
    for query in ({}, {"filter": "metrics.loss >= 1", "order_by": "name"}, {"limit": 1}):
        dicts = store.list_iteration_dicts(experiment, **query)  # type: ignore[arg-type]
        entities = store.list_iterations(experiment, **query)  # type: ignore[arg-type]
        want = [i.to_dict() for i in entities]
        assert [d["id"] for d in dicts] == [w["id"] for w in want]
        for got, expected in zip(dicts, want, strict=True):
            # the App's duration is its own float subtraction, the client's from the
            # microsecond timestamps: equal to the microsecond
            if got["duration_seconds"] is not None:
                assert got["duration_seconds"] == pytest.approx(expected["duration_seconds"])
                got = {**got, "duration_seconds": expected["duration_seconds"]}
            assert _same(got, expected), (got, expected)
    full = store.list_iteration_dicts(experiment, filter="name = 'full'")[0]
    assert full["parameters"]["text_nan"] == "NaN" and math.isnan(full["metrics"]["loss"])
    assert full["metrics"]["acc"] == math.inf and math.copysign(1, full["metrics"]["zero"]) < 0
    assert full["status"] == "failed" and full["error"]["message"] == "bad"
    assert full["datasets"][0]["name"] == "images" and full["model"]["path"] == "/models/m.pt"


def test_paging_and_errors_are_those_of_list_iterations(store: Store, experiment: str) -> None:
    assert [d["name"] for d in store.list_iteration_dicts(experiment, order_by="name")] == [
        "full", "running",
    ]  # fmt: skip
    second = store.list_iteration_dicts(experiment, order_by="name", limit=1, offset=1)
    assert [d["name"] for d in second] == ["running"]
    with pytest.raises(QuerySyntaxError):
        store.list_iteration_dicts(experiment, filter="metrics.loss >")
    with pytest.raises(InvalidInput, match="limit"):
        store.list_iteration_dicts(experiment, limit=-1)


def test_tracking_lists_the_same_dicts(tracking_uri: str, tmp_path: Any) -> None:
    project = tracking.create_project(f"dicts-{time.time_ns()}")
    experiment = tracking.create_experiment("sweep", project_id=project["id"])
    with tracking.start_iteration("one", experiment_id=experiment["id"]) as it:
        it.log_parameters({"lr": 0.5, "kind": "NaN"})
        it.log_metric("loss", math.nan, step=0)
    listed = tracking.list_iterations(experiment["id"])
    assert [i["name"] for i in listed] == ["one"] and listed[0]["status"] == "finished"
    assert listed[0]["parameters"] == {"lr": 0.5, "kind": "NaN"}
    assert math.isnan(listed[0]["metrics"]["loss"])
    assert listed[0]._repr_html_().startswith("<")  # still shows as a table in Jupyter

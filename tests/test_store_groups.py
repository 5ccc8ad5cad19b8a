"""Groups of iterations on every backend (SQLite, PostgreSQL, the App over HTTP): keys, missing
keys, "others", tags, filters, deleted iterations left out, mean and spread checked by hand."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import pytest

from mlops.errors import InvalidInput, NotFound, QuerySyntaxError
from mlops.groups import IterationGroup, parse_group_by, parse_group_order
from mlops.store.base import Store

#: (name, parameters, tags, final loss, final acc): the iterations of the experiment.
RUNS: list[tuple[str, dict[str, Any], dict[str, str], float, float]] = [
    ("a1", {"lr": 0.1, "opt": "adam", "seed": 1}, {"model": "cnn"}, 1.0, 0.5),
    ("a2", {"lr": 0.1, "opt": "adam", "seed": 2}, {"model": "cnn"}, 3.0, 0.7),
    ("s1", {"lr": 0.1, "opt": "sgd", "seed": 1}, {"model": "mlp"}, 2.0, 0.6),
    ("b1", {"lr": 0.01, "opt": "adam", "seed": 1}, {"model": "cnn"}, 4.0, 0.8),
    ("b2", {"lr": 0.01, "opt": "adam", "seed": 2}, {}, 6.0, 0.9),
    ("b3", {"lr": 0.01, "opt": "adam", "seed": 3}, {"model": "mlp"}, 8.0, 0.95),
    ("bn", {"lr": 0.01, "opt": "sgd", "seed": 1}, {"model": "mlp"}, math.nan, 0.1),
    ("no-lr", {"opt": "adam", "seed": 1}, {"model": "cnn"}, 5.0, 0.4),
]


def _experiment(store: Store) -> tuple[str, dict[str, str]]:
    project = store.create_project("groups", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    now = time.time()
    ids = {}
    for n, (name, params, tags, loss, acc) in enumerate(RUNS):
        iteration_id = f"g-{name}"
        store.create_iteration(iteration_id, name, experiment.id, None, now + n, {})
        metrics = [("loss", 0, 10.0, now), ("loss", 1, loss, now), ("acc", 1, acc, now)]
        store.log_batch(iteration_id, parameters=params, metrics=metrics, tags=tags or None)
        store.end_iteration(iteration_id, "finished", now + n + 1)
        ids[name] = iteration_id
    gone = "g-deleted"
    store.create_iteration(gone, "deleted", experiment.id, None, now + 50, {})
    store.log_batch(gone, parameters={"lr": 0.01}, metrics=[("loss", 1, 1000.0, now)])
    store.end_iteration(gone, "finished", now + 51)
    store.delete_iteration(gone)
    return experiment.id, ids


def _by_key(groups: list[IterationGroup]) -> dict[tuple[Any, ...], IterationGroup]:
    return {(g.key, g.missing): g for g in groups if not g.others}  # type: ignore[misc]


def test_groups_by_a_parameter_with_count_mean_std_min_max(store: Store) -> None:
    experiment_id, ids = _experiment(store)
    found = store.group_iterations(experiment_id, "params.lr", metrics=["loss", "acc"])
    assert found.group_by == ("params.lr",) and found.metrics == ("loss", "acc")
    assert found.total == 8 and found.group_count == 3  # the deleted iteration is left out
    # by count, most first; the group of iterations without lr is its own, key missing
    assert [(g.key, g.missing, g.count) for g in found.groups] == [
        ((0.01,), (False,), 4),
        ((0.1,), (False,), 3),
        ((None,), (True,), 1),
    ]
    small, big, missing = found.groups
    loss = small.metrics["loss"]  # the NaN of "bn" is left out of the loss, not of the count
    assert loss.count == 3 and loss.mean == pytest.approx(6.0)
    assert loss.std == pytest.approx(statistics.stdev([4.0, 6.0, 8.0]))
    assert (loss.min, loss.max) == (4.0, 8.0)
    acc = big.metrics["acc"]
    assert acc.count == 3 and acc.mean == pytest.approx(0.6)
    assert acc.std == pytest.approx(statistics.stdev([0.5, 0.7, 0.6]))
    assert missing.metrics["loss"].std is None and missing.metrics["loss"].mean == 5.0
    # the ids, newest first, for expanding a group
    assert small.iteration_ids == (ids["bn"], ids["b3"], ids["b2"], ids["b1"])
    assert missing.iteration_ids == (ids["no-lr"],)


def test_several_keys_tags_and_a_filter(store: Store) -> None:
    experiment_id, ids = _experiment(store)
    found = store.group_iterations(
        experiment_id, ["params.opt", "tags.model"], filter="params.seed <= 2", metrics=["loss"]
    )
    assert found.group_by == ("params.opt", "tags.model")
    groups = _by_key(found.groups)
    assert set(groups) == {
        (("adam", "cnn"), (False, False)),  # a1 a2 b1 no-lr
        (("adam", None), (False, True)),  # b2: no model tag
        (("sgd", "mlp"), (False, False)),  # s1 bn
    }
    assert groups[("adam", "cnn"), (False, False)].count == 4
    assert groups[("adam", "cnn"), (False, False)].metrics["loss"].mean == pytest.approx(13 / 4)
    assert groups[("sgd", "mlp"), (False, False)].iteration_ids == (ids["bn"], ids["s1"])
    assert found.total == 7
    # a key in backticks, with the comma inside it, as in the query language
    same = store.group_iterations(experiment_id, "params.`opt`, tags.model", "params.seed <= 2")
    assert [g.count for g in same.groups] == [g.count for g in found.groups]


def test_an_empty_tag_is_a_group_apart_from_a_missing_tag(store: Store) -> None:
    """A tag set to '' groups apart from the iterations without the tag, alone and beside a
    parameter key, with its ids and curves."""
    experiment_id, ids = _experiment(store)
    store.resume(ids["b2"])
    store.log_batch(ids["b2"], tags={"note": ""})
    store.end_iteration(ids["b2"], "finished", time.time())
    found = store.group_iterations(experiment_id, "tags.note", metrics=["acc"])
    assert [(g.key, g.missing, g.count) for g in found.groups] == [
        ((None,), (True,), 7),
        (("",), (False,), 1),
    ]
    assert found.groups[1].iteration_ids == (ids["b2"],)
    assert found.groups[1].metrics["acc"].mean == 0.9
    both = _by_key(store.group_iterations(experiment_id, "params.opt, tags.note").groups)
    assert both[("adam", ""), (False, False)].iteration_ids == (ids["b2"],)
    assert both[("adam", None), (False, True)].count == 5
    curves = store.group_series(experiment_id, "tags.note", "loss")
    assert [(c.group.key, c.counts) for c in curves.curves] == [((None,), [7, 6]), (("",), [1, 1])]


def test_groups_past_the_limit_are_gathered_in_others(store: Store) -> None:
    experiment_id, _ = _experiment(store)
    found = store.group_iterations(experiment_id, "params.seed", metrics=["loss"], limit=1)
    assert [(g.key, g.count) for g in found.groups[:1]] == [((1,), 5)]
    others = found.groups[-1]
    assert others.others and others.groups == 2 and others.count == 3
    assert others.key == () and others.iteration_ids == ()
    assert others.metrics["loss"].mean == pytest.approx((3.0 + 6.0 + 8.0) / 3)
    assert (others.metrics["loss"].min, others.metrics["loss"].max) == (3.0, 8.0)
    assert found.group_count == 3 and found.total == 8
    assert not any(g.others for g in store.group_iterations(experiment_id, "params.seed").groups)


def test_groups_ordered_by_a_metric_aggregate(store: Store) -> None:
    experiment_id, _ = _experiment(store)
    found = store.group_iterations(experiment_id, "params.lr", order="mean(metrics.loss) asc")
    assert found.metrics == ("loss",)  # the ordering metric is aggregated too
    assert [g.key for g in found.groups] == [(0.1,), (None,), (0.01,)]
    found = store.group_iterations(experiment_id, "params.lr", order="max(metrics.acc) desc")
    assert [g.key for g in found.groups] == [(0.01,), (0.1,), (None,)]
    found = store.group_iterations(experiment_id, "params.lr", order="count asc", ids_per_group=0)
    assert [g.count for g in found.groups] == [1, 3, 4]
    assert all(g.iteration_ids == () for g in found.groups)


def test_bad_groupings_are_refused_naming_the_fix(store: Store) -> None:
    experiment_id, _ = _experiment(store)
    with pytest.raises(InvalidInput, match="group by parameters or tags"):
        store.group_iterations(experiment_id, "metrics.loss")
    with pytest.raises(InvalidInput, match="names no key"):
        store.group_iterations(experiment_id, " ")
    with pytest.raises(InvalidInput, match="order groups by count"):
        store.group_iterations(experiment_id, "params.lr", order="median(metrics.loss)")
    with pytest.raises(InvalidInput, match="limit must be"):
        store.group_iterations(experiment_id, "params.lr", limit=0)
    with pytest.raises(QuerySyntaxError):
        store.group_iterations(experiment_id, "params.lr", filter="params.lr >")
    with pytest.raises(NotFound, match="experiment 'nope' not found"):
        store.group_iterations("nope", "params.lr")


def test_group_mean_curves_by_step_checked_by_hand(store: Store) -> None:
    project = store.create_project("curves", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    now = time.time()
    series = {  # lr 0.1: two iterations; lr 0.2: one, with a NaN at step 1 and no step 2
        "x1": (0.1, [(0, 1.0), (1, 2.0), (2, 3.0)]),
        "x2": (0.1, [(0, 3.0), (1, 6.0), (2, 5.0)]),
        "y1": (0.2, [(0, 7.0), (1, math.nan)]),
    }
    for n, (name, (lr, points)) in enumerate(series.items()):
        store.create_iteration(name, name, experiment.id, None, now + n, {})
        rows = [("loss", step, value, now) for step, value in points]
        store.log_batch(name, parameters={"lr": lr}, metrics=rows)
    found = store.group_series(experiment.id, "params.lr", "loss")
    assert found.metric == "loss" and found.group_by == ("params.lr",) and not found.downsampled
    first, second = found.curves
    assert first.group.key == (0.1,) and first.group.count == 2
    assert first.steps == [0, 1, 2]
    assert first.mean == pytest.approx([2.0, 4.0, 4.0])
    assert first.std == pytest.approx([math.sqrt(2), math.sqrt(8), math.sqrt(2)])
    assert (first.min, first.max, first.counts) == ([1.0, 2.0, 3.0], [3.0, 6.0, 5.0], [2, 2, 2])
    assert second.group.key == (0.2,) and second.steps == [0, 1]
    assert second.mean == [7.0, None] and second.std == [None, None] and second.counts == [1, 0]
    # downsampled: 3 steps into 2 buckets, each its last step and the average of its means
    small = store.group_series(experiment.id, "params.lr", "loss", limit=1, max_points=2)
    assert small.downsampled
    assert small.curves[0].steps == [1, 2] and small.curves[0].mean == pytest.approx([3.0, 4.0])
    others = small.curves[-1]  # steps 0 and 1 share a bucket; the NaN adds no value
    assert others.group.others and others.steps == [1] and others.mean == [7.0]
    # ordered by a metric's final values (lr 0.2 ends on a NaN: no mean, so it comes last)
    by_loss = store.group_series(experiment.id, "params.lr", "loss", order="max(metrics.loss)")
    assert [c.group.key for c in by_loss.curves] == [(0.1,), (0.2,)]
    assert by_loss.curves[0].mean == first.mean


def test_group_by_and_order_parse_as_the_query_language_does() -> None:
    assert [f.name for f in parse_group_by("params.`a,b`, tags.model")] == ["a,b", "model"]
    assert [f.kind for f in parse_group_by(["params.x", "tags.y", "params.x"])] == ["param", "tag"]
    assert parse_group_order("metrics.acc desc").text() == "mean(metrics.acc) desc"
    assert parse_group_order(None).text() == "count desc"
    assert parse_group_order("MIN(metrics.`val loss`)").text() == "min(metrics.`val loss`) desc"


def test_ids_of_each_group_are_its_newest_from_one_query(sql_store: Store) -> None:
    """Each listed group's ids are its newest iterations (the filter applied, the deleted one
    left out, at most ``ids_per_group``), read by one query for all the groups."""
    from sqlalchemy import event

    from mlops.store.sql.store import SqlStore

    assert isinstance(sql_store, SqlStore)
    experiment_id, ids = _experiment(sql_store)
    started = {name: n for n, (name, *_rest) in enumerate(RUNS)}

    def newest(names: list[str], cap: int) -> tuple[str, ...]:
        return tuple(ids[n] for n in sorted(names, key=started.__getitem__, reverse=True)[:cap])

    selects: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "ORDER BY iterations.started_at DESC" in statement:
            selects.append(statement)

    event.listen(sql_store._engine, "before_cursor_execute", count)
    try:
        found = sql_store.group_iterations(experiment_id, "params.lr, params.opt", ids_per_group=2)
        filtered = sql_store.group_iterations(
            experiment_id, "params.opt", "metrics.acc >= 0.5", ids_per_group=3
        )
    finally:
        event.remove(sql_store._engine, "before_cursor_execute", count)
    assert len(selects) == 2  # one query of ids per grouping, whatever the number of groups
    assert {(g.key, g.iteration_ids) for g in found.groups} == {
        ((0.01, "adam"), newest(["b1", "b2", "b3"], 2)),
        ((0.1, "adam"), newest(["a1", "a2"], 2)),
        ((0.01, "sgd"), newest(["bn"], 2)),
        ((0.1, "sgd"), newest(["s1"], 2)),
        ((None, "adam"), newest(["no-lr"], 2)),
    }
    assert [(g.key, g.count, g.iteration_ids) for g in filtered.groups] == [
        (("adam",), 5, newest(["a1", "a2", "b1", "b2", "b3"], 3)),
        (("sgd",), 1, newest(["s1"], 3)),
    ]

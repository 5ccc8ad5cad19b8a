"""Saved views of experiment pages and the live state of running iterations, checked on every
backend (SQLite, PostgreSQL, a real App over HTTP) by the same tests."""

from __future__ import annotations

import math
import time

import pytest

from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store.base import Store


def _experiment(store: Store, name: str = "sweep") -> str:
    project = store.create_project(f"vision-{name}", None, "active", False)
    return store.create_experiment(project.id, name, None).id


def test_a_view_is_saved_listed_renamed_updated_and_deleted(store: Store) -> None:
    experiment = _experiment(store)
    state = {"filter": "metrics.acc > 0.9", "metrics": "acc,loss", "future_key": "kept"}
    saved = store.create_view(experiment, "best runs", {**state, "page": "3", "view": "x"})
    assert saved.name == "best runs" and saved.experiment_id == experiment
    assert saved.state == state  # unknown keys kept, where-one-is keys (page, view) left out
    assert len(saved.short_id) == 8 and saved.short_id.isalnum()
    assert saved.created_by and saved.created_at <= saved.updated_at
    other = store.create_view(experiment, "all", {})
    assert [v.name for v in store.list_views(experiment)] == ["all", "best runs"]
    assert store.get_view(saved.short_id) == saved

    renamed = store.update_view(experiment, saved.id, name="top runs")
    assert (renamed.name, renamed.state, renamed.short_id) == ("top runs", state, saved.short_id)
    changed = store.update_view(experiment, saved.short_id, state={"order_by": "metrics.acc desc"})
    assert (changed.name, changed.state) == ("top runs", {"order_by": "metrics.acc desc"})
    assert store.get_view(saved.short_id).state == {"order_by": "metrics.acc desc"}

    with pytest.raises(AlreadyExists, match=f"'all' \\(id {other.id}\\)"):
        store.update_view(experiment, saved.id, name="all")
    with pytest.raises(AlreadyExists, match="'all'"):
        store.create_view(experiment, "all", {"filter": "x"})
    store.delete_view(experiment, other.id)
    assert [v.name for v in store.list_views(experiment)] == ["top runs"]
    with pytest.raises(NotFound, match=f"view {other.id!r}"):
        store.delete_view(experiment, other.id)
    with pytest.raises(NotFound, match=f"view {other.short_id!r}"):
        store.get_view(other.short_id)


def test_views_belong_to_their_experiment(store: Store) -> None:
    first, second = _experiment(store, "a"), _experiment(store, "b")
    view = store.create_view(first, "mine", {"filter": "status = 'running'"})
    assert store.create_view(second, "mine", {}).name == "mine"  # names are per experiment
    assert [v.name for v in store.list_views(second)] == ["mine"]
    with pytest.raises(NotFound, match="in experiment"):
        store.update_view(second, view.id, name="stolen")
    with pytest.raises(NotFound, match="experiment 'nope'"):
        store.list_views("nope")
    with pytest.raises(NotFound, match="experiment 'nope'"):
        store.create_view("nope", "x", {})


@pytest.mark.parametrize(
    ("name", "state", "message"),
    [
        ("", {}, "view name"),
        ("ok", {"filter": 3}, "view parameter 'filter' must be text"),
        ("ok", {"bad key!": "x"}, "not an address parameter name"),
        ("ok", {f"k{i}": "x" for i in range(65)}, "at most 64"),
        ("ok", {"filter": "x" * 20_000}, "the limit is 16384"),
        ("ok", ["filter"], "object of address parameters"),
    ],
)
def test_a_bad_view_is_refused_naming_what_to_fix(
    store: Store, name: str, state: object, message: str
) -> None:
    experiment = _experiment(store)
    with pytest.raises(InvalidInput, match=message):
        store.create_view(experiment, name, state)  # type: ignore[arg-type]
    assert store.list_views(experiment) == []


def test_the_live_state_follows_the_series_and_marks_a_replaced_step(store: Store) -> None:
    experiment = _experiment(store)
    now = time.time()
    store.create_iteration("run-a", "a", experiment, None, now, {})
    store.create_iteration("run-b", "b", experiment, None, now, {})
    store.log_batch("run-a", metrics=[("loss", 0, 1.0, now), ("loss", 1, 0.5, now)])
    live = store.get_live_iterations(experiment, ["run-b", "run-a", "elsewhere"])
    assert [i.id for i in live] == ["run-b", "run-a"]  # the order asked; others left out
    a = live[1]
    assert (a.status, a.ended_at, a.name) == ("running", None, "a")
    assert a.metrics["loss"].last == 0.5 and a.metrics["loss"].last_step == 1
    marker = a.metrics["loss"].rewrites

    store.log_batch("run-a", metrics=[("loss", 2, 0.25, now), ("loss", 3, math.nan, now)])
    series = store.get_live_iterations(experiment, ["run-a"])[0].metrics["loss"]
    assert series.last_step == 3 and math.isnan(series.last)
    assert series.rewrites == marker  # appending leaves the marker alone

    store.log_batch("run-a", metrics=[("loss", 1, 9.0, now)])  # an earlier step replaced
    series = store.get_live_iterations(experiment, ["run-a"])[0].metrics["loss"]
    assert series.last_step == 3 and series.rewrites == marker + 1

    store.end_iteration("run-b", "finished", time.time())
    assert store.get_live_iterations(experiment, ["run-b"])[0].status == "finished"
    assert store.get_live_iterations(experiment, []) == []
    with pytest.raises(NotFound, match="experiment 'nope'"):
        store.get_live_iterations("nope", ["run-a"])
    with pytest.raises(InvalidInput, match="at most 200"):
        store.get_live_iterations(experiment, [f"i{k}" for k in range(201)])


def test_points_after_a_step_are_what_a_live_page_reads(store: Store) -> None:
    experiment = _experiment(store)
    now = time.time()
    store.create_iteration("run", "run", experiment, None, now, {})
    store.log_batch("run", metrics=[("loss", s, 1.0 / (s + 1), now) for s in range(5)])
    assert [p.step for p in store.get_metric_page("run", "loss", after_step=2)] == [3, 4]
    assert store.get_metric_page("run", "loss", after_step=4) == []

"""Delete, restore, rename, tags after the fact, and every value of a metric (MLflow's way),
checked on every backend (SQLite, PostgreSQL, a real App over HTTP) by the same tests."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import pytest

from mlops.entities import Experiment, Iteration
from mlops.errors import AlreadyExists, InvalidInput, IterationEnded, NotFound
from mlops.store.base import Store


def _experiment(store: Store, title: str = "vision", name: str = "sweep") -> tuple[str, str]:
    project = store.create_project(title, None, "active", False)
    return project.id, store.create_experiment(project.id, name, None).id


def _start(store: Store, iteration_id: str, experiment_id: str, name: str = "run") -> str:
    return store.create_iteration(iteration_id, name, experiment_id, None, time.time(), {}).id


def _ids(items: Sequence[Experiment | Iteration]) -> list[str]:
    return sorted(i.id for i in items)


def test_a_deleted_experiment_and_its_iterations_leave_lists_counts_and_searches(
    store: Store,
) -> None:
    project_id, gone = _experiment(store)
    kept = store.create_experiment(project_id, "kept", None).id
    now = time.time()
    for iteration_id, experiment_id in (("a1", gone), ("a2", gone), ("b1", kept)):
        _start(store, iteration_id, experiment_id)
        store.log_batch(iteration_id, {"lr": 0.1}, [("loss", 0, 0.5, now)])

    deleted = store.delete_experiment(gone)
    assert deleted.deleted_at is not None and deleted.name == "sweep"
    assert store.delete_experiment(gone) == deleted  # deleting again changes nothing
    assert store.get_experiment(gone) == deleted
    assert _ids(store.list_experiments(project_id)) == [kept]
    assert _ids(store.list_experiments(project_id, deleted=True)) == [gone]
    assert _ids(store.list_experiments(project_id, deleted=None)) == sorted([gone, kept])
    assert store.find_experiment(project_id, "sweep") is None
    # iterations of a deleted experiment count as deleted, wherever they are looked for
    assert _ids(store.list_iterations(project_id=project_id)) == ["b1"]
    assert store.list_iterations(experiment_id=gone) == []
    assert store.count_iterations(project_id=project_id) == 1
    assert _ids(store.list_iterations(filter="params.lr = 0.1")) == ["b1"]
    assert _ids(store.list_iterations(order_by="metrics.loss desc")) == ["b1"]
    assert store.count_iterations(filter="metrics.loss < 1") == 1
    assert _ids(store.list_iterations(project_id=project_id, deleted=True)) == ["a1", "a2"]
    assert store.count_iterations(experiment_id=gone, deleted=True) == 2
    assert store.count_iterations(deleted=None) == 3
    assert store.get_iteration("a1").deleted_at is None  # still readable by id

    restored = store.restore_experiment(gone)
    assert restored.deleted_at is None and restored.id == gone
    assert store.restore_experiment(gone) == restored
    assert _ids(store.list_iterations(project_id=project_id)) == ["a1", "a2", "b1"]
    assert store.find_experiment(project_id, "sweep") == restored


def test_a_deleted_iteration_is_hidden_until_restored(store: Store) -> None:
    project_id, experiment_id = _experiment(store)
    now = time.time()
    for iteration_id in ("keep", "drop"):
        _start(store, iteration_id, experiment_id)
        store.log_batch(iteration_id, None, [("acc", 0, 0.9, now)])
    store.end_iteration("drop", "finished", time.time())

    deleted = store.delete_iteration("drop")
    assert deleted.deleted_at is not None and deleted.status == "finished"
    assert store.delete_iteration("drop").deleted_at == deleted.deleted_at
    assert store.get_iteration("drop").deleted_at == deleted.deleted_at
    assert store.get_iteration("drop").to_dict()["deleted_at"] is not None
    assert _ids(store.list_iterations(experiment_id=experiment_id)) == ["keep"]
    assert _ids(store.list_iterations(order_by="metrics.acc asc", limit=10)) == ["keep"]
    assert store.count_iterations(project_id=project_id) == 1
    assert _ids(store.list_iterations(deleted=True)) == ["drop"]
    assert store.get_metric_history("drop", "acc")[0].value == 0.9  # what it logged stays

    restored = store.restore_iteration("drop")
    assert restored.deleted_at is None and restored.metrics["acc"].last == 0.9
    assert store.count_iterations(experiment_id=experiment_id) == 2
    with pytest.raises(NotFound, match="nope"):
        store.delete_iteration("nope")
    with pytest.raises(NotFound, match="nope"):
        store.restore_experiment("nope")


def test_a_deleted_experiments_name_is_free_at_once_and_restoring_into_it_is_refused(
    store: Store,
) -> None:
    project_id, old = _experiment(store)
    store.delete_experiment(old)
    new = store.create_experiment(project_id, "sweep", None)
    assert store.find_experiment(project_id, "sweep") == new
    with pytest.raises(AlreadyExists, match=rf"{new.id}.*rename") as refused:
        store.restore_experiment(old)
    assert "'sweep'" in str(refused.value)
    assert store.get_experiment(old).deleted_at is not None  # still deleted
    with pytest.raises(InvalidInput, match="deleted"):
        _start(store, "late", old)  # a run into a deleted experiment

    store.rename_experiment(old, "sweep-old")
    restored = store.restore_experiment(old)
    assert (restored.name, restored.deleted_at) == ("sweep-old", None)
    assert _ids(store.list_experiments(project_id)) == sorted([old, new.id])
    # a project's default experiment, deleted, is made anew for the next iteration
    default = store.create_iteration("d1", "run", None, project_id, time.time(), {})
    store.delete_experiment(default.experiment_id)
    again = store.create_iteration("d2", "run", None, project_id, time.time(), {})
    assert again.experiment_id != default.experiment_id


def test_experiments_and_iterations_are_renamed(store: Store) -> None:
    project_id, experiment_id = _experiment(store)
    other = store.create_experiment(project_id, "other", None)
    with pytest.raises(AlreadyExists, match=other.id):
        store.rename_experiment(experiment_id, "other")
    renamed = store.rename_experiment(experiment_id, "sweep-2")
    assert renamed.name == "sweep-2" and store.get_experiment(experiment_id) == renamed
    assert store.rename_experiment(experiment_id, "sweep-2") == renamed
    assert store.find_experiment(project_id, "sweep-2") == renamed
    with pytest.raises(InvalidInput, match="experiment name"):
        store.rename_experiment(experiment_id, "")

    _start(store, "it", experiment_id, name="first")
    store.end_iteration("it", "finished", time.time())
    assert store.rename_iteration("it", "best run").name == "best run"  # ended: allowed
    assert store.get_iteration("it").name == "best run"
    assert _ids(store.list_iterations(filter='name = "best run"')) == ["it"]
    with pytest.raises(InvalidInput, match="iteration name"):
        store.rename_iteration("it", "x" * 300)
    with pytest.raises(NotFound):
        store.rename_iteration("nope", "x")


def test_tags_change_on_ended_iterations_and_can_be_deleted(store: Store) -> None:
    _, experiment_id = _experiment(store)
    _start(store, "it", experiment_id)
    store.log_batch("it", tags={"team": "cv", "gpu": "a100"})
    store.end_iteration("it", "finished", time.time())
    with pytest.raises(IterationEnded):
        store.log_batch("it", tags={"late": "x"})  # the training path stays closed

    tagged = store.set_iteration_tags("it", {"reviewed": "yes", "gpu": "h100"}, delete=["team"])
    assert tagged.tags == {"gpu": "h100", "reviewed": "yes"}
    assert store.set_iteration_tags("it", delete=["absent"]).tags == tagged.tags
    assert store.get_iteration("it").tags == tagged.tags
    assert _ids(store.list_iterations(filter='tags.reviewed = "yes"')) == ["it"]
    with pytest.raises(InvalidInput, match="both set and deleted"):
        store.set_iteration_tags("it", {"a": "1"}, delete=["a"])
    with pytest.raises(InvalidInput, match="must be text"):
        store.set_iteration_tags("it", {"a": 1})  # type: ignore[dict-item]
    with pytest.raises(NotFound):
        store.set_iteration_tags("nope", {"a": "1"})


def test_experiments_have_tags(store: Store) -> None:
    project_id, experiment_id = _experiment(store)
    assert store.get_experiment(experiment_id).tags == {}
    tagged = store.set_experiment_tags(experiment_id, {"mlops.project": "vision", "owner": "ada"})
    assert tagged.tags == {"mlops.project": "vision", "owner": "ada"}
    assert tagged.to_dict()["tags"] == tagged.tags
    changed = store.set_experiment_tags(experiment_id, {"owner": "bob"}, delete=["mlops.project"])
    assert changed.tags == {"owner": "bob"}
    assert store.get_experiment(experiment_id) == changed
    assert store.list_experiments(project_id)[0].tags == {"owner": "bob"}
    assert store.find_experiment(project_id, "sweep") == changed
    with pytest.raises(InvalidInput, match="tag key"):
        store.set_experiment_tags(experiment_id, {"": "x"})


def test_every_value_keeps_each_value_of_a_loop_without_steps(store: Store) -> None:
    """MLflow's ``log_metric("loss", v)`` in a loop: every value at step 0, in order, even
    values equal to an earlier one (at another time)."""
    _, experiment_id = _experiment(store)
    _start(store, "it", experiment_id)
    start = float(int(time.time()))  # whole seconds: ISO times over HTTP keep microseconds
    values = [0.9, 0.5, 0.5, 0.7, 0.2, 0.5]
    for n, value in enumerate(values):
        store.log_batch("it", metrics=[("loss", 0, value, start + n)], every_value=True)
    history = store.get_metric_history("it", "loss")
    assert [(p.step, p.value, p.timestamp) for p in history] == [
        (0, v, start + n) for n, v in enumerate(values)
    ]
    summary = store.get_iteration("it").metrics["loss"]
    assert (summary.last, summary.last_step, summary.min, summary.max) == (0.5, 0, 0.2, 0.9)


def test_a_retried_every_value_batch_stores_nothing_twice(store: Store) -> None:
    _, experiment_id = _experiment(store)
    _start(store, "it", experiment_id)
    t = time.time()
    batch = [("loss", 0, 1.0, t), ("loss", 0, 0.8, t + 1), ("acc", 3, math.nan, t)]
    store.log_batch("it", metrics=batch, every_value=True)
    store.log_batch("it", metrics=batch, every_value=True)  # the same request again
    # a retry of part of it, with one new point, and a point twice within one batch
    store.log_batch(
        "it", metrics=[batch[1], ("loss", 0, 0.6, t + 2), ("loss", 0, 0.6, t + 2)],
        every_value=True,
    )  # fmt: skip
    loss = store.get_metric_history("it", "loss")
    assert [(p.step, p.value) for p in loss] == [(0, 1.0), (0, 0.8), (0, 0.6)]
    [acc] = store.get_metric_history("it", "acc")
    assert acc.step == 3 and math.isnan(acc.value)
    summary = store.get_iteration("it").metrics["loss"]
    assert (summary.last, summary.min, summary.max) == (0.6, 0.6, 1.0)


def test_native_writes_still_replace_a_step(store: Store) -> None:
    _, experiment_id = _experiment(store)
    _start(store, "it", experiment_id)
    t = time.time()
    store.log_batch("it", metrics=[("loss", 1, 0.9, t), ("loss", 2, 0.8, t)])
    store.log_batch("it", metrics=[("loss", 1, 0.3, t + 1)])  # step 1 again: replaced
    assert [(p.step, p.value) for p in store.get_metric_history("it", "loss")] == [
        (1, 0.3),
        (2, 0.8),
    ]
    # an every_value point at an occupied step is kept beside the one there
    store.log_batch("it", metrics=[("loss", 2, 0.1, t + 2)], every_value=True)
    assert [(p.step, p.value) for p in store.get_metric_history("it", "loss")] == [
        (1, 0.3),
        (2, 0.8),
        (2, 0.1),
    ]
    summary = store.get_iteration("it").metrics["loss"]
    assert (summary.last, summary.last_step, summary.min, summary.max) == (0.1, 2, 0.1, 0.8)


def test_summaries_follow_the_series_with_several_values_per_step(store: Store) -> None:
    _, experiment_id = _experiment(store)
    _start(store, "it", experiment_id)
    t = time.time()
    store.log_batch("it", metrics=[("m", 5, 2.0, t), ("m", 5, 3.0, t + 1)], every_value=True)
    summary = store.get_iteration("it").metrics["m"]
    assert (summary.last, summary.last_step) == (3.0, 5)
    # a late point at an earlier step: the last value stays the latest of the highest step
    store.log_batch("it", metrics=[("m", 1, -4.0, t + 2)], every_value=True)
    summary = store.get_iteration("it").metrics["m"]
    assert (summary.last, summary.last_step, summary.min, summary.max) == (3.0, 5, -4.0, 3.0)
    # steps going back inside one batch, and NaN, which min and max ignore
    store.log_batch(
        "it", metrics=[("m", 7, math.nan, t + 3), ("m", 6, 9.0, t + 4), ("m", 7, 1.5, t + 5)],
        every_value=True,
    )  # fmt: skip
    summary = store.get_iteration("it").metrics["m"]
    assert (summary.last, summary.last_step, summary.min, summary.max) == (1.5, 7, -4.0, 9.0)
    history = store.get_metric_history("it", "m")
    assert [p.step for p in history] == [1, 5, 5, 6, 7, 7]
    assert math.isnan(history[4].value) and history[5].value == 1.5
    assert [i.id for i in store.list_iterations(filter="metrics.m.last = 1.5")] == ["it"]


def test_a_series_with_many_values_per_step_is_downsampled_to_true_points(store: Store) -> None:
    _, experiment_id = _experiment(store)
    _start(store, "it", experiment_id)
    t = float(int(time.time()))  # whole seconds: ISO times over HTTP keep microseconds
    # 300 values at step 0 (a loop without steps) with a spike and a gap, then 100 at step 1
    rows = [("m", 0, float(n % 7), t + n) for n in range(300)]
    rows[150] = ("m", 0, 1000.0, t + 150)
    rows[200] = ("m", 0, math.nan, t + 200)
    rows += [("m", 1, -float(n), t + 300 + n) for n in range(100)]
    store.log_batch("it", metrics=rows, every_value=True)
    points, total = store.get_metric_series("it", "m", 40)
    assert total == 400 and 4 <= len(points) <= 41
    stored = [(p.step, p.timestamp) for p in store.get_metric_history("it", "m")]
    assert [(p.step, p.timestamp) for p in points] == sorted((p.step, p.timestamp) for p in points)
    assert all((p.step, p.timestamp) in stored for p in points)
    values = [p.value for p in points]
    assert 1000.0 in values and -99.0 in values and any(math.isnan(v) for v in values)
    assert (points[0].timestamp, points[-1].timestamp) == (t, t + 399)
    # a series with one value per step keeps being cut by steps
    store.log_batch("it", metrics=[("n", s, float(s), t) for s in range(100)])
    points, total = store.get_metric_series("it", "n", 10)
    assert total == 100 and points[0].step == 0 and points[-1].step == 99 and len(points) <= 10


def test_lifecycle_arguments_are_checked(store: Store) -> None:
    _, experiment_id = _experiment(store)
    _start(store, "it", experiment_id)
    with pytest.raises(InvalidInput, match="deleted"):
        store.list_iterations(deleted="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="every_value"):
        store.log_batch("it", metrics=[("m", 0, 1.0, time.time())], every_value=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="delete"):
        store.set_iteration_tags("it", delete="team")  # a string is not a list of keys


def test_a_history_read_in_pages_keeps_every_value_of_a_step(store: Store) -> None:
    _, experiment_id = _experiment(store)
    _start(store, "it", experiment_id)
    t = float(int(time.time()))
    rows = [("m", step, float(n), t + n) for n, step in enumerate([0, 1, 1, 1, 1, 2, 3])]
    store.log_batch("it", metrics=rows, every_value=True)
    first = store.get_metric_page("it", "m", None, 3)  # ends inside step 1: step 1 entire
    assert [(p.step, p.value) for p in first] == [(0, 0.0), (1, 1.0), (1, 2.0), (1, 3.0), (1, 4.0)]
    rest = store.get_metric_page("it", "m", first[-1].step, 3)
    assert [(p.step, p.value) for p in rest] == [(2, 5.0), (3, 6.0)]

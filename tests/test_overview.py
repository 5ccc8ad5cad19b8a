"""Read models behind the App's pages, on every SQL backend."""

from __future__ import annotations

import time

from mlops.store.sql.store import SqlStore


def test_overviews_count_and_rank(sql_store: SqlStore) -> None:
    vision = sql_store.create_project("Vision", None, "active", False)
    sql_store.create_project("old", None, "active", True)
    a = sql_store.create_experiment(vision.id, "a", None)
    b = sql_store.create_experiment(vision.id, "b", None)
    data = sql_store.create_dataset("digits", "/d", None, [], "1", "sha256:1", 1, 1)
    for i, experiment in enumerate([a, a, b]):
        sql_store.create_iteration(f"i{i}", f"r{i}", experiment.id, None, time.time(), {})
        sql_store.log_batch(
            f"i{i}", metrics=[("acc", 0, 0.5 + i / 10, time.time())], dataset_ids=[data.id]
        )
    [overview] = sql_store.project_overviews(search="vis")
    assert (overview.experiment_count, overview.iteration_count) == (2, 3)
    assert overview.last_activity is not None
    assert [p.project.title for p in sql_store.project_overviews(include_archived=True)] == [
        "old",
        "Vision",
    ]
    best = {e.experiment.name: e for e in sql_store.experiment_overviews(vision.id, "acc", "max")}
    assert (best["a"].iteration_count, best["a"].best, best["b"].best) == (2, 0.6, 0.7)
    lowest = sql_store.experiment_overviews(vision.id, "acc", "min")
    low = {e.experiment.name: e.best for e in lowest}
    assert low["a"] == 0.5
    assert [d.id for d in sql_store.project_datasets(vision.id)] == [data.id]
    [(version, used)] = sql_store.dataset_lineage("digits")
    assert version.id == data.id and {u.id for u in used} == {"i0", "i1", "i2"}
    assert {u.experiment_name for u in used} == {"a", "b"} and used[0].project_title == "Vision"
    assert sql_store.iteration_columns(a.id) == (["acc"], [])


def test_lineage_is_the_same_for_rarely_and_widely_used_datasets(
    sql_store: SqlStore, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from mlops.store.sql import overview

    project = sql_store.create_project("p", None, "active", False)
    experiment = sql_store.create_experiment(project.id, "e", None)
    data = sql_store.create_dataset("d", "/d", None, [], "1", "sha256:1", 1, 1)
    for i in range(6):
        sql_store.create_iteration(f"u{i}", f"u{i}", experiment.id, None, 1000.0 + i, {})
        sql_store.log_batch(f"u{i}", dataset_ids=[data.id])
    rare = [u.id for u in sql_store.dataset_lineage("d", per_version=4)[0][1]]
    monkeypatch.setattr(overview, "_POPULAR", 2)  # now the dataset counts as widely used
    wide = [u.id for u in sql_store.dataset_lineage("d", per_version=4)[0][1]]
    assert rare == wide == ["u5", "u4", "u3", "u2"]


def test_deleted_experiments_and_iterations_leave_every_read_model(sql_store: SqlStore) -> None:
    """The overview, project and experiment pages and the lineage read live rows only."""
    project = sql_store.create_project("p", None, "active", False)
    kept = sql_store.create_experiment(project.id, "kept", None)
    gone = sql_store.create_experiment(project.id, "gone", None)
    data = sql_store.create_dataset("d", "/d", None, [], "1", "sha256:1", 1, 1)
    other = sql_store.create_dataset("o", "/o", None, [], "1", "sha256:2", 1, 1)
    rows = [("live", kept, 0.5, data), ("dropped", kept, 0.9, data), ("in-gone", gone, 0.8, other)]
    for iteration_id, experiment, acc, dataset in rows:
        sql_store.create_iteration(iteration_id, iteration_id, experiment.id, None, 1.0, {})
        sql_store.log_batch(
            iteration_id, {iteration_id: 1}, [("acc", 0, acc, 1.0)], dataset_ids=[dataset.id]
        )
    sql_store.delete_iteration("dropped")
    sql_store.delete_experiment(gone.id)

    [overview] = sql_store.project_overviews()
    assert (overview.experiment_count, overview.iteration_count) == (1, 1)
    [experiment] = sql_store.experiment_overviews(project.id, "acc", "max")
    assert (experiment.experiment.id, experiment.iteration_count) == (kept.id, 1)
    assert (experiment.best, experiment.best_iteration) == (0.5, ("live", "live"))
    assert sql_store.iteration_columns(kept.id) == (["acc"], ["live"])
    assert [d.id for d in sql_store.project_datasets(project.id)] == [data.id]
    assert [u.id for u in sql_store.dataset_lineage("d")[0][1]] == ["live"]
    assert sql_store.dataset_lineage("o")[0][1] == []

    sql_store.restore_experiment(gone.id)
    sql_store.restore_iteration("dropped")
    [overview] = sql_store.project_overviews()
    assert (overview.experiment_count, overview.iteration_count) == (2, 3)

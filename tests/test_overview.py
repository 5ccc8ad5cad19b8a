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

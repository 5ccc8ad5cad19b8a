"""Read models behind the App's pages, on every SQL backend."""

from __future__ import annotations

import time

from mlops.store.sql.store import SqlStore


def test_overviews_count_and_rank(store: SqlStore) -> None:
    vision = store.create_project("Vision", None, "active", False)
    store.create_project("old", None, "active", True)
    a = store.create_experiment(vision.id, "a", None)
    b = store.create_experiment(vision.id, "b", None)
    data = store.create_dataset("digits", "/d", None, [], "1", "sha256:1", 1, 1)
    for i, experiment in enumerate([a, a, b]):
        store.create_iteration(f"i{i}", f"r{i}", experiment.id, None, time.time(), {})
        store.log_batch(
            f"i{i}", metrics=[("acc", 0, 0.5 + i / 10, time.time())], dataset_ids=[data.id]
        )
    [overview] = store.project_overviews(search="vis")
    assert (overview.experiment_count, overview.iteration_count) == (2, 3)
    assert overview.last_activity is not None
    assert [p.project.title for p in store.project_overviews(include_archived=True)] == [
        "old",
        "Vision",
    ]
    best = {e.experiment.name: e for e in store.experiment_overviews(vision.id, "acc", "max")}
    assert (best["a"].iteration_count, best["a"].best, best["b"].best) == (2, 0.6, 0.7)
    low = {e.experiment.name: e.best for e in store.experiment_overviews(vision.id, "acc", "min")}
    assert low["a"] == 0.5
    assert [d.id for d in store.project_datasets(vision.id)] == [data.id]
    [(version, used)] = store.dataset_lineage("digits")
    assert version.id == data.id and {u.id for u in used} == {"i0", "i1", "i2"}
    assert {u.experiment_name for u in used} == {"a", "b"} and used[0].project_title == "Vision"
    assert store.iteration_columns(a.id) == (["acc"], [])

"""Purging deleted iterations and experiments for good, on every backend."""

from __future__ import annotations

import time

import pytest

from mlops.errors import InvalidInput, NotFound
from mlops.store.base import Store


def test_purge_removes_deleted_iterations_and_experiments_only(store: Store) -> None:
    project = store.create_project("vision", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None).id
    now = time.time()
    for iteration_id in ("keep", "drop"):
        store.create_iteration(iteration_id, "run", experiment, None, now, {})
        store.log_batch(iteration_id, {"lr": 0.1}, [("loss", s, 0.5, now) for s in range(3)])

    with pytest.raises(InvalidInput, match="not deleted"):
        store.purge_iterations(["drop"])
    with pytest.raises(NotFound, match="nope"):
        store.purge_iterations(["nope"])
    store.delete_iteration("drop")
    assert store.purgeable_iterations(time.time() + 1) == ["drop"]
    purged = store.purge_iterations(["drop"])
    assert (purged.iterations, purged.points) == (1, 3)
    with pytest.raises(NotFound):
        store.get_iteration("drop")
    assert [i.id for i in store.list_iterations(deleted=None)] == ["keep"]

    with pytest.raises(InvalidInput, match="not deleted"):
        store.purge_experiment(experiment)
    store.delete_experiment(experiment)
    gone = store.purge_experiment(experiment)
    assert (gone.experiments, gone.iterations, gone.points) == (1, 1, 3)
    with pytest.raises(NotFound):
        store.get_experiment(experiment)

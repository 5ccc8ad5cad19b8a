"""Delete, restore (under a new name too) and purge of projects and datasets, who deleted what,
and iteration descriptions, checked on every backend (SQLite, PostgreSQL, a real App over
HTTP) by the same tests."""

from __future__ import annotations

import time

import pytest

from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store.base import Store


def _project_with_runs(store: Store, title: str = "vision") -> tuple[str, str, list[str]]:
    project = store.create_project(title, None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    ids = []
    for n in range(2):
        iteration_id = f"{title}-{n}"
        store.create_iteration(iteration_id, "run", experiment.id, None, time.time(), {})
        store.log_batch(iteration_id, {"lr": 0.1}, [("loss", 0, 0.5, time.time())])
        ids.append(iteration_id)
    return project.id, experiment.id, ids


def _dataset(store: Store, name: str = "mnist", version: str | None = "v1") -> str:
    return store.create_dataset(name, f"/data/{name}", None, (), version, None, None, None).id


def test_a_deleted_project_hides_its_experiments_and_iterations_everywhere(store: Store) -> None:
    gone, experiment_id, runs = _project_with_runs(store, "vision")
    kept, _, kept_runs = _project_with_runs(store, "audio")

    deleted = store.delete_project(gone)
    assert deleted.deleted_at is not None and deleted.deleted_by
    assert store.delete_project(gone) == deleted  # deleting again changes nothing
    assert store.get_project(gone) == deleted  # still readable by id
    assert [p.id for p in store.list_projects()] == [kept]
    assert [p.id for p in store.list_projects(deleted=True)] == [gone]
    assert {p.id for p in store.list_projects(deleted=None)} == {gone, kept}
    assert [e.project_id for e in store.list_experiments()] == [kept]
    assert [e.id for e in store.list_experiments(deleted=True)] == [experiment_id]
    assert sorted(i.id for i in store.list_iterations()) == kept_runs
    assert store.list_iterations(experiment_id=experiment_id) == []
    assert store.count_iterations() == 2
    assert store.count_iterations(project_id=gone) == 0
    assert store.count_iterations(filter="params.lr = 0.1") == 2
    assert sorted(i.id for i in store.list_iterations(deleted=True)) == runs
    assert store.count_iterations(deleted=None) == 4

    restored = store.restore_project(gone)
    assert restored.deleted_at is None and restored.deleted_by is None
    assert store.count_iterations() == 4
    assert {e.project_id for e in store.list_experiments()} == {gone, kept}


def test_a_deleted_projects_title_is_free_and_restoring_into_it_offers_a_rename(
    store: Store,
) -> None:
    old, _, runs = _project_with_runs(store, "vision")
    store.delete_project(old)
    new = store.create_project("vision", None, "active", False)
    assert new.id != old

    with pytest.raises(AlreadyExists, match=r"vision.*name="):
        store.restore_project(old)
    assert store.get_project(old).deleted_at is not None  # nothing changed

    restored = store.restore_project(old, name="vision-2025")
    assert (restored.title, restored.deleted_at) == ("vision-2025", None)
    assert sorted(i.id for i in store.list_iterations(project_id=old)) == runs
    with pytest.raises(InvalidInput, match="not deleted"):
        store.restore_project(old, name="other")


def test_purging_a_project_removes_everything_in_it(store: Store) -> None:
    gone, experiment_id, runs = _project_with_runs(store, "vision")
    kept, _, kept_runs = _project_with_runs(store, "audio")
    with pytest.raises(InvalidInput, match="not deleted"):
        store.purge_project(gone)

    store.delete_project(gone)
    purged = store.purge_project(gone)
    assert (purged.iterations, purged.experiments, purged.points) == (2, 1, 2)
    with pytest.raises(NotFound):
        store.get_project(gone)
    with pytest.raises(NotFound):
        store.get_experiment(experiment_id)
    with pytest.raises(NotFound):
        store.get_iteration(runs[0])
    assert sorted(i.id for i in store.list_iterations(deleted=None)) == kept_runs
    # a live project is purged only with force
    assert store.purge_project(kept, force=True).iterations == 2
    assert store.list_projects(deleted=None) == []


def test_a_dataset_a_live_iteration_uses_is_deleted_only_with_force(store: Store) -> None:
    _, _, runs = _project_with_runs(store)
    used = _dataset(store, "mnist")
    spare = _dataset(store, "cifar")
    store.log_batch(runs[0], dataset_ids=[used])

    with pytest.raises(InvalidInput, match=runs[0]):
        store.delete_dataset(used)
    assert store.get_dataset(used).deleted_at is None

    deleted = store.delete_dataset(spare)
    assert deleted.deleted_at is not None and deleted.deleted_by
    assert [d.id for d in store.list_datasets()] == [used]
    assert [d.id for d in store.list_datasets(deleted=True)] == [spare]
    assert store.count_iterations(filter='dataset.name = "mnist"') == 1
    forced = store.delete_dataset(used, force=True)
    assert forced.deleted_at is not None
    assert store.count_iterations(filter='dataset.name = "mnist"') == 0  # hidden from queries
    assert store.list_datasets() == []
    assert {d.id for d in store.list_datasets(deleted=None)} == {used, spare}

    # once the iteration is deleted, nothing live uses the dataset
    store.restore_dataset(used)
    store.delete_iteration(runs[0])
    assert store.delete_dataset(used).deleted_at is not None


def test_a_deleted_dataset_version_is_free_and_restores_under_a_new_version(
    store: Store,
) -> None:
    old = _dataset(store, "mnist", "v1")
    store.delete_dataset(old)
    new = _dataset(store, "mnist", "v1")
    assert new != old
    with pytest.raises(AlreadyExists, match=r"v1.*version="):
        store.restore_dataset(old)
    restored = store.restore_dataset(old, version="v1-old")
    assert (restored.version, restored.deleted_at) == ("v1-old", None)
    assert sorted(d.version for d in store.list_datasets("mnist")) == ["v1", "v1-old"]


def test_purging_a_dataset_removes_it_and_its_links(store: Store) -> None:
    _, _, runs = _project_with_runs(store)
    dataset_id = _dataset(store)
    store.log_batch(runs[0], dataset_ids=[dataset_id])
    with pytest.raises(InvalidInput, match="not deleted"):
        store.purge_dataset(dataset_id)
    store.delete_dataset(dataset_id, force=True)
    assert store.purge_dataset(dataset_id).name == "mnist"
    with pytest.raises(NotFound):
        store.get_dataset(dataset_id)
    assert store.get_iteration(runs[0]).datasets == ()


def test_experiments_and_iterations_restore_under_a_new_name_and_say_who_deleted_them(
    store: Store,
) -> None:
    project_id, experiment_id, runs = _project_with_runs(store)
    deleted = store.delete_experiment(experiment_id)
    assert deleted.deleted_by
    store.create_experiment(project_id, "sweep", None)
    with pytest.raises(AlreadyExists, match="name="):
        store.restore_experiment(experiment_id)
    restored = store.restore_experiment(experiment_id, name="sweep-old")
    assert (restored.name, restored.deleted_at, restored.deleted_by) == ("sweep-old", None, None)

    gone = store.delete_iteration(runs[0])
    assert gone.deleted_by and gone.deleted_at is not None
    back = store.restore_iteration(runs[0], name="run-again")
    assert (back.name, back.deleted_at, back.deleted_by) == ("run-again", None, None)


def test_an_iteration_takes_a_description_running_and_ended(store: Store) -> None:
    _, _, runs = _project_with_runs(store)
    assert store.get_iteration(runs[0]).description is None
    assert store.set_iteration_description(runs[0], "lr sweep").description == "lr sweep"
    store.end_iteration(runs[0], "finished", time.time())
    assert store.set_iteration_description(runs[0], "kept").description == "kept"
    assert store.get_iteration(runs[0]).description == "kept"
    assert store.set_iteration_description(runs[0], "").description is None
    with pytest.raises(NotFound):
        store.set_iteration_description("nope", "x")

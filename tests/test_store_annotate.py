"""Rename projects, describe experiments, move iterations and Markdown notes, checked on every
backend (SQLite, PostgreSQL, a real App over HTTP) by the same tests."""

from __future__ import annotations

import time

import pytest

from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store.base import Store


def test_a_project_gets_a_new_title_and_a_taken_one_is_refused(store: Store) -> None:
    project = store.create_project("vision", "cats", "active", False)
    other = store.create_project("audio", None, "active", False)
    renamed = store.rename_project(project.id, "vision-2")
    assert (renamed.title, renamed.description) == ("vision-2", "cats")
    assert store.get_project(project.id).title == "vision-2"
    assert store.rename_project(project.id, "vision-2") == renamed
    with pytest.raises(AlreadyExists, match=f"'audio' \\(id {other.id}\\)"):
        store.rename_project(project.id, "audio")
    with pytest.raises(InvalidInput, match="project title"):
        store.rename_project(project.id, "")
    with pytest.raises(NotFound, match="project 'nope'"):
        store.rename_project("nope", "x")


def test_descriptions_of_projects_and_experiments_change_and_clear(store: Store) -> None:
    project = store.create_project("vision", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    assert store.update_project(project.id, description="cats **v2**").description == "cats **v2**"
    described = store.update_experiment(experiment.id, "lr from 1e-4 to 1e-2")
    assert (described.name, described.description) == ("sweep", "lr from 1e-4 to 1e-2")
    assert store.get_experiment(experiment.id).description == "lr from 1e-4 to 1e-2"
    assert store.update_experiment(experiment.id, None).description is None
    with pytest.raises(NotFound, match="experiment 'nope'"):
        store.update_experiment("nope", "x")


def test_an_iteration_moves_with_its_data_within_its_project_only(store: Store) -> None:
    project = store.create_project("vision", None, "active", False)
    source = store.create_experiment(project.id, "a", None).id
    target = store.create_experiment(project.id, "b", None).id
    elsewhere = store.create_experiment(
        store.create_project("audio", None, "active", False).id, "c", None
    ).id
    store.create_iteration("i1", "run", source, None, time.time(), {})
    store.log_batch(
        "i1", {"lr": 0.1}, [("loss", 0, 0.5, time.time()), ("loss", 1, 0.25, time.time())]
    )

    moved = store.move_iteration("i1", target)
    assert (moved.experiment_id, moved.project_id, moved.parameters) == (
        target,
        project.id,
        {"lr": 0.1},
    )
    assert [i.id for i in store.list_iterations(experiment_id=target)] == ["i1"]
    assert store.list_iterations(experiment_id=source) == []
    assert store.count_iterations(experiment_id=target, filter="metrics.loss < 0.3") == 1
    assert [
        i.id for i in store.list_iterations(experiment_id=target, order_by="metrics.loss asc")
    ] == ["i1"]
    # a running iteration keeps logging, into its new experiment
    store.log_batch("i1", None, [("loss", 2, 0.125, time.time())])
    assert store.list_iterations(experiment_id=target, filter="metrics.loss < 0.2")[0].id == "i1"
    assert [p.value for p in store.get_metric_history("i1", "loss")] == [0.5, 0.25, 0.125]
    assert store.move_iteration("i1", target).experiment_id == target  # again: no change

    with pytest.raises(InvalidInput, match="only between experiments of its project"):
        store.move_iteration("i1", elsewhere)
    assert store.get_iteration("i1").experiment_id == target
    with pytest.raises(NotFound, match="experiment 'nope'"):
        store.move_iteration("i1", "nope")
    with pytest.raises(NotFound, match="iteration 'nope'"):
        store.move_iteration("nope", target)


def test_notes_of_projects_experiments_and_iterations_are_kept_verbatim(store: Store) -> None:
    project = store.create_project("vision", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    store.create_iteration("i1", "run", experiment.id, None, time.time(), {})
    store.end_iteration("i1", "finished", time.time())
    text = "# Why\n\n*lr* too high <script>alert(1)</script> [x](javascript:alert(1)) é"
    for kind, owner in (
        ("project", project.id),
        ("experiment", experiment.id),
        ("iteration", "i1"),
    ):
        empty = store.get_note(kind, owner)
        assert (empty.kind, empty.owner_id, empty.text, empty.updated_at) == (kind, owner, "", None)
        note = store.set_note(kind, owner, text + kind)
        assert note.text == text + kind and note.updated_at is not None
        assert store.get_note(kind, owner) == note
    assert store.set_note("iteration", "i1", "second").text == "second"  # replaces
    assert store.get_note("project", project.id).text == text + "project"  # others untouched
    assert store.set_note("iteration", "i1", "").text == ""
    assert store.get_note("iteration", "i1").updated_at is None

    with pytest.raises(NotFound, match="iteration 'nope'"):
        store.set_note("iteration", "nope", "x")
    with pytest.raises(NotFound, match="project 'nope'"):
        store.get_note("project", "nope")
    with pytest.raises(InvalidInput, match="one of project, experiment, iteration"):
        store.set_note("dataset", "x", "x")
    with pytest.raises(InvalidInput, match="limit is 100000"):
        store.set_note("project", project.id, "x" * 100_001)

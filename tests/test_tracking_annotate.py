"""Renaming projects, describing experiments, moving iterations and notes from a script, on
every backend."""

from __future__ import annotations

import pytest

from mlops import tracking
from mlops.errors import InvalidInput


def test_a_script_renames_describes_and_moves(tracking_uri: str, active: dict[str, str]) -> None:
    assert tracking.rename_project(active["project_id"], "demo-2")["title"] == "demo-2"
    described = tracking.update_experiment(active["experiment_id"], "lr sweep")
    assert described["description"] == "lr sweep"
    other = tracking.create_experiment("ablation")
    it = tracking.start_iteration("run")
    it.log_metric("loss", 0.5)
    moved = tracking.move_iteration(it.id, other["id"])
    assert moved["experiment_id"] == other["id"] and moved["metrics"] == {"loss": 0.5}
    assert it.experiment_id == other["id"]
    it.log_metric("loss", 0.25)
    assert it.end_iteration()["experiment_id"] == other["id"]
    assert [i["id"] for i in tracking.list_iterations(experiment_id=other["id"])] == [it.id]
    assert tracking.list_iterations(experiment_id=active["experiment_id"]) == []
    foreign = tracking.create_project("audio")
    elsewhere = tracking.create_experiment("x", project_id=foreign["id"])
    with pytest.raises(InvalidInput, match="only between experiments of its project"):
        tracking.move_iteration(it.id, elsewhere["id"])


def test_a_script_writes_and_reads_notes(tracking_uri: str, active: dict[str, str]) -> None:
    with tracking.start_iteration("run") as it:
        it.set_note("## Why\nlr *too* high")
    assert tracking.get_note(iteration_id=it.id)["text"] == "## Why\nlr *too* high"
    note = tracking.set_note("the plan", project_id=active["project_id"])
    assert (note["kind"], note["owner_id"], note["text"]) == (
        "project",
        active["project_id"],
        "the plan",
    )
    assert tracking.get_note(experiment_id=active["experiment_id"])["text"] == ""
    it.set_note("")  # after the end too: removes it
    assert tracking.get_note(iteration_id=it.id)["updated_at"] is None
    with pytest.raises(InvalidInput, match="exactly one owner"):
        tracking.set_note("x", project_id=active["project_id"], iteration_id=it.id)
    with pytest.raises(InvalidInput, match="exactly one owner"):
        tracking.get_note()
    with pytest.raises(InvalidInput, match="Markdown text"):
        tracking.set_note(3, iteration_id=it.id)  # type: ignore[arg-type]

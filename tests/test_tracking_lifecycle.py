"""Deleting, restoring, renaming and re-tagging from a script, on every backend."""

from __future__ import annotations

import pytest

from mlops import tracking
from mlops.errors import AlreadyExists, InvalidInput


def test_a_script_deletes_restores_and_renames(tracking_uri: str, active: dict[str, str]) -> None:
    with tracking.start_iteration("keep") as kept:
        kept.log_metric("loss", 0.5)
    with tracking.start_iteration("drop") as dropped:
        dropped.log_metric("loss", 0.9)
    gone = tracking.delete_iteration(dropped.id)
    assert gone["deleted_at"] is not None and gone["name"] == "drop"
    assert [i["id"] for i in tracking.list_iterations()] == [kept.id]
    assert [i["id"] for i in tracking.list_iterations(deleted=True)] == [dropped.id]
    assert tracking.get_iteration(dropped.id)["deleted_at"] == gone["deleted_at"]
    assert tracking.restore_iteration(dropped.id)["deleted_at"] is None
    assert tracking.rename_iteration(dropped.id, "dropped-then-kept")["name"] == (
        "dropped-then-kept"
    )

    experiment_id = active["experiment_id"]
    deleted = tracking.delete_experiment(experiment_id)
    assert deleted["deleted_at"] is not None
    assert tracking.list_experiments() == [] and tracking.list_iterations() == []
    assert [e["id"] for e in tracking.list_experiments(deleted=True)] == [experiment_id]
    again = tracking.create_experiment("sweep")  # the name is free at once
    with pytest.raises(AlreadyExists, match="rename"):
        tracking.restore_experiment(experiment_id)
    tracking.rename_experiment(experiment_id, "sweep-1")
    assert tracking.restore_experiment(experiment_id)["name"] == "sweep-1"
    assert {e["name"] for e in tracking.list_experiments()} == {"sweep", "sweep-1"}
    assert tracking.set_experiment_tags(again["id"], {"owner": "ada"})["tags"] == {"owner": "ada"}
    with pytest.raises(InvalidInput, match="experiment name"):
        tracking.rename_experiment(again["id"], "")


def test_tags_are_deleted_and_changed_during_and_after_a_run(
    tracking_uri: str, active: dict[str, str]
) -> None:
    it = tracking.start_iteration("run")
    it.set_tags({"team": "cv", "wip": "yes", "gpu": "a100"})
    tracking.get_iteration(it.id)  # written
    it.set_tag("later", "x")
    it.delete_tag("later")  # set and deleted before any write: never shows
    it.delete_tag("wip")
    it.delete_tag("absent")
    assert it["tags"] == {"team": "cv", "gpu": "a100"}
    assert tracking.get_iteration(it.id)["tags"] == {"team": "cv", "gpu": "a100"}
    tracking.set_iteration_tags(it.id, {"gpu": "h100"}, delete=["team"])
    assert it["tags"] == {"gpu": "h100"}
    ended = it.end_iteration()
    assert ended["tags"] == {"gpu": "h100"}

    after = tracking.set_iteration_tags(it.id, {"reviewed": "yes"})  # tags are annotations
    assert after["tags"] == {"gpu": "h100", "reviewed": "yes"} and after["status"] == "finished"
    it.delete_tag("gpu")
    assert it["tags"] == {"reviewed": "yes"}
    assert tracking.get_iteration(it.id)["tags"] == {"reviewed": "yes"}
    found = tracking.list_iterations(filter='tags.reviewed = "yes"')
    assert [i["id"] for i in found] == [it.id]

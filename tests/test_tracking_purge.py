"""Purging from a script: the rows go, and the stored files nothing else refers to."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mlops import tracking
from mlops.errors import InvalidInput, NotFound


def blobs(home: Path) -> set[str]:
    return {p.name for p in (home / "artifacts" / "blobs").rglob("*") if p.is_file()}


def test_a_purged_iteration_frees_its_own_files_and_keeps_shared_ones(
    active: dict[str, str], mlops_home: Path, tmp_path: Path
) -> None:
    shared, own = os.urandom(20_000), os.urandom(20_000)
    (tmp_path / "shared.bin").write_bytes(shared)
    (tmp_path / "own.bin").write_bytes(own)
    with tracking.start_iteration("live") as live:
        live.log_artifact(tmp_path / "shared.bin")
        live.log_metric("loss", 0.1)
    with tracking.start_iteration("drop") as drop:
        drop.log_artifact(tmp_path / "shared.bin")
        drop.log_artifact(tmp_path / "own.bin")
        drop.log_metric("loss", 0.9)
    sha_shared, sha_own = hashlib.sha256(shared).hexdigest(), hashlib.sha256(own).hexdigest()
    assert blobs(mlops_home) == {sha_shared, sha_own}

    with pytest.raises(InvalidInput, match="only deleted iterations"):
        tracking.purge_iterations([drop.id])
    tracking.delete_iteration(drop.id)
    purged = tracking.purge_iterations([drop.id])
    assert purged["iterations"] == 1 and purged["artifacts"] == 2
    assert purged["blobs"] == [sha_own]
    assert blobs(mlops_home) == {sha_shared}
    with pytest.raises(NotFound):
        tracking.get_iteration(drop.id)
    out = tracking.download_artifacts(live.id, "shared.bin", tmp_path / "out")
    assert Path(out).read_bytes() == shared


def test_force_purges_a_live_iteration_and_an_experiment(
    active: dict[str, str], mlops_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "f.bin").write_bytes(b"only here")
    with tracking.start_iteration("live") as it:
        it.log_artifact(tmp_path / "f.bin")
    assert tracking.purge_iterations([it.id], force=True)["iterations"] == 1
    assert blobs(mlops_home) == set()

    with tracking.start_iteration("other") as other:
        other.log_metric("loss", 0.3)
    experiment_id = active["experiment_id"]
    with pytest.raises(InvalidInput, match="only deleted experiments"):
        tracking.purge_experiment(experiment_id)
    tracking.delete_experiment(experiment_id)
    gone = tracking.purge_experiment(experiment_id)
    assert (gone["experiments"], gone["iterations"], gone["points"]) == (1, 1, 1)
    with pytest.raises(NotFound):
        tracking.get_experiment(experiment_id)
    with pytest.raises(InvalidInput, match="list of ids"):
        tracking.purge_iterations(other.id)


def test_purge_from_a_script_on_every_backend(tracking_uri: str, mlops_home: Path) -> None:
    project = tracking.create_project("purge-everywhere")
    tracking.set_active_project(project["id"])
    tracking.set_active_experiment(tracking.create_experiment("e")["id"])
    with tracking.start_iteration("keep") as keep:
        keep.log_metric("loss", 0.1)
    with tracking.start_iteration("drop") as drop:
        for step in range(4):
            drop.log_metric("loss", 1 / (step + 1), step=step)
    tracking.delete_iteration(drop.id)
    purged = tracking.purge_iterations([drop.id])
    assert (purged["iterations"], purged["points"]) == (1, 4)
    assert [i["id"] for i in tracking.list_iterations(deleted=None)] == [keep.id]
    with pytest.raises(NotFound, match=drop.id):
        tracking.purge_iterations([drop.id])

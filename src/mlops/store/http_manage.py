"""The management calls of the HTTP store: delete, restore, rename and tag projects,
experiments, iterations and datasets after the fact.

They are not part of the training path: each needs the App's answer (the object as it is now),
so they raise ``Unavailable`` naming the App's URL when it cannot be reached, and are never
journaled. Every one is idempotent (deleting a deleted object, setting the same tags), so the
transport may retry them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops.entities import Dataset, Experiment, Iteration, Note, Project, Purged
from mlops.store import rules
from mlops.store.http_client import part
from mlops.store.http_codec import (
    _ts,
    dataset_from,
    experiment_from,
    iteration_from,
    project_from,
)
from mlops.store.http_reads import AppCalls
from mlops.wire import (
    ExperimentUpdate,
    IterationMove,
    NoteText,
    ProjectUpdate,
    PurgeOptions,
    PurgeRequest,
    Restore,
    TagChange,
    to_body,
)

if TYPE_CHECKING:
    from mlops.artifacts import ArtifactStore

__all__ = ["AppManagement"]


def _purged(data: dict[str, Any]) -> Purged:
    return Purged(
        iterations=int(data["iterations"]),
        experiments=int(data["experiments"]),
        points=int(data["points"]),
        artifacts=int(data["artifacts"]),
        blobs=tuple(data["blobs"]),
        kept=tuple(data["kept"]),
    )


def _tag_body(tags: Mapping[str, str] | None, delete: Sequence[str]) -> dict[str, object]:
    rules.check_tag_change(tags, delete)
    return to_body(TagChange(dict(tags or {}), list(delete)))


_PLURAL = {"project": "projects", "experiment": "experiments", "iteration": "iterations"}


class AppManagement(AppCalls):
    """Delete, restore, rename and tag (mixed into :class:`~mlops.store.http.HttpStore`)."""

    _datasets: dict[str, Dataset]  # the client's dataset cache, kept by HttpStore

    # -- projects and notes -----------------------------------------------------------------
    def rename_project(self, project_id: str, title: str) -> Project:
        rules.check_name(title, "project title")
        body = to_body(ProjectUpdate(title=title))
        return project_from(self._call("PATCH", f"/projects/{part(project_id)}", body))

    def delete_project(self, project_id: str) -> Project:
        return project_from(self._call("DELETE", f"/projects/{part(project_id)}"))

    def restore_project(self, project_id: str, name: str | None = None) -> Project:
        if name is not None:
            rules.check_name(name, "project title")
        path = f"/projects/{part(project_id)}/restore"
        return project_from(self._call("POST", path, to_body(Restore(name))))

    def purge_project(
        self, project_id: str, force: bool = False, artifacts: ArtifactStore | None = None
    ) -> Purged:
        path = f"/projects/{part(project_id)}/purge"
        return _purged(self._call("POST", path, to_body(PurgeOptions(force)), repeatable=False))

    # -- datasets ---------------------------------------------------------------------------
    def delete_dataset(self, dataset_id: str, force: bool = False) -> Dataset:
        params = {"force": "true"} if force else None
        path = f"/datasets/{part(dataset_id)}"
        return self._known(dataset_from(self._call("DELETE", path, params=params)))

    def _known(self, dataset: Dataset) -> Dataset:
        self._datasets[dataset.id] = dataset
        return dataset

    def restore_dataset(self, dataset_id: str, version: str | None = None) -> Dataset:
        if version is not None:
            rules.check_name(version, "dataset version")
        path = f"/datasets/{part(dataset_id)}/restore"
        return self._known(
            dataset_from(self._call("POST", path, to_body(Restore(version=version))))
        )

    def purge_dataset(self, dataset_id: str, force: bool = False) -> Dataset:
        path = f"/datasets/{part(dataset_id)}/purge"
        body = to_body(PurgeOptions(force))
        purged = dataset_from(self._call("POST", path, body, repeatable=False))
        self._datasets.pop(dataset_id, None)
        return purged

    def _note_path(self, kind: str, owner_id: str) -> str:
        return f"/{_PLURAL[kind]}/{part(owner_id)}/note"

    def set_note(self, kind: str, owner_id: str, text: str) -> Note:
        rules.check_note(kind, text)
        data = self._call("PUT", self._note_path(kind, owner_id), to_body(NoteText(text)))
        return Note(data["kind"], data["owner_id"], data["text"], _ts(data["updated_at"]))

    def get_note(self, kind: str, owner_id: str) -> Note:
        rules.check_note(kind, "")
        data = self._call("GET", self._note_path(kind, owner_id))
        return Note(data["kind"], data["owner_id"], data["text"], _ts(data["updated_at"]))

    # -- experiments ------------------------------------------------------------------------
    def delete_experiment(self, experiment_id: str) -> Experiment:
        return experiment_from(self._call("DELETE", f"/experiments/{part(experiment_id)}"))

    def restore_experiment(self, experiment_id: str, name: str | None = None) -> Experiment:
        if name is not None:
            rules.check_name(name, "experiment name")
        path = f"/experiments/{part(experiment_id)}/restore"
        return experiment_from(self._call("POST", path, to_body(Restore(name))))

    def rename_experiment(self, experiment_id: str, name: str) -> Experiment:
        rules.check_name(name, "experiment name")
        body = to_body(ExperimentUpdate(name))
        return experiment_from(self._call("PATCH", f"/experiments/{part(experiment_id)}", body))

    def set_experiment_tags(
        self,
        experiment_id: str,
        tags: Mapping[str, str] | None = None,
        delete: Sequence[str] = (),
    ) -> Experiment:
        path = f"/experiments/{part(experiment_id)}/tags"
        return experiment_from(self._call("PATCH", path, _tag_body(tags, delete)))

    def update_experiment(self, experiment_id: str, description: str | None) -> Experiment:
        rules.check_optional_text(description, "experiment description")
        body = to_body(ExperimentUpdate(description=description or ""))
        return experiment_from(self._call("PATCH", f"/experiments/{part(experiment_id)}", body))

    # -- iterations -------------------------------------------------------------------------
    def move_iteration(self, iteration_id: str, experiment_id: str) -> Iteration:
        path = f"/iterations/{part(iteration_id)}/move"
        return iteration_from(self._call("POST", path, to_body(IterationMove(experiment_id))))

    def delete_iteration(self, iteration_id: str) -> Iteration:
        return iteration_from(self._call("DELETE", f"/iterations/{part(iteration_id)}"))

    def restore_iteration(self, iteration_id: str, name: str | None = None) -> Iteration:
        if name is not None:
            rules.check_name(name, "iteration name")
        path = f"/iterations/{part(iteration_id)}/restore"
        return iteration_from(self._call("POST", path, to_body(Restore(name))))

    def set_iteration_description(self, iteration_id: str, description: str | None) -> Iteration:
        rules.check_optional_text(description, "iteration description")
        path = f"/iterations/{part(iteration_id)}"
        return iteration_from(self._call("PATCH", path, {"description": description or ""}))

    def rename_iteration(self, iteration_id: str, name: str) -> Iteration:
        rules.check_name(name, "iteration name")
        path = f"/iterations/{part(iteration_id)}"
        return iteration_from(self._call("PATCH", path, {"name": name}))

    def set_iteration_tags(
        self,
        iteration_id: str,
        tags: Mapping[str, str] | None = None,
        delete: Sequence[str] = (),
    ) -> Iteration:
        path = f"/iterations/{part(iteration_id)}/tags"
        return iteration_from(self._call("PATCH", path, _tag_body(tags, delete)))

    # -- purge ------------------------------------------------------------------------------
    # The App removes blobs from its own artifact store: ``artifacts`` is not used here.
    def purge_iterations(
        self,
        iteration_ids: Sequence[str],
        force: bool = False,
        artifacts: ArtifactStore | None = None,
    ) -> Purged:
        rules.check_purge(list(iteration_ids))
        total = Purged()
        ids = list(dict.fromkeys(iteration_ids))
        # one request per 500 ids: each answers quickly, and a retry repeats little
        for start in range(0, max(len(ids), 1), 500):
            body = to_body(PurgeRequest(ids[start : start + 500], force))
            total += _purged(self._call("POST", "/trash/purge", body, repeatable=False))
        return total

    def purge_experiment(
        self, experiment_id: str, force: bool = False, artifacts: ArtifactStore | None = None
    ) -> Purged:
        path = f"/experiments/{part(experiment_id)}/purge"
        return _purged(self._call("POST", path, to_body(PurgeOptions(force)), repeatable=False))

    def purgeable_iterations(
        self,
        deleted_before: float,
        status: str | None = None,
        experiment_id: str | None = None,
        include_live: bool = False,
    ) -> list[str]:
        rules.check_purge([], status)
        params: dict[str, Any] = {"deleted_before": deleted_before}
        if status is not None:
            params["status"] = status
        if experiment_id is not None:
            params["experiment_id"] = experiment_id
        if include_live:
            params["include_live"] = "true"
        return list(self._call("GET", "/trash/iterations", params=params)["ids"])

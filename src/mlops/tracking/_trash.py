"""Deleting, restoring and purging projects and datasets, and describing iterations.

A deleted project hides its experiments and iterations everywhere (lists, searches, counts,
the App's pages) until it is restored; a deleted dataset version leaves dataset lists and
lineage. Nothing is erased until a purge. A deleted thing's name is free at once; restoring
into a taken name raises ``AlreadyExists``, and ``name=`` (``version=`` for a dataset)
restores it under a new one.
"""

from __future__ import annotations

from typing import Any

from mlops.tracking._manage import _artifact_store, _store
from mlops.tracking._writer import WRITER
from mlops.values import check_id, check_name, check_optional_text


def delete_project(project_id: str) -> dict[str, Any]:
    """Delete a project: it, its experiments and iterations leave lists and searches
    (:func:`restore_project` brings them back), and its title is free at once. Returns the
    project, with ``deleted_at`` and ``deleted_by`` set."""
    return _store().delete_project(check_id(project_id, "project_id")).to_dict()


def restore_project(project_id: str, name: str | None = None) -> dict[str, Any]:
    """Bring a deleted project back with all it holds, titled ``name`` when given. Raises
    ``AlreadyExists`` when a live project took its title meanwhile: pass a new ``name``."""
    if name is not None:
        check_name(name, "project title")
    return _store().restore_project(check_id(project_id, "project_id"), name).to_dict()


def purge_project(project_id: str, force: bool = False) -> dict[str, Any]:
    """Remove a deleted project for good, with its experiments, iterations and what they
    logged (as :func:`purge_experiment`). Only a deleted project is purged: a live one raises
    ``InvalidInput`` unless ``force``. This cannot be undone. Returns the counts."""
    check_id(project_id, "project_id")
    store = _store()
    return store.purge_project(project_id, force, _artifact_store(store)).to_dict()


def delete_dataset(dataset_id: str, force: bool = False) -> dict[str, Any]:
    """Delete a dataset version: it leaves dataset lists and lineage, and its version is free
    at once. Raises ``InvalidInput`` naming the live iterations that use it, unless
    ``force=True``. Returns the dataset, with ``deleted_at`` and ``deleted_by`` set."""
    return _store().delete_dataset(check_id(dataset_id, "dataset_id"), force).to_dict()


def restore_dataset(dataset_id: str, version: str | None = None) -> dict[str, Any]:
    """Bring a deleted dataset version back, as ``version`` when given. Raises
    ``AlreadyExists`` when a live version of the name has it: pass a new ``version``."""
    if version is not None:
        check_name(version, "dataset version")
    return _store().restore_dataset(check_id(dataset_id, "dataset_id"), version).to_dict()


def purge_dataset(dataset_id: str, force: bool = False) -> dict[str, Any]:
    """Remove a deleted dataset version for good with its links to iterations (they stay);
    a live one raises ``InvalidInput`` unless ``force``. Returns it as it was."""
    return _store().purge_dataset(check_id(dataset_id, "dataset_id"), force).to_dict()


def update_iteration(iteration_id: str, *, description: str | None = None) -> dict[str, Any]:
    """Change an iteration after the fact, running or ended: ``description`` replaces its
    description (``""`` clears it); left out, it stays. Returns the iteration as stored."""
    check_id(iteration_id, "iteration_id")
    check_optional_text(description, "iteration description")
    store = _store()
    if description is None:
        return store.get_iteration(iteration_id).to_dict()
    changed = store.set_iteration_description(iteration_id, description)
    running = WRITER.active(iteration_id)
    if running is not None:
        running._data["description"] = changed.description
    return changed.to_dict()

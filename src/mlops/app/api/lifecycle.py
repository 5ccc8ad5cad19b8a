"""REST routes that manage projects, experiments, iterations and datasets after the fact:
delete (softly), restore (under a new name too), rename, and set or delete tags. Each is
idempotent and answers the object as it is now; the rules (names unique among live ones,
restore into a taken name) are the store's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body

from mlops.app.deps import CanWrite, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, DatasetOut, ExperimentOut, IterationOut, ProjectOut, ok
from mlops.wire import ExperimentUpdate, Restore, TagChange

#: ``deleted=`` of a query string: live ones only, deleted ones only, or both.
Deleted = Literal["false", "true", "any"]
DELETED: dict[str, bool | None] = {"false": False, "true": True, "any": None}

router = APIRouter(route_class=PlainRoute, responses=ERRORS, dependencies=[CanWrite])

#: The optional body of a restore: ``{}`` (or none) restores under the old name.
RestoreBody = Annotated[Restore | None, Body()]


@router.delete("/projects/{project_id}", tags=["projects"], responses=ok(ProjectOut))
def delete_project(project_id: str, store: StoreDep) -> Any:
    """Delete a project softly: it, its experiments and iterations leave lists, searches,
    counts and the pages (restore brings them back), and its title is free at once."""
    return store.delete_project(project_id).to_dict()


@router.post("/projects/{project_id}/restore", tags=["projects"], responses=ok(ProjectOut))
def restore_project(project_id: str, store: StoreDep, body: RestoreBody = None) -> Any:
    """Bring a deleted project back, titled ``name`` when given (409 naming the live project
    that took its title: send a new ``name``)."""
    return store.restore_project(project_id, body.name if body else None).to_dict()


@router.delete("/datasets/{dataset_id}", tags=["datasets"], responses=ok(DatasetOut))
def delete_dataset(dataset_id: str, store: StoreDep, force: bool = False) -> Any:
    """Delete a dataset version softly: it leaves dataset lists and lineage (422 naming the
    live iterations that use it, unless ``force``)."""
    return store.delete_dataset(dataset_id, force).to_dict()


@router.post("/datasets/{dataset_id}/restore", tags=["datasets"], responses=ok(DatasetOut))
def restore_dataset(dataset_id: str, store: StoreDep, body: RestoreBody = None) -> Any:
    """Bring a deleted dataset version back, as ``version`` when given (409 naming the live
    version that took it: send a new ``version``)."""
    version = (body.version or body.name) if body else None
    return store.restore_dataset(dataset_id, version).to_dict()


@router.patch("/experiments/{experiment_id}", tags=["experiments"], responses=ok(ExperimentOut))
def update_experiment(experiment_id: str, body: ExperimentUpdate, store: StoreDep) -> Any:
    """Rename an experiment (409 when a live experiment of the project has that name) or
    replace its description (``""`` clears it)."""
    if body.name is None and body.description is None:
        return store.get_experiment(experiment_id).to_dict()
    if body.name is not None:
        experiment = store.rename_experiment(experiment_id, body.name)
    if body.description is not None:
        experiment = store.update_experiment(experiment_id, body.description or None)
    return experiment.to_dict()


@router.delete("/experiments/{experiment_id}", tags=["experiments"], responses=ok(ExperimentOut))
def delete_experiment(experiment_id: str, store: StoreDep) -> Any:
    """Delete an experiment softly: it and its iterations leave lists and searches (restore
    brings them back) and its name is free at once."""
    return store.delete_experiment(experiment_id).to_dict()


@router.post(
    "/experiments/{experiment_id}/restore", tags=["experiments"], responses=ok(ExperimentOut)
)
def restore_experiment(experiment_id: str, store: StoreDep, body: RestoreBody = None) -> Any:
    """Bring a deleted experiment back, named ``name`` when given (409 naming the live
    experiment that took its name: send a new ``name``)."""
    return store.restore_experiment(experiment_id, body.name if body else None).to_dict()


@router.patch(
    "/experiments/{experiment_id}/tags", tags=["experiments"], responses=ok(ExperimentOut)
)
def tag_experiment(experiment_id: str, body: TagChange, store: StoreDep) -> Any:
    """Set tags (added or overwritten) and delete tag keys of an experiment."""
    return store.set_experiment_tags(experiment_id, body.tags, body.delete).to_dict()


@router.delete("/iterations/{iteration_id}", tags=["iterations"], responses=ok(IterationOut))
def delete_iteration(iteration_id: str, store: StoreDep) -> Any:
    """Delete an iteration softly: it leaves lists and searches until restored."""
    return store.delete_iteration(iteration_id).to_dict()


@router.post("/iterations/{iteration_id}/restore", tags=["iterations"], responses=ok(IterationOut))
def restore_iteration(iteration_id: str, store: StoreDep, body: RestoreBody = None) -> Any:
    """Bring a deleted iteration back, renamed ``name`` when given."""
    return store.restore_iteration(iteration_id, body.name if body else None).to_dict()


@router.patch("/iterations/{iteration_id}/tags", tags=["iterations"], responses=ok(IterationOut))
def tag_iteration(iteration_id: str, body: TagChange, store: StoreDep) -> Any:
    """Set tags (added or overwritten) and delete tag keys of an iteration, ended ones too."""
    return store.set_iteration_tags(iteration_id, body.tags, body.delete).to_dict()

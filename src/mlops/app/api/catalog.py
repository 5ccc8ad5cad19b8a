"""REST routes for projects, experiments and datasets: parse, call the store, answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from mlops.app.api.lifecycle import DELETED, Deleted
from mlops.app.deps import CanRead, CanWrite, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import (
    ERRORS,
    DatasetList,
    DatasetOut,
    ExperimentList,
    ExperimentOut,
    ProjectList,
    ProjectOut,
    ok,
)
from mlops.errors import InvalidInput
from mlops.wire import DatasetCreate, ExperimentCreate, ProjectCreate, ProjectUpdate

router = APIRouter(route_class=PlainRoute, responses=ERRORS)


@router.get("/projects", dependencies=[CanRead], tags=["projects"], responses=ok(ProjectList))
def list_projects(
    store: StoreDep, include_archived: bool = True, deleted: Deleted = "false"
) -> dict[str, Any]:
    """Every project, newest first. ``deleted``: ``false`` (live ones), ``true`` (deleted
    ones) or ``any``."""
    found = store.list_projects(include_archived, DELETED[deleted])
    return {"projects": [p.to_dict() for p in found]}


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanWrite],
    tags=["projects"],
    responses=ok(ProjectOut, 201),
)
def create_project(body: ProjectCreate, store: StoreDep) -> dict[str, Any]:
    """Create a project; titles are unique (409 names the existing id)."""
    return store.create_project(body.title, body.description, body.status, body.archived).to_dict()


@router.get(
    "/projects/{project_id}", dependencies=[CanRead], tags=["projects"], responses=ok(ProjectOut)
)
def get_project(project_id: str, store: StoreDep) -> dict[str, Any]:
    """One project."""
    return store.get_project(project_id).to_dict()


@router.patch(
    "/projects/{project_id}", dependencies=[CanWrite], tags=["projects"], responses=ok(ProjectOut)
)
def update_project(project_id: str, body: ProjectUpdate, store: StoreDep) -> dict[str, Any]:
    """Change title (409 when another project has it), description, status or archived;
    fields left out stay as they are."""
    if body.title is not None:
        project = store.rename_project(project_id, body.title)
        if body.description is None and body.status is None and body.archived is None:
            return project.to_dict()
    project = store.update_project(project_id, body.description, body.status, body.archived)
    return project.to_dict()


@router.get(
    "/experiments", dependencies=[CanRead], tags=["experiments"], responses=ok(ExperimentList)
)
def list_experiments(
    store: StoreDep,
    project_id: str | None = None,
    name: str | None = None,
    deleted: Deleted = "false",
) -> dict[str, Any]:
    """Experiments of a project (or of all), newest first; ``name`` finds the live one of
    that name. ``deleted``: ``false`` (live ones), ``true`` (deleted ones) or ``any``."""
    if name is not None:
        if project_id is None:
            raise InvalidInput("finding an experiment by name needs project_id too")
        found = store.find_experiment(project_id, name)
        return {"experiments": [] if found is None else [found.to_dict()]}
    experiments = store.list_experiments(project_id, DELETED[deleted])
    return {"experiments": [e.to_dict() for e in experiments]}


@router.post(
    "/experiments",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanWrite],
    tags=["experiments"],
    responses=ok(ExperimentOut, 201),
)
def create_experiment(body: ExperimentCreate, store: StoreDep) -> dict[str, Any]:
    """Create an experiment in a project; names are unique within the project."""
    return store.create_experiment(body.project_id, body.name, body.description).to_dict()


@router.get(
    "/experiments/{experiment_id}",
    dependencies=[CanRead],
    tags=["experiments"],
    responses=ok(ExperimentOut),
)
def get_experiment(experiment_id: str, store: StoreDep) -> dict[str, Any]:
    """One experiment."""
    return store.get_experiment(experiment_id).to_dict()


@router.get("/datasets", dependencies=[CanRead], tags=["datasets"], responses=ok(DatasetList))
def list_datasets(
    store: StoreDep, name: str | None = None, deleted: Deleted = "false"
) -> dict[str, Any]:
    """Every dataset version (or those of one name). ``deleted``: ``false`` (live ones),
    ``true`` (deleted ones) or ``any``."""
    return {"datasets": [d.to_dict() for d in store.list_datasets(name, DELETED[deleted])]}


@router.post(
    "/datasets",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanWrite],
    tags=["datasets"],
    responses=ok(DatasetOut, 201),
)
def create_dataset(body: DatasetCreate, store: StoreDep) -> dict[str, Any]:
    """Register a dataset version. The App never opens ``path``: it is recorded as text."""
    dataset = store.create_dataset(
        body.name, body.path, body.description, body.tags, body.version, body.digest,
        body.size_bytes, body.file_count,
    )  # fmt: skip
    return dataset.to_dict()


@router.get(
    "/datasets/{dataset_id}", dependencies=[CanRead], tags=["datasets"], responses=ok(DatasetOut)
)
def get_dataset(dataset_id: str, store: StoreDep) -> dict[str, Any]:
    """One dataset version."""
    return store.get_dataset(dataset_id).to_dict()

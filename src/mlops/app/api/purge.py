"""REST routes that purge: remove deleted iterations and experiments for good, with their
metric points, artifact records and the blobs (in the App's artifact store) nothing else
refers to. The store works in bounded batches; the rules (only deleted things unless
``force``, iterations a model version uses are kept) are the store's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlops.app.deps import ArtifactsDep, CanRead, CanWrite, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, DatasetOut, PurgeableOut, PurgedOut, ok
from mlops.wire import PurgeOptions, PurgeRequest

router = APIRouter(route_class=PlainRoute, responses=ERRORS)


@router.post(
    "/trash/purge", tags=["trash"], responses=ok(PurgedOut), dependencies=[CanWrite]
)  # fmt: skip
def purge_iterations(body: PurgeRequest, store: StoreDep, artifacts: ArtifactsDep) -> Any:
    """Remove deleted iterations for good (live ones too with ``force``): 404 for an unknown
    id (nothing is removed then), 400 for a live one without ``force``."""
    return store.purge_iterations(body.ids, body.force, artifacts).to_dict()


@router.post(
    "/experiments/{experiment_id}/purge", tags=["experiments"], responses=ok(PurgedOut),
    dependencies=[CanWrite],
)  # fmt: skip
def purge_experiment(
    experiment_id: str, body: PurgeOptions, store: StoreDep, artifacts: ArtifactsDep
) -> Any:
    """Remove a deleted experiment for good, with its iterations (400 for a live one without
    ``force``)."""
    return store.purge_experiment(experiment_id, body.force, artifacts).to_dict()


@router.post(
    "/projects/{project_id}/purge", tags=["projects"], responses=ok(PurgedOut),
    dependencies=[CanWrite],
)  # fmt: skip
def purge_project(
    project_id: str, body: PurgeOptions, store: StoreDep, artifacts: ArtifactsDep
) -> Any:
    """Remove a deleted project for good, with its experiments and iterations, in batches
    (422 for a live one without ``force``)."""
    return store.purge_project(project_id, body.force, artifacts).to_dict()


@router.post(
    "/datasets/{dataset_id}/purge", tags=["datasets"], responses=ok(DatasetOut),
    dependencies=[CanWrite],
)  # fmt: skip
def purge_dataset(dataset_id: str, body: PurgeOptions, store: StoreDep) -> Any:
    """Remove a deleted dataset version for good with its links to iterations (422 for a
    live one without ``force``); answers it as it was."""
    return store.purge_dataset(dataset_id, body.force).to_dict()


@router.get(
    "/trash/iterations", tags=["trash"], responses=ok(PurgeableOut), dependencies=[CanRead]
)  # fmt: skip
def purgeable_iterations(
    store: StoreDep,
    deleted_before: Annotated[float, Query(ge=0)],
    status: str | None = None,
    experiment_id: str | None = None,
    include_live: bool = False,
) -> Any:
    """Ids of the iterations deleted before ``deleted_before`` (epoch seconds), themselves or
    with their experiment, oldest first; ``include_live`` adds those started before it."""
    ids = store.purgeable_iterations(deleted_before, status, experiment_id, include_live)
    return {"ids": ids}

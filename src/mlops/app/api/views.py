"""REST routes of the experiment workspace: saved views (shared by everyone who can see the
project; saving needs a write token) and the live state of a page's running iterations."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from mlops.app.deps import CanRead, CanWrite, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, MetricValue, Timestamp, _Shape, ok
from mlops.errors import InvalidInput
from mlops.views import MAX_LIVE_IDS, ViewCreate, ViewUpdate

router = APIRouter(route_class=PlainRoute, responses=ERRORS)


class SavedViewOut(_Shape):
    """A saved view of an experiment page (:meth:`mlops.views.SavedView.to_dict`): ``state``
    holds its address parameters; ``/v/{short_id}`` opens it."""

    id: str
    short_id: str
    experiment_id: str
    project_id: str
    name: str
    state: dict[str, str]
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp


class SavedViewList(_Shape):
    """The saved views of an experiment, by name."""

    views: list[SavedViewOut]


class LiveSeriesOut(_Shape):
    """Where one metric series stands: last value, last step, change marker."""

    last: MetricValue
    last_step: int
    rewrites: int


class LiveIterationOut(_Shape):
    """The live state of one iteration (times in epoch seconds)."""

    id: str
    experiment_id: str
    project_id: str
    name: str
    status: str
    started_at: float
    ended_at: float | None
    heartbeat_at: float | None
    metrics: dict[str, LiveSeriesOut]


class LiveState(_Shape):
    """The live state of the iterations asked about (those of the experiment, in the order
    asked), and the App's clock (``now``, epoch seconds) to tick elapsed times from."""

    now: float
    iterations: list[LiveIterationOut]


@router.get(
    "/experiments/{experiment_id}/views",
    dependencies=[CanRead],
    tags=["views"],
    responses=ok(SavedViewList),
)
def list_views(experiment_id: str, store: StoreDep) -> Any:
    """The saved views of an experiment, by name."""
    return {"views": [v.to_dict() for v in store.list_views(experiment_id)]}


@router.post(
    "/experiments/{experiment_id}/views",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanWrite],
    tags=["views"],
    responses=ok(SavedViewOut, 201),
)
def create_view(experiment_id: str, body: ViewCreate, store: StoreDep) -> Any:
    """Save a view of the experiment page under a name (409 naming the view that has it)."""
    return store.create_view(experiment_id, body.name, body.state).to_dict()


@router.patch(
    "/experiments/{experiment_id}/views/{view_id}",
    dependencies=[CanWrite],
    tags=["views"],
    responses=ok(SavedViewOut),
)
def update_view(experiment_id: str, view_id: str, body: ViewUpdate, store: StoreDep) -> Any:
    """Rename a view and/or replace its state (by id or short id)."""
    return store.update_view(experiment_id, view_id, body.name, body.state).to_dict()


@router.delete(
    "/experiments/{experiment_id}/views/{view_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[CanWrite],
    tags=["views"],
    responses={204: {"description": "The view is gone."}},
)
def delete_view(experiment_id: str, view_id: str, store: StoreDep) -> Response:
    """Delete a saved view (by id or short id)."""
    store.delete_view(experiment_id, view_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/views/{short_id}", dependencies=[CanRead], tags=["views"], responses=ok(SavedViewOut))
def get_view(short_id: str, store: StoreDep) -> Any:
    """The view with this short id (what ``/v/{short_id}`` opens)."""
    return store.get_view(short_id).to_dict()


@router.get(
    "/experiments/{experiment_id}/live",
    dependencies=[CanRead],
    tags=["views"],
    responses=ok(LiveState),
)
def get_live_state(
    experiment_id: str,
    store: StoreDep,
    ids: Annotated[str, Query(max_length=MAX_LIVE_IDS * 80, description="ids, comma-separated")],
) -> Any:
    """One live tick of an experiment page: status, times and per metric the last value, last
    step and change marker (``rewrites``) of the iterations ``ids`` (up to 200)."""
    wanted = [i.strip() for i in ids.split(",") if i.strip()]
    if not wanted:
        raise InvalidInput("ids names the iterations to ask about: ?ids=a,b,c")
    found = store.get_live_iterations(experiment_id, wanted)
    return {"now": time.time(), "iterations": [i.to_dict() for i in found]}

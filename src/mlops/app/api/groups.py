"""REST routes for groups of an experiment's iterations: the groups with mean and spread of
metrics, and each group's mean curve of a metric (:mod:`mlops.groups`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlops.app.deps import CanRead, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, ok
from mlops.app.schemas_groups import GroupSeriesOut, IterationGroupsOut
from mlops.groups import MAX_GROUP_LIMIT, GroupSearch
from mlops.wire import encode_floats

router = APIRouter(tags=["groups"], route_class=PlainRoute, responses=ERRORS)


@router.post(
    "/experiments/{experiment_id}/groups",
    dependencies=[CanRead],
    responses=ok(IterationGroupsOut),
)
def group_iterations(experiment_id: str, body: GroupSearch, store: StoreDep) -> dict[str, Any]:
    """The live iterations of an experiment matching ``filter``, grouped by ``group_by``
    (parameters or tags: ``"params.config, params.lr"``, a name with a comma in backticks):
    per group the key (``missing`` where an iteration has no such key), the count, for each of
    ``metrics`` the mean, std, min and max of the final values, the first ``ids_per_group``
    iteration ids; ordered by ``order`` (``count desc``, ``mean(metrics.acc) desc``, ...),
    the groups past ``limit`` gathered in one last "others" group."""
    found = store.group_iterations(
        experiment_id, body.group_by, body.filter, body.metrics, body.order, body.limit,
        body.ids_per_group,
    )  # fmt: skip
    return encode_floats(found.to_dict())


@router.get(
    "/experiments/{experiment_id}/groups/series",
    dependencies=[CanRead],
    responses=ok(GroupSeriesOut),
)
def group_series(
    experiment_id: str,
    store: StoreDep,
    group_by: str,
    name: str,
    filter: str | None = None,
    order: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_GROUP_LIMIT)] = 10,
    max_points: Annotated[int, Query(ge=2, le=100_000)] = 500,
) -> dict[str, Any]:
    """Each group's mean curve of metric ``name`` (the groups of ``POST .../groups`` with the
    same ``group_by``, ``filter``, ``order`` and ``limit``): per step the mean across the
    group's iterations, the std, min, max and how many had a value, at most ``max_points``
    steps (buckets of steps beyond: each its last step, averaged)."""
    found = store.group_series(experiment_id, group_by, name, filter, order, limit, max_points)
    return encode_floats(found.to_dict())

"""REST route for the charts of an experiment's workspace: the chosen parameters and final
metric values of every filtered iteration, in columns (parallel coordinates and scatter)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mlops.app.deps import CanRead, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, MetricValue, ok
from mlops.charts import MAX_CHART_ITERATIONS

router = APIRouter(tags=["iterations"], route_class=PlainRoute, responses=ERRORS)


class PointsSearch(BaseModel):
    """Body of ``POST /experiments/{id}/points``: a search (the query language of
    ``filter`` and ``order_by``) and the parameters and metrics wanted of each iteration."""

    model_config = ConfigDict(extra="forbid")

    filter: str | None = None
    order_by: list[str] | str | None = None
    parameters: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    limit: int = MAX_CHART_ITERATIONS


class PointsOut(BaseModel):
    """The filtered iterations of an experiment in columns: the k-th entry of each list is the
    k-th iteration (null where it has no such parameter or metric; a metric is its last
    value); ``more`` says whether iterations past ``limit`` match too."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str]
    names: list[str]
    parameters: dict[str, list[Any]]
    metrics: dict[str, list[MetricValue | None]]
    more: bool


@router.post("/experiments/{experiment_id}/points", dependencies=[CanRead], responses=ok(PointsOut))
def experiment_points(experiment_id: str, body: PointsSearch, store: StoreDep) -> dict[str, Any]:
    """Up to 10,000 iterations of an experiment matching ``filter`` (in ``order_by`` order),
    each with only the ``parameters`` and ``metrics`` named: what the experiment page's
    parallel coordinates and scatter draw."""
    found = store.get_iteration_values(
        experiment_id, body.filter or None, body.order_by or None, body.limit, body.parameters,
        body.metrics,
    )  # fmt: skip
    return found.to_dict()

"""REST route for the charts of an experiment's workspace: the chosen parameters and final
metric values of every filtered iteration, in columns (parallel coordinates and scatter)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mlops.app.deps import CanRead, StoreDep
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, MetricValue, ok
from mlops.errors import InvalidInput
from mlops.values import check_name

router = APIRouter(tags=["iterations"], route_class=PlainRoute, responses=ERRORS)

#: Iterations one answer carries at most (parallel coordinates draws up to this many lines).
MAX_POINTS = 10_000
#: Names of parameters plus metrics one request may ask for.
MAX_NAMES = 50


class PointsSearch(BaseModel):
    """Body of ``POST /experiments/{id}/points``: a search (the query language of
    ``filter`` and ``order_by``) and the parameters and metrics wanted of each iteration."""

    model_config = ConfigDict(extra="forbid")

    filter: str | None = None
    order_by: list[str] | str | None = None
    parameters: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    limit: int = MAX_POINTS


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
    if not 1 <= body.limit <= MAX_POINTS:
        raise InvalidInput(f"limit must be between 1 and {MAX_POINTS}, got {body.limit}")
    names = [*dict.fromkeys(body.parameters), *dict.fromkeys(body.metrics)]
    if len(names) > MAX_NAMES:
        raise InvalidInput(
            f"at most {MAX_NAMES} parameters and metrics at once, got {len(names)}: ask for fewer"
        )
    for name in body.parameters:
        check_name(name, "parameter name")
    for name in body.metrics:
        check_name(name, "metric name")
    store.get_experiment(experiment_id)  # NotFound names an unknown experiment
    found = store.list_iterations(
        experiment_id=experiment_id,
        filter=body.filter or None,
        order_by=body.order_by or None,
        limit=body.limit + 1,
        parameter_names=list(dict.fromkeys(body.parameters)),
        metric_names=list(dict.fromkeys(body.metrics)),
    )
    shown = found[: body.limit]
    return {
        "ids": [it.id for it in shown],
        "names": [it.name for it in shown],
        "parameters": {
            name: [it.parameters.get(name) for it in shown]
            for name in dict.fromkeys(body.parameters)
        },
        "metrics": {
            name: [s.last if (s := it.metrics.get(name)) is not None else None for it in shown]
            for name in dict.fromkeys(body.metrics)
        },
        "more": len(found) > body.limit,
    }

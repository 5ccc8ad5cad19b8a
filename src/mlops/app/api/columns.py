"""REST route for a whole metric series in columns, as JSON or packed (``Accept``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from mlops.app.deps import CanRead, StoreDep
from mlops.app.responses import JsonResponse, PlainRoute
from mlops.app.schemas import ERRORS, MetricColumnsOut
from mlops.series import SERIES_MEDIA_TYPE, MetricColumns
from mlops.values import check_name
from mlops.wire import MAX_HISTORY_PAGE

router = APIRouter(tags=["iterations"], route_class=PlainRoute, responses=ERRORS)

_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": MetricColumnsOut,
        "description": (MetricColumnsOut.__doc__ or "").strip().split("\n\n")[0],
        "content": {SERIES_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


def wants_binary(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for the packed form (named with a weight above 0);
    anything else, a malformed header too, gets JSON."""
    for item in (accept or "").split(","):
        kind, *options = (part.strip() for part in item.split(";"))
        if kind.lower() != SERIES_MEDIA_TYPE:
            continue
        weight = 1.0
        for option in options:
            key, _, value = option.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0:
            return True
    return False


@router.get("/history/columns", dependencies=[CanRead], responses=_ANSWERS)
def get_metric_columns(
    request: Request,
    store: StoreDep,
    iteration_id: str,
    metric: str,
    after_step: Annotated[int | None, Query(ge=-(2**63), le=2**63 - 1)] = None,
) -> Response:
    """Every point of one metric of one iteration, by step, in columns: JSON
    ``{"steps", "values", "timestamps"}`` (the default), or packed little-endian arrays for
    ``Accept: application/x-mlops-series`` (every bit of every value, NaN and ±Inf too).
    ``after_step``: only the points after that step (what a live page asks for; empty when
    nothing new came)."""
    check_name(metric, "metric name")
    if after_step is None:
        columns = store.get_metric_columns(iteration_id, metric)
    else:
        points = store.get_metric_page(iteration_id, metric, after_step, MAX_HISTORY_PAGE)
        columns = MetricColumns.of_points(points)
    if wants_binary(request.headers.get("accept")):
        return Response(columns.to_bytes(), media_type=SERIES_MEDIA_TYPE)
    return JsonResponse(columns.to_json())

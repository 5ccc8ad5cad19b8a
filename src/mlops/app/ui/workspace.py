"""The chart panel of the experiment page: its settings, read from the page's address.

``?charts=loss,acc`` (the metrics charted), ``x=step|time|relative``, ``smooth=0..0.99``,
``log=1``, ``curves=10`` (how many of the table's iterations get a curve, 1 to 100),
``pc=lr,model`` and ``pc_metric=acc`` (parallel coordinates), ``sx=params.lr`` and
``sy=acc`` (scatter; either opens its panel). The browser draws the charts
(static/workspace.js); this module only says what the address asks for, so the page and its
JSON twin agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request

from mlops.app.ui.render import query_list

#: The x axes a chart may use.
X_AXES = ("step", "time", "relative")
#: Curves a chart shows by default, and at most.
DEFAULT_CURVES, MAX_CURVES = 10, 100
#: Charts shown when the address names none: the first metrics (training metrics first).
DEFAULT_CHARTS = 2


def _number(text: str | None, default: float, low: float, high: float) -> float:
    try:
        value = float(text) if text is not None else default
    except ValueError:
        return default
    if value != value:  # NaN
        return default
    return min(high, max(low, value))


def _known_field(field: str, metrics: set[str], params: set[str]) -> bool:
    kind, _, name = field.partition(".")
    return (kind == "params" and name in params) or (kind == "metrics" and name in metrics)


def chart_state(
    request: Request, metric_names: Sequence[str], param_names: Sequence[str]
) -> dict[str, Any]:
    """The chart panel's settings from the address, unknown names dropped and numbers
    clamped, with the defaults for what the address leaves out."""
    metrics = set(metric_names)
    picked = query_list(request, "charts", metrics)
    charts = (
        [name for name in picked if name in metrics]
        if picked is not None
        else list(metric_names[:DEFAULT_CHARTS])
    )
    x = request.query_params.get("x", "step")
    pc = query_list(request, "pc", set(param_names))
    pc_metric = request.query_params.get("pc_metric", "")
    sx = request.query_params.get("sx", "")
    sy = request.query_params.get("sy", "")
    default_sx = f"params.{param_names[0]}" if param_names else ""
    return {
        "charts": charts,
        "x": x if x in X_AXES else "step",
        "smooth": round(_number(request.query_params.get("smooth"), 0.0, 0.0, 0.99), 2),
        "log": request.query_params.get("log", "") in ("1", "true"),
        "curves": int(_number(request.query_params.get("curves"), DEFAULT_CURVES, 1, MAX_CURVES)),
        "pc": [n for n in pc if n in set(param_names)] if pc is not None else list(param_names[:6]),
        "pc_metric": pc_metric if pc_metric in metrics else (charts[0] if charts else ""),
        "sx": sx if _known_field(sx, metrics, set(param_names)) else default_sx,
        "sy": sy if sy in metrics else (charts[0] if charts else ""),
        # The parallel coordinates and the scatter load only when open (or opened).
        "open": [
            panel
            for panel, keys in (("pc", ("pc", "pc_metric")), ("scatter", ("sx", "sy")))
            if any(key in request.query_params for key in keys)
        ],
    }

"""Group rows of the experiment page: ``?group_by=params.config,params.lr`` turns the table
into one row per group (count, mean ± std or min–max of each metric column), each expandable
to its iterations (the browser fetches them by id), with an "others" row past the first
``GROUP_LIMIT`` groups (``?group_limit=N`` for another number). The groups are the store's
(:meth:`Store.group_iterations`, in SQL); this module only reads the address and shapes the
rows. The JSON twin carries them too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request

from mlops.app.ui.render import query_int
from mlops.app.ui.table import quote_name
from mlops.entities import Iteration
from mlops.errors import InvalidInput
from mlops.groups import MAX_GROUP_LIMIT, MetricSpread

__all__ = ["GROUP_LIMIT", "group_context"]

#: Groups shown as rows before the rest are gathered into "others".
GROUP_LIMIT = 50
#: Iteration ids a group row carries for expanding it.
IDS_PER_GROUP = 100


def group_context(
    request: Request,
    store: Any,
    experiment_id: str,
    filter_text: str,
    metrics: Sequence[str],
    param_names: Sequence[str],
    shown: Sequence[Iteration],
) -> dict[str, Any]:
    """The page's grouping: ``group_by`` as given, the keys a picker offers (the
    experiment's parameters, the tags of the page's iterations), and ``groups`` (None when
    not grouped) or ``group_error`` (a key or order the store refused)."""
    group_by = request.query_params.get("group_by", "").strip()
    order = request.query_params.get("group_order", "").strip() or None
    limit = min(query_int(request, "group_limit", GROUP_LIMIT), MAX_GROUP_LIMIT)
    tag_keys = sorted({key for iteration in shown for key in iteration.tags})
    offered = [f"params.{quote_name(p)}" for p in param_names]
    offered += [f"tags.{quote_name(t)}" for t in tag_keys]
    out: dict[str, Any] = {
        "group_by": group_by,
        "group_order": order or "",
        "group_keys": offered,
        "groups": None,
        "group_error": None,
    }
    if not group_by:
        return out
    try:
        found = store.group_iterations(
            experiment_id, group_by, filter_text or None, list(metrics), order, limit,
            IDS_PER_GROUP,
        )  # fmt: skip
    except InvalidInput as exc:
        out["group_error"] = exc.to_dict()
        return out
    out["group_fields"] = list(found.group_by)
    out["group_total"] = found.total
    out["group_count"] = found.group_count
    out["groups"] = [
        {
            **group.to_dict(),
            "label": group.label(found.group_by),
            "cells": {name: _cell(group.metrics.get(name)) for name in metrics},
        }
        for group in found.groups
    ]
    return out


def _cell(spread: MetricSpread | None) -> dict[str, Any]:
    """What a metric cell of a group row shows: numbers for the template's ``num`` filter."""
    if spread is None or spread.count == 0:
        return {"count": 0}
    return {
        "count": spread.count,
        "mean": spread.mean,
        "std": spread.std,
        "min": spread.min,
        "max": spread.max,
    }

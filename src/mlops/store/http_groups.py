"""The grouping requests of the HTTP store (the App computes the groups in SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlops.groups import GroupSearch, GroupSeries, IterationGroups
from mlops.store.http_client import part
from mlops.store.http_reads import AppCalls
from mlops.wire import to_body

__all__ = ["AppGroups"]


class AppGroups(AppCalls):
    """``group_iterations`` and ``group_series`` of :class:`~mlops.store.http.HttpStore`."""

    def group_iterations(
        self,
        experiment_id: str,
        group_by: str | Sequence[str],
        filter: str | None = None,
        metrics: Sequence[str] = (),
        order: str | None = None,
        limit: int = 20,
        ids_per_group: int = 100,
    ) -> IterationGroups:
        keys: Any = group_by if isinstance(group_by, str) else list(group_by)
        names: Any = metrics if isinstance(metrics, str) else list(metrics)
        body = to_body(GroupSearch(keys, filter, names, order, limit, ids_per_group))
        answer = self._call("POST", f"/experiments/{part(experiment_id)}/groups", body)
        return IterationGroups.from_dict(answer)

    def group_series(
        self,
        experiment_id: str,
        group_by: str | Sequence[str],
        metric: str,
        filter: str | None = None,
        order: str | None = None,
        limit: int = 10,
        max_points: int = 500,
    ) -> GroupSeries:
        keys = group_by if isinstance(group_by, str) else ", ".join(group_by)
        params: dict[str, Any] = {"group_by": keys, "name": metric, "limit": limit}
        params["max_points"] = max_points
        if filter is not None:
            params["filter"] = filter
        if order is not None:
            params["order"] = order
        path = f"/experiments/{part(experiment_id)}/groups/series"
        return GroupSeries.from_dict(self._call("GET", path, params=params))

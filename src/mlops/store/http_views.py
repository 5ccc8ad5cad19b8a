"""Saved views and live state over the App's REST API (mixed into
:class:`~mlops.store.http.HttpStore`). Like the management calls, each needs the App's answer:
``Unavailable`` naming the App's URL when it cannot be reached, never journaled."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlops.charts import IterationValues, check_value_request
from mlops.store.http_client import part
from mlops.store.http_codec import _ts
from mlops.store.http_reads import AppCalls
from mlops.views import (
    LiveIteration,
    LiveSeries,
    SavedView,
    ViewCreate,
    ViewUpdate,
    check_live_ids,
    check_view_name,
    check_view_state,
)
from mlops.wire import decode_float, to_body

__all__ = ["AppViews"]


def view_from(data: dict[str, Any]) -> SavedView:
    """A view as the App sends it."""
    return SavedView(
        id=data["id"],
        short_id=data["short_id"],
        experiment_id=data["experiment_id"],
        project_id=data["project_id"],
        name=data["name"],
        state=dict(data["state"]),
        created_by=data["created_by"],
        created_at=_ts(data["created_at"]) or 0.0,
        updated_at=_ts(data["updated_at"]) or 0.0,
    )


def _value(sent: Any) -> float:
    value = decode_float(sent)
    return math.nan if value is None else value


def live_from(data: dict[str, Any]) -> LiveIteration:
    """An iteration's live state as the App sends it."""
    metrics = {
        name: LiveSeries(_value(s["last"]), int(s["last_step"]), int(s["rewrites"]))
        for name, s in data["metrics"].items()
    }
    return LiveIteration(
        id=data["id"],
        experiment_id=data["experiment_id"],
        project_id=data["project_id"],
        name=data["name"],
        status=data["status"],
        started_at=float(data["started_at"]),
        ended_at=data["ended_at"],
        heartbeat_at=data["heartbeat_at"],
        metrics=metrics,
    )


class AppViews(AppCalls):
    """Saved views and live state of experiment pages, on top of ``_call``."""

    @staticmethod
    def _views_path(experiment_id: str) -> str:
        return f"/experiments/{part(experiment_id)}/views"

    def list_views(self, experiment_id: str) -> list[SavedView]:
        data = self._call("GET", self._views_path(experiment_id))
        return [view_from(v) for v in data["views"]]

    def create_view(self, experiment_id: str, name: str, state: Mapping[str, str]) -> SavedView:
        check_view_name(name)
        body = to_body(ViewCreate(name, check_view_state(state)))
        # not repeatable: a retry after a lost answer would find the name taken
        data = self._call("POST", self._views_path(experiment_id), body, repeatable=False)
        return view_from(data)

    def update_view(
        self,
        experiment_id: str,
        view_id: str,
        name: str | None = None,
        state: Mapping[str, str] | None = None,
    ) -> SavedView:
        if name is not None:
            check_view_name(name)
        kept = None if state is None else check_view_state(state)
        path = f"{self._views_path(experiment_id)}/{part(view_id)}"
        return view_from(self._call("PATCH", path, to_body(ViewUpdate(name, kept))))

    def delete_view(self, experiment_id: str, view_id: str) -> None:
        self._call("DELETE", f"{self._views_path(experiment_id)}/{part(view_id)}")

    def get_view(self, short_id: str) -> SavedView:
        return view_from(self._call("GET", f"/views/{part(short_id)}"))

    def get_live_iterations(
        self, experiment_id: str, iteration_ids: Sequence[str]
    ) -> list[LiveIteration]:
        ids = check_live_ids(iteration_ids)
        if not ids:
            self._call("GET", f"/experiments/{part(experiment_id)}")  # NotFound when unknown
            return []
        data = self._call(
            "GET", f"/experiments/{part(experiment_id)}/live", params={"ids": ",".join(ids)}
        )
        return [live_from(i) for i in data["iterations"]]

    def get_iteration_values(
        self,
        experiment_id: str,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 10_000,
        parameter_names: Sequence[str] = (),
        metric_names: Sequence[str] = (),
    ) -> IterationValues:
        parameters, metrics = check_value_request(limit, parameter_names, metric_names)
        order = order_by if order_by is None or isinstance(order_by, str) else list(order_by)
        body = {"filter": filter, "order_by": order, "parameters": parameters,
                "metrics": metrics, "limit": limit}  # fmt: skip
        data = self._call("POST", f"/experiments/{part(experiment_id)}/points", body)
        return IterationValues(
            ids=list(data["ids"]),
            names=list(data["names"]),
            parameters={name: list(values) for name, values in data["parameters"].items()},
            metrics={
                name: [decode_float(v) for v in values] for name, values in data["metrics"].items()
            },
            more=bool(data["more"]),
        )

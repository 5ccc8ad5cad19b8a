"""The Trash page: deleted experiments and iterations, each with Restore and Purge buttons
(the buttons call the REST API, which asks for a write token when the App runs with
``--auth``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from mlops.app.ui.pages import store_of
from mlops.app.ui.render import Page, page_route
from mlops.entities import iso
from mlops.errors import NotFound

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
#: Deleted iterations listed (most recently started first); the rest are counted.
SHOWN = 500


@page_route(router, "/trash")
def trash(request: Request) -> Page:
    """Deleted experiments (with their project) and deleted iterations (with their
    experiment), when each was deleted, most recent first."""
    store = store_of(request)
    titles: dict[str, str] = {}

    def title(project_id: str) -> str:
        if project_id not in titles:
            try:
                titles[project_id] = store.get_project(project_id).title
            except NotFound:
                titles[project_id] = project_id
        return titles[project_id]

    experiments = store.list_experiments(None, deleted=True)
    gone = [
        {**e.to_dict(), "project_title": title(e.project_id)}
        for e in sorted(experiments, key=lambda e: -(e.deleted_at or 0))
    ]
    names: dict[str, tuple[str, bool]] = {}
    rows: list[dict[str, Any]] = []
    found = store.list_iterations(
        deleted=True, limit=SHOWN + 1, parameter_names=[], metric_names=[]
    )
    for run in found[:SHOWN]:
        if run.experiment_id not in names:
            experiment = store.get_experiment(run.experiment_id)
            names[run.experiment_id] = (experiment.name, experiment.deleted_at is not None)
        name, experiment_deleted = names[run.experiment_id]
        rows.append(
            {
                "id": run.id,
                "name": run.name,
                "status": run.status,
                "experiment_id": run.experiment_id,
                "experiment_name": name,
                "experiment_deleted": experiment_deleted,
                "deleted_at": iso(run.deleted_at),
            }
        )
    rows.sort(key=lambda r: r["deleted_at"] or "", reverse=True)
    data = {"experiments": gone, "iterations": rows, "more": len(found) > SHOWN}
    return Page("trash.html", data, {"title": "Trash", "crumbs": [], "nav": "trash"})

"""The Trash page: deleted projects, experiments, iterations and datasets, when and by whom
each was deleted, each with Restore and Purge buttons (the buttons call the REST API, which
asks for a write token when the App runs with ``--auth``). A restore into a taken name
answers 409: the row then offers to restore under a new name."""

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


def _newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: r["deleted_at"] or "", reverse=True)


@page_route(router, "/trash")
def trash(request: Request) -> Page:
    """Deleted projects, experiments (with their project), iterations (with their
    experiment) and dataset versions, when and by whom each was deleted, most recent first.
    Iterations hidden with their experiment or project are listed too, marked so."""
    store = store_of(request)
    projects = store.list_projects(deleted=None)
    titles = {p.id: p.title for p in projects}
    gone_projects = {p.id for p in projects if p.deleted_at is not None}
    deleted_projects = _newest_first([p.to_dict() for p in projects if p.deleted_at is not None])

    def title(project_id: str) -> str:
        return titles.get(project_id, project_id)

    experiments = store.list_experiments(None, deleted=True)
    gone = _newest_first(
        [
            {**e.to_dict(), "project_title": title(e.project_id)}
            for e in experiments
            if e.deleted_at is not None  # not those only hidden with their project
        ]
    )
    names: dict[str, tuple[str, bool]] = {}
    rows: list[dict[str, Any]] = []
    found = store.list_iterations(
        deleted=True, limit=SHOWN + 1, parameter_names=[], metric_names=[]
    )
    for run in found[:SHOWN]:
        if run.experiment_id not in names:
            try:
                experiment = store.get_experiment(run.experiment_id)
                names[run.experiment_id] = (experiment.name, experiment.deleted_at is not None)
            except NotFound:
                names[run.experiment_id] = (run.experiment_id, True)
        name, experiment_deleted = names[run.experiment_id]
        rows.append(
            {
                "id": run.id,
                "name": run.name,
                "status": run.status,
                "experiment_id": run.experiment_id,
                "experiment_name": name,
                "experiment_deleted": experiment_deleted or run.project_id in gone_projects,
                "deleted_at": iso(run.deleted_at),
                "deleted_by": run.deleted_by,
            }
        )
    datasets = _newest_first([d.to_dict() for d in store.list_datasets(deleted=True)])
    data = {
        "projects": deleted_projects,
        "experiments": gone,
        "iterations": _newest_first(rows),
        "datasets": datasets,
        "more": len(found) > SHOWN,
    }
    return Page("trash.html", data, {"title": "Trash", "crumbs": [], "nav": "trash"})

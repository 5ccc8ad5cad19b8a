"""Catalog pages: the project list, one project, the dataset list and one dataset's lineage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from mlops.app.scope import store_for
from mlops.app.ui.markdown import render_note
from mlops.app.ui.render import Page, dataset_url, page_route, wants_json
from mlops.entities import training_first
from mlops.errors import NotFound
from mlops.store.sql.store import SqlStore

__all__ = ["router", "store_of"]

router = APIRouter(include_in_schema=False)
#: How many experiments of a project are asked for their metric names (the metric picker).
MAX_METRIC_SOURCES = 50


def store_of(request: Request) -> SqlStore:
    """The App's store (the pages use the SQL store's read models), as the visitor's token
    may see it (:func:`mlops.app.scope.store_for`)."""
    store: SqlStore = store_for(request)
    return store


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    """The start page is the project list."""
    return RedirectResponse("/projects", status_code=307)


@page_route(router, "/projects")
def projects(request: Request) -> Page:
    """Every project with counts and last activity; ``?q=`` searches titles, ``?archived=1``
    shows archived ones too."""
    q = request.query_params.get("q", "").strip()
    archived = request.query_params.get("archived", "") in ("1", "true", "on", "yes")
    found = store_of(request).project_overviews(include_archived=archived, search=q or None)
    data = {"projects": [p.to_dict() for p in found], "q": q, "archived": archived}
    return Page("projects.html", data, {"title": "Projects", "crumbs": [], "nav": "projects"})


@page_route(router, "/projects/{project_id}")
def project(request: Request) -> Page:
    """A project: its experiments (with the best value of ``?metric=`` by ``?goal=``), the
    datasets its iterations used, and its editable description and status."""
    store = store_of(request)
    project_id = request.path_params["project_id"]
    found = store.get_project(project_id)
    metric = request.query_params.get("metric", "").strip() or None
    goal = "min" if request.query_params.get("goal") == "min" else "max"
    experiments = store.experiment_overviews(project_id, metric, goal)
    metric_names: set[str] = set()
    for overview in experiments[:MAX_METRIC_SOURCES]:
        metric_names.update(store.iteration_columns(overview.experiment.id, sample=200)[0])
    note = store.get_note("project", project_id)
    data = {
        "project": found.to_dict(),
        "experiments": [e.to_dict() for e in experiments],
        "datasets": [d.to_dict() for d in store.project_datasets(project_id)],
        "metric": metric,
        "goal": goal,
        "metrics": training_first(metric_names),
        "note": note.to_dict(),
    }
    crumbs = [("Projects", "/projects"), (found.title, None)]
    view = {"title": found.title, "crumbs": crumbs, "nav": "projects"}
    return Page("project.html", data, {**view, "note_html": render_note(note.text)})


@page_route(router, "/datasets")
def datasets(request: Request) -> Page:
    """Every dataset version: name, version, size, file count, digest and tags."""
    found = store_of(request).list_datasets()
    found = sorted(found, key=lambda d: (d.name.lower(), -d.created_at))
    data = {"datasets": [d.to_dict() for d in found]}
    return Page("datasets.html", data, {"title": "Datasets", "crumbs": [], "nav": "datasets"})


def _dataset_name(request: Request) -> str:
    name: str = request.path_params["name"]
    return name[:-1] if name.endswith(".json/") else name


@page_route(router, "/datasets/{name:path}")
def dataset(request: Request) -> Page | RedirectResponse:
    """One dataset: its versions and, for each, the iterations and experiments that used it."""
    name = _dataset_name(request)
    lineage = store_of(request).dataset_lineage(name)
    if not lineage and wants_json(request) and store_of(request).list_datasets(name + ".json"):
        # "/datasets/conf.json" is the page of the dataset "conf.json", not the twin of "conf"
        return RedirectResponse(dataset_url(name + ".json"), status_code=307)
    if not lineage:
        raise NotFound(f"no dataset is named {name!r}: see /datasets for the ones there are")
    versions: list[dict[str, Any]] = []
    for version, used in lineage:
        refs = [u.to_dict() for u in used]
        experiments = {(u.experiment_id, u.experiment_name, u.project_id, u.project_title)
                       for u in used}  # fmt: skip
        versions.append(
            {
                "dataset": version.to_dict(),
                "iterations": refs,
                "experiments": [
                    {"id": e[0], "name": e[1], "project_id": e[2], "project_title": e[3]}
                    for e in sorted(experiments, key=lambda e: (e[3], e[1]))
                ],
            }
        )
    data = {"name": name, "versions": versions}
    crumbs = [("Datasets", "/datasets"), (name, None)]
    view = {"title": f"Dataset {name}", "crumbs": crumbs, "nav": "datasets"}
    return Page("dataset.html", data, view)

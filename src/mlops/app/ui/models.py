"""Model registry pages: the registered models, and one model's versions with their runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from mlops.app.ui.pages import store_of
from mlops.app.ui.render import Page, page_route
from mlops.errors import NotFound

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@page_route(router, "/models")
def models(request: Request) -> Page:
    """Every registered model: its latest version and its aliases."""
    found = [m.to_dict() for m in store_of(request).list_models()]
    view = {"title": "Models", "crumbs": [], "nav": "models"}
    return Page("models.html", {"models": found}, view)


@page_route(router, "/models/{name}")
def model(request: Request) -> Page:
    """One model: each version with the iteration it came from (its key metrics and dataset
    versions) and who set each alias when."""
    store = store_of(request)
    name = request.path_params["name"]
    found = store.get_model(name)
    versions: list[dict[str, Any]] = []
    for version in store.list_model_versions(name):
        row = version.to_dict()
        try:
            run = store.get_iteration(version.iteration_id)
        except NotFound:  # the iteration went away: the version still says where it came from
            row["iteration"] = None
        else:
            row["iteration"] = {
                "id": run.id,
                "name": run.name,
                "status": run.status,
                "metrics": {k: s.last for k, s in sorted(run.metrics.items())},
                "datasets": [{"name": d.name, "version": d.version} for d in run.datasets],
            }
        versions.append(row)
    data = {"model": found.to_dict(), "versions": versions}
    crumbs = [("Models", "/models"), (name, None)]
    return Page("model.html", data, {"title": f"Model {name}", "crumbs": crumbs, "nav": "models"})

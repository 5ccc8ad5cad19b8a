"""Saved views on the experiment page: the views menu's data, and ``/v/{short_id}``, the short
URL of a view (a redirect to the experiment page with the view's address parameters)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from mlops.app.ui.pages import store_of
from mlops.app.ui.render import check_access, error_page, path_part
from mlops.errors import MlopsError

router = APIRouter(include_in_schema=False)


def workspace_views(store: Any, experiment_id: str, request: Request) -> dict[str, Any]:
    """The experiment page's part of the views menu: its saved views and the one in use
    (``?view=``), for the page and its JSON twin."""
    views = [v.to_dict() for v in store.list_views(experiment_id)]
    current = request.query_params.get("view", "")
    known = {v["short_id"] for v in views}
    return {"views": views, "view": current if current in known else None}


def view_url(experiment_id: str, short_id: str, state: dict[str, str]) -> str:
    """The experiment page showing a view: its parameters, then ``view=`` naming it."""
    query = urlencode({**state, "view": short_id})
    return f"/experiments/{path_part(experiment_id)}?{query}"


@router.get("/v/{short_id}")
def open_view(request: Request, short_id: str) -> Response:
    """A view's short URL: the experiment page with the view's parameters."""
    denied = check_access(request, as_json=False)
    if denied is not None:
        return denied
    try:
        view = store_of(request).get_view(short_id)
    except MlopsError as exc:
        return error_page(request, exc.status, exc.code, exc.message)
    return RedirectResponse(view_url(view.experiment_id, view.short_id, view.state), 303)

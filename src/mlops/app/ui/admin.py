"""Admin pages: the Activity page (the audit trail) and the Tokens page."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from mlops.app.scope import token_for
from mlops.app.ui.pages import store_of
from mlops.app.ui.render import Page, page_route, query_int
from mlops.errors import Forbidden

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _admin_only(request: Request) -> None:
    """With ``--auth``, only an admin token without project limits sees admin pages."""
    if not request.app.state.settings.auth:
        return
    token = token_for(request)
    if token is None or not token.allows("admin") or token.projects:
        raise Forbidden(
            "this page is for admin tokens without --project (mlops tokens create --scope admin)"
        )


@page_route(router, "/activity")
def activity(request: Request) -> Page:
    """Who changed what, on which object, when: ``?who=`` one actor, ``?days=`` how far back."""
    _admin_only(request)
    who = request.query_params.get("who", "").strip() or None
    days = query_int(request, "days", 7)
    since = time.time() - days * 86400
    events = store_of(request).list_audit_events(since, who, 1000)
    data = {"events": [e.to_dict() for e in events], "who": who, "days": days}
    return Page("activity.html", data, {"title": "Activity", "crumbs": [], "nav": "activity"})


@page_route(router, "/tokens")
def tokens(request: Request) -> Page:
    """The access tokens (never their secrets): create one (its secret shown once), revoke."""
    _admin_only(request)
    found = [t.to_dict() for t in store_of(request).list_tokens()]
    return Page(
        "tokens.html", {"tokens": found}, {"title": "Tokens", "crumbs": [], "nav": "tokens"}
    )

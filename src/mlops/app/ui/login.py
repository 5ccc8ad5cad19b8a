"""Signing in to the web pages of an App started with ``--auth``.

``GET /login`` shows a form; its script posts ``{"token": "..."}`` as JSON to ``POST /login``,
which checks the token and keeps it in the session cookie (HttpOnly, SameSite=Strict, Path=/,
Secure over https). ``POST /logout`` clears the cookie. The login page only ever sends the
visitor on to a path of this App (``next``), never to another site.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from mlops.app.auth import SESSION_COOKIE
from mlops.app.responses import JsonResponse, error_response
from mlops.app.ui.render import render, safe_next

router = APIRouter(include_in_schema=False)
MAX_TOKEN_LENGTH = 1000


@router.get("/login")
def login_page(request: Request) -> Response:
    """The sign-in form (``?next=`` is where to go afterwards)."""
    target = safe_next(request.query_params.get("next"))
    context: dict[str, Any] = {
        "title": "Sign in",
        "crumbs": [],
        "nav": None,
        "next": target,
    }
    return render(request, "login.html", context)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check ``{"token": ..., "next": ...}`` and keep the token in the session cookie."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return error_response(
            415, "unsupported_media_type", 'send the token as JSON: {"token": "..."}'
        )
    try:
        body: Any = json.loads(await request.body())
    except ValueError:
        return error_response(422, "invalid_input", "the body is not valid JSON")
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN_LENGTH:
        return error_response(422, "invalid_input", "paste a token (mlops tokens create NAME)")
    token = token.strip()
    target = safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    if not request.app.state.settings.auth:
        return JsonResponse({"ok": True, "next": target, "auth": False})
    found = request.app.state.store.check_token(token)
    if found is None or not found.allows("read"):
        why = "is not valid"
        if found is not None:
            why = "was revoked" if found.revoked_at is not None else "expired"
        return error_response(401, "unauthorized", f"this token {why}: ask an admin for one")
    response = JsonResponse({"ok": True, "next": target, "auth": True, "name": found.name})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """Forget the session cookie; a form post is sent back to the login page."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    response: Response
    if content_type == "application/json":
        response = JsonResponse({"ok": True})
    else:
        response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response

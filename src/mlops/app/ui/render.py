"""The machinery every web page shares: templates, access, the ``.json`` twins, error pages.

A page handler takes the request and returns a :class:`Page`: a template name, the ``data``
the template shows (which is also exactly what the ``.json`` twin of the page answers) and
``view`` extras that only the HTML needs (breadcrumbs, the page title). :func:`page_route`
registers a handler at ``PATH`` and ``PATH.json``, checks the visitor's token when the App runs
with ``--auth`` and turns :class:`~mlops.errors.MlopsError` into an HTML error page (or the
usual JSON error shape for the twin).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChainableUndefined, Environment, FileSystemLoader

import mlops
from mlops.app.auth import token_of
from mlops.app.responses import JsonResponse, error_response
from mlops.app.scope import token_for
from mlops.display import human_duration, human_size
from mlops.errors import MlopsError
from mlops.wire import encode_floats

log = logging.getLogger("mlops.app")
TEMPLATES = Path(__file__).with_name("templates")
#: Rows per page of the iterations table.
PAGE_SIZE = 50


@dataclass
class Page:
    """What a page handler returns: ``data`` is shown by ``template`` and is the JSON twin."""

    template: str
    data: dict[str, Any]
    view: dict[str, Any] = field(default_factory=dict)
    status: int = 200


Handler = Callable[[Request], Page | Response]


def page_route(router: APIRouter, path: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` at ``path`` (HTML) and ``path.json`` (its JSON twin)."""

    def register(handler: Handler) -> Handler:
        def endpoint(request: Request) -> Response:
            return serve_page(request, handler)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        # the twin goes first: "/x/{id}" would otherwise take "/x/abc.json" as id "abc.json"
        router.add_api_route(path + ".json", endpoint, methods=["GET"], include_in_schema=False)
        router.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
        return handler

    return register


def wants_json(request: Request) -> bool:
    """True for the ``.json`` twin of a page."""
    return request.url.path.endswith(".json")


def serve_page(request: Request, handler: Handler) -> Response:
    """Check access, run the handler, render HTML or JSON; errors become error pages."""
    as_json = wants_json(request)
    denied = check_access(request, as_json)
    if denied is not None:
        return denied
    try:
        result = handler(request)
    except MlopsError as exc:
        return error_page(request, exc.status, exc.code, exc.message)
    except Exception:
        log.exception("page %s failed", request.url.path)
        message = "the App hit an unexpected error; it is in the App's log"
        return error_page(request, 500, "internal", message)
    if isinstance(result, Response):
        return result
    if as_json:
        return JsonResponse(result.data, status_code=result.status)
    return render(request, result.template, {**result.data, **result.view}, result.status)


def render(
    request: Request, template: str, context: Mapping[str, Any], status: int = 200
) -> HTMLResponse:
    """A template rendered with the page's context and the layout's globals."""
    auth_on = bool(request.app.state.settings.auth)
    signed_in = auth_on and has_valid_token(request)
    html = ENV.get_template(template).render(
        **context,
        auth_on=auth_on,
        signed_in=signed_in,
        admin=not auth_on or (signed_in and is_admin(request)),
        version=mlops.__version__,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(request: Request, status: int, code: str, message: str) -> Response:
    """The error as an HTML page (or the API's error JSON for a ``.json`` twin)."""
    if wants_json(request):
        return error_response(status, code, message)
    titles = {401: "Sign-in needed", 403: "Not allowed", 404: "Not found", 422: "Invalid input"}
    context = {"status": status, "code": code, "message": message}
    context["title"] = titles.get(status, "Something went wrong")
    return render(request, "error.html", context, status)


def check_access(request: Request, as_json: bool) -> Response | None:
    """None when the visitor may read (no ``--auth``, or a valid token); else a redirect to the
    login page (HTML) or a 401 (JSON)."""
    if not request.app.state.settings.auth or has_valid_token(request):
        return None
    if as_json:
        return error_response(
            401, "unauthorized", "this App needs a token: sign in at /login or send "
            "'Authorization: Bearer <token>'",
        )  # fmt: skip
    return RedirectResponse("/login?" + urlencode({"next": _here(request)}), status_code=303)


def is_admin(request: Request) -> bool:
    """True when the request's (valid) token may see the admin pages: scope ``admin`` and no
    project limits (the rule of the Tokens and Activity pages)."""
    token = token_for(request)
    return token is not None and token.allows("admin") and not token.projects


def has_valid_token(request: Request) -> bool:
    """True when the request carries a token that is known, not revoked and may read."""
    known = getattr(request.state, "signed_in", None)
    if known is not None:
        return bool(known)
    secret = token_of(request)
    token = request.app.state.store.check_token(secret) if secret else None
    request.state.signed_in = token is not None and token.allows("read")
    if request.state.signed_in:
        request.state.token = token
    return bool(request.state.signed_in)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this App (``/...``), else ``/projects``: never another
    site (``//evil.example``, ``https://...``, ``/\\evil``)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(ord(c) < 32 for c in target)
    ):
        return "/projects"
    return target


# -- query strings ---------------------------------------------------------------------------
def query_list(request: Request, name: str, known: set[str] | None = None) -> list[str] | None:
    """Values of ``name`` given as ``?name=a,b`` or ``?name=a&name=b`` (None when absent).
    A value that is a known name as a whole is kept whole (a metric may contain a comma)."""
    values = request.query_params.getlist(name)
    if not values:
        return None
    out: list[str] = []
    for value in values:
        parts = [value] if known is not None and value in known else value.split(",")
        out.extend(p.strip() for p in parts if p.strip())
    return list(dict.fromkeys(out))


def query_int(request: Request, name: str, default: int, low: int = 1) -> int:
    """An integer query parameter; anything unreadable gives ``default``."""
    try:
        return max(low, int(request.query_params.get(name, default)))
    except ValueError:
        return default


def url(path: str, params: Mapping[str, Any] | None = None) -> str:
    """``path?params`` with empty values left out."""
    kept = {k: v for k, v in (params or {}).items() if v not in (None, "", False)}
    return path + ("?" + urlencode(kept) if kept else "")


# -- formatting (template filters) -----------------------------------------------------------
def fmt_number(value: Any) -> str:
    """A metric value for a table cell: 6 significant digits, NaN and infinities spelled out."""
    if value is None:
        return "—"
    if isinstance(value, str):  # "NaN", "Infinity" from JSON
        return {"Infinity": "∞", "-Infinity": "−∞"}.get(value, value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.6g}"


def fmt_value(value: Any) -> str:
    """A parameter value as text: strings as they are, numbers short, the rest as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return fmt_number(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def fmt_time(value: str | None) -> str:
    """An ISO timestamp as ``2026-11-28 16:18:03`` (UTC; the browser shows local time)."""
    if not value:
        return "—"
    try:
        moment = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(seconds: float | None) -> str:
    """``850 ms``, ``3.2 s``, ``4 min 10 s``; a dash when unknown."""
    return human_duration(seconds) or "—"


def fmt_bytes(size: int | None) -> str:
    """``1.2 MB`` (decimal units); a dash when unknown."""
    return human_size(size) or "—"


def short_digest(digest: str | None) -> str:
    """The first 12 hex digits of ``sha256:...``."""
    if not digest:
        return "—"
    return digest.split(":", 1)[-1][:12]


def path_part(text: str) -> str:
    """``text`` as one URL path segment (``/`` and everything else escaped)."""
    return quote(str(text), safe="")


def dataset_url(name: str) -> str:
    """The address of a dataset's page. A name ending in ``.json`` gets a trailing ``/`` so
    that its page is not taken for the JSON twin of the name without it."""
    return "/datasets/" + path_part(name) + ("/" if name.endswith(".json") else "")


def _json_attr(value: Any) -> str:
    """JSON for a ``data-*`` attribute (autoescape makes it safe there)."""
    return json.dumps(encode_floats(value), ensure_ascii=False, allow_nan=False, default=str)


ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(
    num=fmt_number,
    value=fmt_value,
    when=fmt_time,
    duration=fmt_duration,
    bytes=fmt_bytes,
    digest=short_digest,
    part=path_part,
    jsonattr=_json_attr,
)
ENV.globals.update(url=url, dataset_url=dataset_url)

"""The App's routes as one flat table, with MLflow's behind one prefix test.

FastAPI (0.16x) keeps an included router as a branch of its own and, for every request,
matches each branch's routes again at every level of nesting, then once more to handle the
one found. With some 250 routes in 20 routers, finding the route of an MLflow call cost more
CPU than answering it (1.7 of 2.3 ms in an in-process profile of MLflow's ``runs/log-batch``).
So the App adds every route once, at its full path (:func:`include_flat`), and gathers the
routes under a literal prefix in a :class:`PrefixGroup`, which a request outside the prefix
passes with one ``startswith``. Routes, dependencies, OpenAPI and names stay as declared.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from mlops.app.responses import JsonResponse

__all__ = ["PrefixGroup", "every_route", "flat_routes"]

#: What an APIRoute keeps of its declaration, by the names its constructor takes.
_SETTINGS = tuple(
    name
    for name in inspect.signature(APIRoute.__init__).parameters
    if name not in ("self", "path", "endpoint")
)


def _declared(route: APIRoute) -> dict[str, Any]:
    """The keyword arguments that declare ``route`` again (at another path), with the App's
    response class where the route names none (as including its router in the App did)."""
    declared = {name: getattr(route, name) for name in _SETTINGS if hasattr(route, name)}
    if isinstance(declared.get("response_class"), DefaultPlaceholder):
        declared["response_class"] = JsonResponse
    return declared


def flat_routes(routers: Iterable[APIRouter], prefix: str = "") -> list[APIRoute]:
    """The routes of ``routers``, each declared again at ``prefix`` + its path.

    Only routes are taken: a router given here must not include other routers (list those
    instead), so nothing is left out silently.
    """
    out: list[APIRoute] = []
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise TypeError(f"{route!r} in a flat router: list its router instead")
            endpoint = getattr(route, "declared_endpoint", route.endpoint)
            out.append(type(route)(prefix + route.path, endpoint, **_declared(route)))
    return out


def _route_path(scope: Scope) -> str:
    """The request's path below the App's root path (as Starlette's routes match it)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class PrefixGroup(BaseRoute):
    """Routes whose paths all start with one of ``prefixes``: matched in order when the
    request's path starts with one, skipped at once otherwise. FastAPI's OpenAPI document
    lists top-level routes only: build it from :func:`every_route`."""

    def __init__(self, prefixes: Sequence[str], routes: Sequence[APIRoute]) -> None:
        self.prefixes = tuple(prefixes)
        self.routes = list(routes)
        for route in self.routes:
            if not route.path.startswith(self.prefixes):
                raise ValueError(f"{route.path} cannot be in a group under {self.prefixes}")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or not _route_path(scope).startswith(self.prefixes):
            return Match.NONE, {}
        partial: tuple[Match, Scope] | None = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return match, child
            if match is Match.PARTIAL and partial is None:
                partial = match, child
        return partial or (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # the matched route put itself in the scope (APIRoute.matches)
        await scope["route"].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)


def every_route(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """``routes`` with the routes of each :class:`PrefixGroup` in its place."""
    for route in routes:
        if isinstance(route, PrefixGroup):
            yield from route.routes
        else:
            yield route

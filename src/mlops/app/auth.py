"""Access control: with ``--auth`` every API call needs ``Authorization: Bearer <token>``.

Tokens have a scope (``read`` < ``write`` < ``admin``): a missing, unknown or revoked token is
refused with 401, a token whose scope is too small with 403. Web pages may carry the token in
the App's session cookie instead of the header.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from mlops.entities import ApiToken, iso
from mlops.errors import Forbidden, Unauthorized

SESSION_COOKIE = "mlops_session"
#: Declares the token in the OpenAPI document; :func:`token_of` reads it (or the cookie).
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="Needed when the App runs with --auth: a token from `mlops tokens create`.",
)


#: Where the App's guard leaves the token it checked, so a route does not look it up again.
TOKEN_KEY = "mlops.token"


def token_of(request: Request) -> str | None:
    """The token a request carries: the Authorization header, else the session cookie."""
    return secret_of(request.headers.get("authorization", ""), request.cookies)


def secret_of(authorization: str, cookies: Mapping[str, str]) -> str | None:
    """The token in an ``Authorization`` header value, else in the session cookie."""
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return cookies.get(SESSION_COOKIE)


async def identify(store: Any, secret: str | None) -> ApiToken:
    """The valid token for ``secret``; :class:`Unauthorized` when there is none, or it is
    unknown or revoked. Looked up on a worker thread (it reads the database)."""
    if secret is None:
        raise Unauthorized(
            "this App needs a token: send 'Authorization: Bearer <token>' "
            "(set MLOPS_API_TOKEN for the mlops client; ask an admin for "
            "`mlops tokens create NAME --scope write`)"
        )
    token: ApiToken | None = await run_in_threadpool(store.check_token, secret)
    if token is None:
        raise Unauthorized("the token is not valid: check MLOPS_API_TOKEN")
    if token.revoked_at is not None:
        raise Unauthorized(f"the token {token.name!r} was revoked: ask for a new one")
    if token.expired(time.time()):
        raise Unauthorized(
            f"the token {token.name!r} expired on {iso(token.expires_at)}: ask an admin for a "
            "new one (`mlops tokens create NAME --expires 90d`)"
        )
    return token


def require(scope: str) -> Callable[..., Awaitable[None]]:
    """A route dependency that lets the request through only with a token of ``scope``.
    Async, so an App without ``--auth`` checks nothing on a worker thread."""

    async def check(
        request: Request,
        _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> None:
        if not request.app.state.settings.auth:
            return
        token = request.scope.get(TOKEN_KEY)
        if token is None:
            token = await identify(request.app.state.store, token_of(request))
        if not token.allows(scope):
            raise Forbidden(
                f"the token {token.name!r} has scope {token.scope!r}, this needs {scope!r}"
            )
        request.state.token_name = token.name
        request.state.token = token

    return check


def actor(request: Request) -> str:
    """Who makes a request, for records such as "who moved this alias": the token's name with
    ``--auth``, ``"local"`` without."""
    return str(getattr(request.state, "token_name", None) or "local")

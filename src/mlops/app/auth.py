"""Access control: with ``--auth`` every API call needs ``Authorization: Bearer <token>``.

Tokens have a scope (``read`` < ``write`` < ``admin``): a missing, unknown or revoked token is
refused with 401, a token whose scope is too small with 403. Web pages may carry the token in
the App's session cookie instead of the header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from mlops.errors import Forbidden, Unauthorized

SESSION_COOKIE = "mlops_session"
#: Declares the token in the OpenAPI document; :func:`token_of` reads it (or the cookie).
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="Needed when the App runs with --auth: a token from `mlops tokens create`.",
)


def token_of(request: Request) -> str | None:
    """The token a request carries: the Authorization header, else the session cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


def require(scope: str) -> Callable[..., Awaitable[None]]:
    """A route dependency that lets the request through only with a token of ``scope``.
    Async, so an App without ``--auth`` checks nothing on a worker thread."""

    async def check(
        request: Request,
        _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> None:
        if not request.app.state.settings.auth:
            return
        secret = token_of(request)
        if secret is None:
            raise Unauthorized(
                "this App needs a token: send 'Authorization: Bearer <token>' "
                "(set MLOPS_API_TOKEN for the mlops client; ask an admin for "
                "`mlops tokens create NAME --scope write`)"
            )
        token = await run_in_threadpool(request.app.state.store.check_token, secret)
        if token is None:
            raise Unauthorized("the token is not valid: check MLOPS_API_TOKEN")
        if token.revoked_at is not None:
            raise Unauthorized(f"the token {token.name!r} was revoked: ask for a new one")
        if not token.allows(scope):
            raise Forbidden(
                f"the token {token.name!r} has scope {token.scope!r}, this needs {scope!r}"
            )

    return check

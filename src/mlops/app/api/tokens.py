"""REST routes for access tokens, for ``admin`` tokens: create (the secret shown once), list,
revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field

from mlops.app.auth import require
from mlops.app.deps import get_store
from mlops.app.responses import PlainRoute
from mlops.app.schemas import ERRORS, Timestamp, ok
from mlops.store.sql.tokens import expiry_time

router = APIRouter(route_class=PlainRoute, responses=ERRORS)
CanAdmin = Depends(require("admin"))
#: The App's SQL store (tokens live in the App's database), as the request's token sees it.
StoreDep = Annotated[Any, Depends(get_store)]


class TokenCreate(BaseModel):
    """Body of ``POST /tokens``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=250)
    scope: str = "write"
    #: Titles or ids of the projects the token may see; empty: every project.
    projects: list[str] = Field(default_factory=list, max_length=100)
    #: When it stops working: ``30m``, ``12h``, ``90d``, ``2w`` or a date; None: never.
    expires: str | None = Field(default=None, max_length=64)


class TokenOut(BaseModel):
    """A token's record (never its secret)."""

    id: str
    name: str
    scope: str
    projects: list[str]
    created_at: Timestamp
    expires_at: Timestamp | None
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class TokenList(BaseModel):
    """Every token, newest first (revoked ones too)."""

    tokens: list[TokenOut]


class TokenCreated(BaseModel):
    """A new token: its secret, shown only in this answer, and its record."""

    secret: str
    token: TokenOut


@router.get("/tokens", dependencies=[CanAdmin], tags=["tokens"], responses=ok(TokenList))
def list_tokens(store: StoreDep) -> dict[str, Any]:
    """Every token: name, scope, projects, created, expires, last use, revoked."""
    return {"tokens": [t.to_dict() for t in store.list_tokens()]}


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanAdmin],
    tags=["tokens"],
    responses=ok(TokenCreated, 201),
)
def create_token(body: TokenCreate, store: StoreDep) -> dict[str, Any]:
    """Create a token; its secret is in this answer only (only its hash is kept)."""
    expires_at = None if body.expires is None else expiry_time(body.expires)
    secret, token = store.create_token(body.name, body.scope, body.projects, expires_at)
    return {"secret": secret, "token": token.to_dict()}


@router.delete(
    "/tokens/{name_or_id}", dependencies=[CanAdmin], tags=["tokens"], responses=ok(TokenOut)
)
def revoke_token(name_or_id: str, store: StoreDep) -> dict[str, Any]:
    """Revoke a token: it is refused from the next request on."""
    return store.revoke_token(name_or_id).to_dict()


class AuditEventOut(BaseModel):
    """One recorded change: who (a token's name, or ``local:<user>``), what, which object."""

    id: int
    at: Timestamp
    actor: str
    action: str
    kind: str
    object_id: str | None
    detail: Any = None


class AuditList(BaseModel):
    """Recorded changes, newest first."""

    events: list[AuditEventOut]


@router.get("/audit", dependencies=[CanAdmin], tags=["tokens"], responses=ok(AuditList))
def list_audit_events(
    store: StoreDep,
    since: Annotated[float | None, Query(ge=0, description="epoch seconds")] = None,
    who: Annotated[str | None, Query(max_length=250)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """The audit trail (as ``mlops audit`` and the Activity page show it): changes since
    ``since``, by ``who``, at most ``limit``, newest first."""
    return {"events": [e.to_dict() for e in store.list_audit_events(since, who, limit)]}

"""``GET /api/v1/health``: is the App up, and which schema does its database have."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

import mlops
from mlops.app import schemas
from mlops.store.sql.models import SCHEMA_REVISION

router = APIRouter()


@router.get(
    "/health",
    tags=["health"],
    response_model=None,
    responses={**schemas.ok(schemas.Health), **schemas.errors(400, 500, 503)},
)
def health() -> dict[str, Any]:
    """Liveness and the schema revision; needs no token."""
    return {"status": "ok", "version": mlops.__version__, "schema": SCHEMA_REVISION}

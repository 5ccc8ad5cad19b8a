"""Interactive API documentation served from the App itself (Swagger UI, vendored)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from mlops.wire import API_PREFIX

router = APIRouter(include_in_schema=False)

_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>mlops API</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
<link rel="stylesheet" href="/static/api-docs.css">
</head><body data-openapi="{API_PREFIX}/openapi.json">
<div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body></html>"""


@router.get(f"{API_PREFIX}/docs")
def api_docs() -> HTMLResponse:
    """Swagger UI for the REST API."""
    return HTMLResponse(_PAGE)

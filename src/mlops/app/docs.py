"""Interactive API documentation served from the App itself (Swagger UI, vendored), with a
bar leading back to the App's pages."""

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
<nav class="docs-nav" aria-label="App" data-testid="docs-nav">
<a href="/projects" data-testid="docs-back">← Back to the App</a>
<a href="/projects">Projects</a>
<a href="/datasets">Datasets</a>
<a href="/models">Models</a>
<a href="{API_PREFIX}/openapi.json">openapi.json</a>
</nav>
<main id="swagger-ui"></main>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body></html>"""


@router.get(f"{API_PREFIX}/docs")
def api_docs() -> HTMLResponse:
    """Swagger UI for the REST API."""
    return HTMLResponse(_PAGE)

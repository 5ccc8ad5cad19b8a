"""Previews of an iteration's files for its page: images by URL, text, JSON, CSV and Markdown
read from the artifact store up to a size cap. Markdown is rendered with raw HTML escaped and
links marked ``rel="noopener nofollow"``; nothing else a user logged is ever rendered as HTML.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import quote

from markdown_it import MarkdownIt
from markupsafe import Markup

from mlops.artifacts import ArtifactStore
from mlops.entities import Artifact

__all__ = ["PREVIEW_BYTES", "artifact_tree", "markdown_html", "preview", "shared_images"]

#: Files larger than this are not previewed (the page offers the download).
PREVIEW_BYTES = 256 * 1024
CSV_ROWS = 20
IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_TEXT = {"text/plain": "text", "application/json": "json", "text/csv": "csv"}

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def _link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", "noopener nofollow")
    return str(renderer.renderToken(tokens, idx, options, env))


_markdown.add_render_rule("link_open", _link_open)


def markdown_html(text: str) -> Markup:
    """Markdown as safe HTML: raw HTML is shown as text, ``javascript:`` links are not links."""
    return Markup(_markdown.render(text))  # markdown-it escaped raw HTML


def preview(artifact: Artifact, artifacts: ArtifactStore) -> dict[str, Any] | None:
    """What the page shows inline for a file, or None (too large, or not previewable)."""
    if artifact.media_type in IMAGES:
        return {"kind": "image"}
    kind = "markdown" if artifact.media_type == "text/markdown" else _TEXT.get(artifact.media_type)
    if kind is None or artifact.size_bytes > PREVIEW_BYTES:
        return None
    text = b"".join(artifacts.read(artifact.sha256)).decode("utf-8", errors="replace")
    if kind == "markdown":
        return {"kind": "markdown", "html": markdown_html(text)}
    if kind == "json":
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            kind = "text"
    if kind == "csv":
        rows = list(_first_rows(text))
        if rows:
            return {
                "kind": "csv",
                "header": rows[0],
                "rows": rows[1:],
                "more": len(rows) > CSV_ROWS,
            }
        kind = "text"
    return {"kind": kind, "text": text}


def _first_rows(text: str) -> list[list[str]]:
    try:
        reader = csv.reader(io.StringIO(text))
        return [row for _, row in zip(range(CSV_ROWS + 1), reader, strict=False)]
    except csv.Error:
        return []


def _row(kind: str, name: str, depth: int, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "name": name, "label": name.rsplit("/", 1)[-1], "depth": depth, **extra}


def artifact_tree(found: list[Artifact]) -> list[dict[str, Any]]:
    """The files as rows of a tree: each folder once (before its files), then the files, with
    their depth; the images of an image series as one row with its steps."""
    rows: list[dict[str, Any]] = []
    folders: set[str] = set()
    series: dict[str, dict[str, Any]] = {}
    for artifact in found:
        parts = artifact.name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in folders:
                folders.add(folder)
                rows.append(_row("folder", folder, depth - 1))
        if artifact.step is None:
            rows.append(_row("file", artifact.name, len(parts) - 1, artifact=artifact.to_dict()))
            continue
        entry = series.get(artifact.name)
        if entry is None:
            entry = _row(
                "series", artifact.name, len(parts) - 1, steps=[], artifact=artifact.to_dict()
            )
            series[artifact.name] = entry
            rows.append(entry)
        entry["steps"].append(artifact.step)
    return rows


def content_url(iteration_id: str, name: str, step: int | None = None) -> str:
    """The URL a page shows an image of an iteration by (``inline=1``, at ``step`` if any)."""
    url = (
        f"/api/v1/iterations/{quote(iteration_id, safe='')}/artifacts/content"
        f"?name={quote(name, safe='')}&inline=1"
    )
    return url if step is None else f"{url}&step={step}"


def shared_images(iterations: list[tuple[str, str, list[Artifact]]]) -> list[dict[str, Any]]:
    """Per image name that at least two of the ``(id, name, files)`` iterations logged: each
    iteration's image (an image series' last step), or None where it has none."""
    latest: list[dict[str, Artifact]] = []
    for _, _, files in iterations:
        images: dict[str, Artifact] = {}
        for artifact in files:
            if artifact.media_type not in IMAGES:
                continue
            seen = images.get(artifact.name)
            if seen is None or (artifact.step or 0) >= (seen.step or 0):
                images[artifact.name] = artifact
        latest.append(images)
    names = sorted({n for images in latest for n in images})
    rows = []
    for name in names:
        cells: list[dict[str, Any] | None] = []
        for (iteration_id, iteration_name, _), images in zip(iterations, latest, strict=True):
            found = images.get(name)
            cells.append(
                None
                if found is None
                else {
                    "iteration_id": iteration_id,
                    "iteration_name": iteration_name,
                    "step": found.step,
                    "url": content_url(iteration_id, name, found.step),
                }
            )
        if sum(cell is not None for cell in cells) >= 2:
            rows.append({"name": name, "images": cells})
    return rows

"""Notes in the pages: Markdown rendered with raw HTML escaped and links neutralised, the
edit form posting to the notes API (a write token needed with --auth)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlops.app import AppSettings, create_app
from mlops.store.sql.store import SqlStore

NOTE = (
    "# Findings\n\n*lr* too **high**\n\n<script>alert('x')</script>\n\n"
    "[evil](javascript:alert(1)) [docs](https://example.org/a) <img src=x onerror=alert(1)>"
)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture
def ids(tmp_path: Path) -> Iterator[dict[str, Any]]:
    store = SqlStore(f"sqlite:///{tmp_path / 'notes.db'}")
    project = store.create_project("vision", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    store.create_iteration("it1", "run", experiment.id, None, time.time(), {})
    for kind, owner in (
        ("project", project.id),
        ("experiment", experiment.id),
        ("iteration", "it1"),
    ):
        store.set_note(kind, owner, NOTE)
    store.close()
    yield {
        "uri": f"sqlite:///{tmp_path / 'notes.db'}",
        "project": project.id,
        "experiment": experiment.id,
    }


@pytest.mark.parametrize("page", ["project", "experiment", "iteration"])
def test_a_note_is_rendered_with_raw_html_escaped_and_links_safe(
    ids: dict[str, Any], page: str
) -> None:
    owner = {"project": ids["project"], "experiment": ids["experiment"], "iteration": "it1"}[page]
    with TestClient(
        create_app(AppSettings(store_uri=ids["uri"])), base_url="http://127.0.0.1"
    ) as client:
        html = client.get(f"/{page}s/{owner}").text
        twin = client.get(f"/{page}s/{owner}.json").json()
    assert twin["note"]["text"] == NOTE
    body = html[html.index('data-testid="note-rendered"') :]
    body = body[: body.index("</div>")]
    assert "<h1>Findings</h1>" in body and "<em>lr</em>" in body and "<strong>high</strong>" in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body or "&lt;script&gt;" in body
    parser = _Tags()
    parser.feed(body)
    assert [t for t, _ in parser.tags if t in ("script", "img")] == []
    links = [a for t, a in parser.tags if t == "a"]
    assert links == [{"href": "https://example.org/a", "rel": "noopener nofollow"}]
    assert "javascript:" not in " ".join(str(a.get("href")) for a in links)
    assert f'data-url="/api/v1/{page}s/{owner}/note"' in html


def test_saving_a_note_needs_a_write_token(ids: dict[str, Any]) -> None:
    settings = AppSettings(store_uri=ids["uri"], auth=True)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        refused = client.put("/api/v1/iterations/it1/note", json={"text": "x"})
        assert refused.status_code == 401
    with TestClient(
        create_app(AppSettings(store_uri=ids["uri"])), base_url="http://127.0.0.1"
    ) as client:
        saved = client.put("/api/v1/iterations/it1/note", json={"text": "plain"})
        assert saved.status_code == 200 and saved.json()["text"] == "plain"
        assert "<p>plain</p>" in client.get("/iterations/it1").text
        bad = client.put("/api/v1/iterations/nope/note", json={"text": "x"})
        assert bad.status_code == 404 and "iteration 'nope'" in bad.text

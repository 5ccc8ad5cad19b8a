"""The experiment page as a place to manage iterations (the selection toolbar, deleted rows on
``?deleted=1``, the experiment's own header form), the notes preview route, the admin links of
the navigation, the API docs' way back, and what Compare draws an axis for."""

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


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: dict[str, str] = {}  # data-testid -> href
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append(tag)
        if tag == "a" and found.get("data-testid"):
            self.hrefs[str(found["data-testid"])] = str(found.get("href"))


def _links(html: str) -> dict[str, str]:
    parser = _Links()
    parser.feed(html)
    return parser.hrefs


@pytest.fixture
def db(tmp_path: Path) -> Iterator[dict[str, Any]]:
    uri = f"sqlite:///{tmp_path / 'manage.db'}"
    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    experiment = store.create_experiment(project.id, "lr-sweep", "first try")
    now = time.time()
    for n, (lr, model) in enumerate(((0.1, "rf"), (0.01, "svm"), (0.001, "rf"))):
        store.create_iteration(f"it{n}", f"run-lr-{n}", experiment.id, None, now + n, {})
        store.end_iteration(
            f"it{n}", "finished", now + n + 1,
            parameters={"lr": lr, "model": model, "epochs": 30},
            metrics=[("acc", 0, 0.5 + n / 10, now)],
        )  # fmt: skip
    store.delete_iteration("it2")
    secrets = {scope: store.create_token(scope + "-token", scope)[0] for scope in ("read", "admin")}
    store.close()
    yield {"uri": uri, "project": project.id, "experiment": experiment.id, **secrets}


@pytest.fixture
def client(db: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(
        create_app(AppSettings(store_uri=db["uri"])), base_url="http://127.0.0.1"
    ) as test_client:
        yield test_client


def _row_ids(twin: dict[str, Any]) -> list[str]:
    return sorted(r["id"] for r in twin["iterations"])


def test_the_experiment_page_shows_its_deleted_iterations_on_request(
    client: TestClient, db: dict[str, Any]
) -> None:
    base = f"/experiments/{db['experiment']}"
    live = client.get(base + ".json").json()
    assert _row_ids(live) == ["it0", "it1"] and live["deleted"] is False
    gone = client.get(base + ".json", params={"deleted": "1"}).json()
    assert _row_ids(gone) == ["it2"] and gone["deleted"] is True and gone["total"] == 1
    assert gone["iterations"][0]["deleted_at"] is not None
    html = client.get(base, params={"deleted": "1"}).text
    assert 'data-testid="bulk-restore"' in html and 'data-testid="bulk-delete"' not in html
    assert 'data-testid="deleted-view"' in html
    # the table's links (sort, columns) keep showing the deleted rows
    assert "deleted=1" in _links(html)["sort-name"]
    assert _links(html)["show-live"].startswith(base)
    assert "deleted" not in _links(html)["show-live"]
    html = client.get(base).text
    assert 'data-testid="bulk-delete"' in html and 'data-testid="bulk-restore"' not in html
    assert _links(html)["show-deleted"].startswith(base + "?")
    assert "deleted=1" in _links(html)["show-deleted"]
    # a filter still applies to the deleted rows
    none = client.get(base + ".json", params={"deleted": "1", "filter": "params.lr > 0.5"})
    assert none.json()["iterations"] == []


def test_the_experiment_header_offers_rename_description_and_tags(
    client: TestClient, db: dict[str, Any]
) -> None:
    url = f"/api/v1/experiments/{db['experiment']}"
    assert client.patch(url + "/tags", json={"tags": {"owner": "ada"}, "delete": []}).is_success
    html = client.get(f"/experiments/{db['experiment']}").text
    assert f'data-url="{url}"' in html
    assert 'data-testid="experiment-name-input"' in html and 'value="lr-sweep"' in html
    assert ">first try</textarea>" in html
    assert 'data-testid="experiment-tag-remove"' in html and 'data-key="owner"' in html
    assert '<script src="/static/manage.js' in html and '<script src="/static/selection.js' in html


def test_a_note_preview_is_the_saved_notes_markup(client: TestClient, db: dict[str, Any]) -> None:
    text = "## Plan\n\n<script>alert(1)</script> [x](javascript:alert(1)) [d](https://e.org)"
    answer = client.post("/api/v1/notes/preview", json={"text": text})
    assert answer.status_code == 200
    html = answer.json()["html"]
    assert "<h2>Plan</h2>" in html and "&lt;script&gt;" in html and "<script" not in html
    assert 'href="https://e.org" rel="noopener nofollow"' in html and 'href="javascript' not in html
    # exactly what the page shows once the note is saved
    assert client.put(f"/api/v1/experiments/{db['experiment']}/note", json={"text": text})
    page = client.get(f"/experiments/{db['experiment']}").text
    assert html in page
    bad = client.post("/api/v1/notes/preview", json={"txt": "x"})
    assert bad.status_code in (400, 422) and "text" in bad.json()["error"]["message"]


def test_the_note_preview_needs_only_a_read_token(db: dict[str, Any]) -> None:
    settings = AppSettings(store_uri=db["uri"], auth=True)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        assert client.post("/api/v1/notes/preview", json={"text": "x"}).status_code == 401
        read = {"Authorization": f"Bearer {db['read']}"}
        answer = client.post("/api/v1/notes/preview", json={"text": "*x*"}, headers=read)
        assert answer.status_code == 200 and answer.json() == {"html": "<p><em>x</em></p>\n"}


def test_tokens_and_activity_are_in_the_navigation_for_admins_only(db: dict[str, Any]) -> None:
    with TestClient(
        create_app(AppSettings(store_uri=db["uri"])), base_url="http://127.0.0.1"
    ) as client:
        links = _links(client.get("/projects").text)  # no --auth: every page is open
        assert links["nav-tokens"] == "/tokens" and links["nav-activity"] == "/activity"
        assert 'aria-current="page">Activity' in client.get("/activity").text
    settings = AppSettings(store_uri=db["uri"], auth=True)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        reader = _links(
            client.get("/projects", headers={"Authorization": f"Bearer {db['read']}"}).text
        )
        assert "nav-tokens" not in reader and "nav-activity" not in reader
        assert reader["nav-projects"] == "/projects"
        admin = {"Authorization": f"Bearer {db['admin']}"}
        links = _links(client.get("/projects", headers=admin).text)
        assert links["nav-tokens"] == "/tokens" and links["nav-activity"] == "/activity"
        assert client.get("/tokens", headers=admin).status_code == 200


def test_the_api_docs_lead_back_to_the_app(client: TestClient) -> None:
    html = client.get("/api/v1/docs").text
    links = _links(html)
    assert links["docs-back"] == "/projects"
    assert "<script>" not in html and " style=" not in html  # the CSP forbids both


def test_compare_draws_axes_only_for_what_differs_and_leads_back(
    client: TestClient, db: dict[str, Any]
) -> None:
    store = SqlStore(db["uri"])
    store.restore_iteration("it2")
    store.close()
    twin = client.get("/compare.json", params={"ids": "it0,it1,it2"}).json()
    axes = {row["name"]: row["axis"] for row in twin["params"]}
    assert axes == {"epochs": None, "lr": "numeric", "model": "categorical"}
    epochs = next(row for row in twin["params"] if row["name"] == "epochs")
    assert epochs["shared"] == 30 and epochs["set_in"] == 3
    html = client.get("/compare", params={"ids": "it0,it1,it2"}).text
    assert 'data-testid="same-epochs"' in html and "epochs = 30" in html
    crumbs = html[html.index('data-testid="breadcrumbs"') :]
    crumbs = crumbs[: crumbs.index("</nav>")]
    assert f'href="/projects/{db["project"]}"' in crumbs
    assert f'href="/experiments/{db["experiment"]}"' in crumbs
    assert ">lr-sweep</a>" in crumbs and "Compare" in crumbs

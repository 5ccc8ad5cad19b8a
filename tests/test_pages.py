"""The App's web pages and their ``.json`` twins: status codes, escaping, errors, login."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from mlops.app import AppSettings, create_app
from mlops.entities import ModelFile
from mlops.store.sql.store import SqlStore

XSS = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pages.db'}"


@pytest.fixture
def seeded(db: str) -> Iterator[dict[str, Any]]:
    """A project with hostile names, 120 iterations, datasets, a failed and a NaN run."""
    store = SqlStore(db)
    project = store.create_project("vision " + XSS, "about " + XSS, "active", False)
    store.create_project("old stuff", None, "done", True)
    experiment = store.create_experiment(project.id, "sweep " + XSS, None)
    evil = store.create_dataset(
        "images " + XSS, "javascript:alert(1)", None, [XSS], "1", "sha256:" + "a" * 64, 10, 1
    )
    clean = store.create_dataset(
        "images " + XSS, "/data/v2", None, [], "2", "sha256:" + "b" * 64, 20, 2
    )
    started = time.time() - 10_000
    for i in range(120):
        iteration_id = f"it{i:03d}"
        name = f"run-{i}" + (" " + XSS if i == 0 else "")
        store.create_iteration(iteration_id, name, experiment.id, None, started + i, {"host": XSS})
        points = [("acc", step, i / 100 + step / 1000, started + step) for step in range(5)]
        points.append(("loss", 0, math.nan if i == 1 else 1 / (i + 1), started))
        store.log_batch(
            iteration_id,
            parameters={"lr": 10 ** -(i % 5), "model": XSS if i == 0 else "rf", "depth": i % 7},
            metrics=points,
            dataset_ids=[evil.id if i % 2 else clean.id],
            tags={"note": XSS},
        )
        status = "failed" if i == 2 else "finished"
        error = {"type": "ValueError", "message": XSS} if i == 2 else None
        model = ModelFile("javascript:alert(1)" if i == 0 else f"/m/{i}.pkl", 1, "c" * 64)
        store.end_iteration(iteration_id, status, started + i + 5, error, model)
    store.close()
    yield {"project": project.id, "experiment": experiment.id, "dataset": "images " + XSS}


@pytest.fixture
def client(db: str) -> Iterator[TestClient]:
    with TestClient(create_app(AppSettings(store_uri=db)), base_url="http://127.0.0.1") as c:
        yield c


class _Markup(HTMLParser):
    """Every tag and attribute of a page, as a browser would read them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _safe_html(html: str) -> None:
    """No hostile markup, no inline script, style or event handler, no javascript: links."""
    parser = _Markup()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in ("img", "style"), tag
        assert tag != "script" or attrs.get("src"), "inline script"
        assert "style" not in attrs, f"inline style on <{tag}>"
        assert not [a for a in attrs if a.startswith("on")], f"event handler on <{tag}>"
        assert not (attrs.get("href") or "").lower().startswith("javascript:")


def test_every_page_renders_escaped_with_its_json_twin(
    client: TestClient, seeded: dict[str, Any]
) -> None:
    pages = [
        "/projects",
        f"/projects/{seeded['project']}",
        f"/experiments/{seeded['experiment']}",
        "/iterations/it000",
        "/iterations/it002",
        "/compare?ids=it000,it001,it002",
        "/datasets",
        "/datasets/" + httpx.URL("/" + seeded["dataset"]).raw_path.decode()[1:],
    ]
    for page in pages:
        html = client.get(page)
        assert html.status_code == 200, (page, html.text[:500])
        assert html.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in html.headers["content-security-policy"]
        _safe_html(html.text)
        assert ESCAPED in html.text, page
        path, _, query = page.partition("?")
        twin = client.get(f"{path}.json" + (f"?{query}" if query else ""))
        assert twin.status_code == 200, (page, twin.text[:500])
        assert twin.headers["content-type"].startswith("application/json")
        assert XSS in twin.text  # the data as it is: escaping is the page's job
    assert client.get("/", follow_redirects=False).headers["location"] == "/projects"


def test_paths_and_models_are_text_never_links(client: TestClient, seeded: dict[str, Any]) -> None:
    html = client.get("/iterations/it000").text
    assert '<code class="path" data-testid="model-path">javascript:alert(1)</code>' in html
    assert "javascript:alert(1)</code>" in client.get("/iterations/it001").text  # dataset path
    assert "/api/v1/iterations/it000/metrics" not in html  # charts fetch their data later
    twin = client.get("/iterations/it002.json").json()
    assert twin["iteration"]["error"]["message"] == XSS
    assert twin["metric_names"] == ["acc", "loss"]
    assert client.get("/iterations/it001.json").json()["iteration"]["metrics"]["loss"] == "NaN"


def test_projects_search_and_archived(client: TestClient, seeded: dict[str, Any]) -> None:
    titles = [p["title"] for p in client.get("/projects.json").json()["projects"]]
    assert titles == ["vision " + XSS]
    everything = client.get("/projects.json?archived=1").json()["projects"]
    assert {p["title"] for p in everything} == {"vision " + XSS, "old stuff"}
    found = client.get("/projects.json?q=OLD&archived=1").json()["projects"]
    assert [p["title"] for p in found] == ["old stuff"]
    [row] = client.get("/projects.json").json()["projects"]
    assert (row["experiment_count"], row["iteration_count"]) == (1, 120)
    html = client.get("/projects?q=nothing-like-this").text
    assert 'data-testid="empty-state"' in html


def test_project_best_metric_and_datasets(client: TestClient, seeded: dict[str, Any]) -> None:
    best = client.get(f"/projects/{seeded['project']}.json?metric=acc&goal=max").json()
    [experiment] = best["experiments"]
    assert experiment["best"] == pytest.approx(1.19 + 0.004)
    assert best["metrics"] == ["acc", "loss"]
    assert {d["version"] for d in best["datasets"]} == {"1", "2"}
    low = client.get(f"/projects/{seeded['project']}.json?metric=acc&goal=min").json()
    assert low["experiments"][0]["best"] == 0.0  # the lowest value reached (run-0, step 0)
    assert low["experiments"][0]["best_iteration"]["id"] == "it000"
    html = client.get(f"/projects/{seeded['project']}?metric=acc").text
    assert 'data-testid="project-form"' in html and "/static/project.js" in html


def test_experiment_table_columns_sort_filter_and_pages(
    client: TestClient, seeded: dict[str, Any]
) -> None:
    base = f"/experiments/{seeded['experiment']}"
    first = client.get(f"{base}.json").json()
    assert first["total"] == 120 and len(first["iterations"]) == 50 and first["pages"] == 3
    assert first["chosen"]["explicit"] is False
    third = client.get(f"{base}.json?page=3").json()
    assert len(third["iterations"]) == 20
    picked = client.get(f"{base}.json?metrics=acc&params=lr&order_by=metrics.acc asc").json()
    keys = [c["key"] for c in picked["columns"]]
    assert keys == ["name", "status", "started_at", "duration", "metrics.acc", "params.lr"]
    assert picked["iterations"][0]["id"] == "it000"
    assert set(picked["iterations"][0]["metrics"]) == {"acc"}
    assert set(picked["iterations"][0]["params"]) == {"lr"}
    sort_column = next(c for c in picked["columns"] if c["key"] == "metrics.acc")
    assert sort_column["sorted"] == "asc" and "metrics.acc+desc" in sort_column["sort_url"]
    html = client.get(f"{base}?metrics=acc&params=lr").text
    assert (
        'data-testid="sort-metrics.acc"' in html and 'data-testid="sort-params.depth"' not in html
    )
    assert 'data-testid="select-it119"' in html and 'data-testid="compare-button"' in html
    assert 'data-testid="iterations-table"' in html and 'data-testid="column-picker"' in html
    filtered = client.get(
        base + ".json", params={"filter": 'params.lr = 1 and status = "finished"'}
    )
    assert filtered.json()["total"] == 24


def test_filter_syntax_error_is_a_422_page_with_the_caret(
    client: TestClient, seeded: dict[str, Any]
) -> None:
    base = f"/experiments/{seeded['experiment']}"
    page = client.get(base, params={"filter": "metrics.acc > and"})
    assert page.status_code == 422
    pre = re.search(r'<pre data-testid="query-error-message">(.*?)</pre>', page.text, re.S)
    assert pre is not None and "^^^" in pre.group(1) and "metrics.acc &gt; and" in pre.group(1)
    assert 'value="metrics.acc &gt; and"' in page.text  # the filter stays for fixing
    twin = client.get(base + ".json", params={"filter": "metrics.acc > and"})
    assert twin.status_code == 422 and twin.json()["error"]["code"] == "query_syntax"
    bad_sort = client.get(base, params={"order_by": "dataset.version"})
    assert bad_sort.status_code == 422


def test_compare_marks_differences_and_datasets(client: TestClient, seeded: dict[str, Any]) -> None:
    data = client.get("/compare.json?ids=it000,it002").json()
    rows = {r["name"]: r for r in data["params"]}
    assert rows["lr"]["differs"] and rows["lr"]["numeric"]
    assert not rows["model"]["numeric"]
    assert data["same_datasets"] is True  # both even: version 2
    assert client.get("/compare.json?ids=it000,it001").json()["same_datasets"] is False
    html = client.get("/compare?ids=it000&ids=it001").text
    assert 'class="differs"' in html and 'data-testid="compare-legend"' in html
    assert client.get("/compare?ids=it000").status_code == 422
    too_many = ",".join(f"it{i:03d}" for i in range(51))
    assert client.get(f"/compare?ids={too_many}").status_code == 422
    missing = client.get("/compare?ids=it000,nope")
    assert missing.status_code == 404 and "nope" in missing.text
    assert client.get("/compare.json?ids=it000,nope").json()["error"]["code"] == "not_found"


def test_dataset_lineage_and_missing_pages(client: TestClient, seeded: dict[str, Any]) -> None:
    name = httpx.URL("/" + seeded["dataset"]).raw_path.decode()[1:]
    lineage = client.get(f"/datasets/{name}.json").json()
    assert [v["dataset"]["version"] for v in lineage["versions"]] == ["2", "1"]
    assert {len(v["iterations"]) for v in lineage["versions"]} == {60}
    html = client.get(f"/datasets/{name}").text
    assert 'data-testid="dataset-lineage"' in html
    assert ">javascript:alert(1)</code>" in html
    for missing in ("/datasets/nope", "/iterations/nope", "/experiments/nope", "/projects/nope"):
        page = client.get(missing)
        assert page.status_code == 404 and "text/html" in page.headers["content-type"]
        assert client.get(missing + ".json").json()["error"]["code"] == "not_found"


def test_login_with_tokens(db: str, seeded: dict[str, Any]) -> None:
    store = SqlStore(db)
    secret, _ = store.create_token("reader", "read")
    store.close()
    settings = AppSettings(store_uri=db, auth=True)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        page = client.get("/experiments/x?page=2", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Fexperiments%2Fx%3Fpage%3D2"
        assert client.get("/projects.json").status_code == 401
        assert client.get("/login").status_code == 200
        assert client.post("/login", json={"token": "wrong"}).status_code == 401
        assert client.post("/login", data={"token": secret}).status_code == 415
        answer = client.post("/login", json={"token": secret, "next": "//evil.example/x"})
        assert answer.status_code == 200 and answer.json()["next"] == "/projects"
        cookie = answer.headers["set-cookie"]
        assert "mlops_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
        assert client.get("/projects").status_code == 200
        assert 'data-testid="logout-button"' in client.get("/projects").text
        assert client.get("/projects.json").json()["projects"]
        assert (
            client.post("/login", json={"token": secret, "next": "/datasets"}).json()["next"]
            == "/datasets"
        )
        out = client.post("/logout", follow_redirects=False)
        assert out.status_code == 303 and 'mlops_session=""' in out.headers["set-cookie"]
        client.cookies.clear()
        assert client.get("/projects", follow_redirects=False).status_code == 303


def test_login_on_a_real_app(start_app, db: str, seeded: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    store = SqlStore(db)
    secret, _ = store.create_token("viewer", "read")
    store.close()
    app = start_app(db, "--auth")
    with httpx.Client(base_url=app.url, timeout=10) as client:
        first = client.get("/projects")
        assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
        login = client.post("/login", json={"token": secret})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        page = client.get("/projects")
        assert page.status_code == 200 and ESCAPED in page.text
        cross_site = client.post(
            "/login", json={"token": secret}, headers={"Origin": "http://evil.example"}
        )
        assert cross_site.status_code == 403


def test_large_experiments_say_how_many_without_counting_them_all(
    client: TestClient, seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.app.ui import runs

    monkeypatch.setattr(runs, "COUNT_LIMIT", 100)  # the experiment has 120 iterations
    page = client.get(f"/experiments/{seeded['experiment']}.json?page=2").json()
    assert (page["total"], page["total_capped"], page["pages"]) == (100, True, 3)
    html = client.get(f"/experiments/{seeded['experiment']}?page=2").text
    assert "100+ iterations" in html and "Page 2 of 3+" in html
    last = client.get(f"/experiments/{seeded['experiment']}.json?page=3").json()
    assert len(last["iterations"]) == 20 and last["pages"] == 3

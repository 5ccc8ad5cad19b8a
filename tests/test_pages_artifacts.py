"""The iteration page's Artifacts section and the model pages, rendered by the App."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops import tracking
from mlops.app import AppSettings, create_app

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def seeded(mlops_home: Path, tmp_path: Path) -> dict[str, str]:
    import numpy as np

    project = tracking.create_project("pages")
    tracking.set_active_project(project["id"])
    (tmp_path / "model.pkl").write_bytes(b"weights")
    (tmp_path / "x.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
    with tracking.start_iteration("with files") as it:
        it.log_path_to_model(tmp_path / "model.pkl")
        it.log_text(f"# Report\n\n{XSS} [site](https://example.com)", "report.md")
        it.log_text("step,loss\n0,1.0\n1,0.5\n", "tables/loss.csv")
        it.log_dict({"lr": 0.1}, "config.json")
        it.log_artifact(tmp_path / "x.svg", "drawing.svg")
        for step in (0, 5):
            it.log_image(np.zeros((3, 3), dtype=np.uint8), "samples.png", step=step)
    tracking.register_model("pager", it.id)
    tracking.set_model_alias("pager", "production", 1)
    return {"iteration": it.id}


@pytest.fixture
def client(mlops_home: Path, seeded: dict[str, str]) -> Iterator[TestClient]:
    app = create_app(AppSettings(store_uri=f"sqlite:///{mlops_home / 'mlops.db'}"))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def test_the_iteration_page_lists_and_previews_its_files(
    client: TestClient, seeded: dict[str, str]
) -> None:
    html = client.get(f"/iterations/{seeded['iteration']}").text
    for name in ("model/model.pkl", "report.md", "tables/loss.csv", "config.json", "drawing.svg"):
        assert f'data-name="{name}"' in html
    assert "<h1>Report</h1>" in html  # Markdown rendered
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="https://example.com" rel="noopener nofollow"' in html
    assert 'data-testid="preview-csv"' in html and "<td>0.5</td>" in html
    assert "&#34;lr&#34;: 0.1" in html or '"lr": 0.1' in html
    assert 'data-testid="image-series"' in html and 'data-steps="0,5"' in html
    assert 'data-testid="model-version-link"' in html and "pager v1" in html
    # SVG is never previewed inline: only its download link is there
    assert "drawing.svg&amp;inline=1" not in html and "drawing.svg&inline=1" not in html
    data = client.get(f"/iterations/{seeded['iteration']}.json").json()
    assert {row["name"] for row in data["artifacts"]} >= {"model", "model/model.pkl"}


def test_the_model_pages_show_versions_and_aliases(client: TestClient) -> None:
    listed = client.get("/models.json").json()["models"]
    assert listed[0]["name"] == "pager" and listed[0]["aliases"] == {"production": 1}
    html = client.get("/models/pager").text
    assert 'data-testid="version-row"' in html and "production" in html and "with files" in html
    assert client.get("/models/nope").status_code == 404


def test_the_model_pages_show_tags(mlops_home: Path, client: TestClient) -> None:
    from mlops.store.sql.store import SqlStore

    store = SqlStore(f"sqlite:///{mlops_home / 'mlops.db'}")
    try:
        store.set_model_tags("pager", {"team": XSS})
        store.set_model_version_tags("pager", 1, {"data": "v1"})
        store.create_model("empty", None, {"stage": "draft"})
    finally:
        store.close()
    listed = client.get("/models").text
    assert listed.count('data-testid="model-tag"') == 2 and "stage=draft" in listed
    assert XSS not in listed  # escaped
    html = client.get("/models/pager").text
    assert 'data-testid="model-tag"' in html and "data=v1" in html and XSS not in html
    assert client.get("/models/empty").status_code == 200


def test_the_compare_page_shows_same_named_images_side_by_side(
    client: TestClient, seeded: dict[str, str]
) -> None:
    import numpy as np

    with tracking.start_iteration("other") as other:
        for step in (1, 7):
            other.log_image(np.ones((2, 2), dtype=np.uint8), "samples.png", step=step)
        other.log_image(np.ones((2, 2), dtype=np.uint8), "only-here.png")
    with tracking.start_iteration("no images") as bare:
        bare.log_text("hello", "notes.txt")
    ids = [seeded["iteration"], other.id, bare.id]
    data = client.get("/compare.json", params={"ids": ",".join(ids)}).json()
    (row,) = data["images"]  # only-here.png is logged once, drawing.svg is not an image
    assert row["name"] == "samples.png"
    first, second, third = row["images"]
    assert (first["iteration_name"], first["step"]) == ("with files", 5)  # the last step
    assert (second["iteration_name"], second["step"]) == ("other", 7)
    assert third is None
    assert second["url"] == (
        f"/api/v1/iterations/{other.id}/artifacts/content?name=samples.png&inline=1&step=7"
    )
    shown = client.get(second["url"])
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"].startswith("inline")
    # one policy, the file's own sandbox (the pages' style-src 'self' would also apply and
    # block the browser's own image viewer), and still never framed
    (policy,) = shown.headers.get_list("content-security-policy")
    assert policy.startswith("sandbox;") and "frame-ancestors 'none'" in policy
    assert shown.headers["x-frame-options"] == "DENY"

    html = client.get("/compare", params={"ids": ",".join(ids)}).text
    assert html.count('data-testid="image-compare"') == 1
    assert html.count('data-testid="compare-image"') == 2
    assert 'data-testid="compare-image-missing"' in html
    assert "samples.png&amp;inline=1&amp;step=7" in html
    assert "<figcaption>other" in html and "<figcaption>with files" in html
    assert "only-here.png" not in html

    plain = client.get("/compare.json", params={"ids": f"{bare.id},{other.id}"}).json()
    assert plain["images"] == []
    assert (
        'data-testid="compare-images"'
        not in client.get("/compare", params={"ids": f"{bare.id},{other.id}"}).text
    )


def test_an_iteration_with_many_files_previews_only_the_first_ones(
    mlops_home: Path, tmp_path: Path
) -> None:
    from mlops.app.ui.runs import MAX_PREVIEWS

    project = tracking.create_project("many")
    tracking.set_active_project(project["id"])
    with tracking.start_iteration("many files") as it:
        for i in range(MAX_PREVIEWS + 10):
            it.log_text(f"note {i}", f"notes/{i:03d}.txt")
    app = create_app(AppSettings(store_uri=f"sqlite:///{mlops_home / 'mlops.db'}"))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        html = client.get(f"/iterations/{it.id}").text
    assert html.count('data-testid="artifact-row"') == MAX_PREVIEWS + 11  # the folder too
    assert html.count('data-testid="preview-text"') == MAX_PREVIEWS

"""The files and models pages in a real browser: headless Chromium (Debian's) driven by
Playwright against a real ``mlops app`` process.

The iteration page's Artifacts section (the tree, sizes, downloads that give the logged bytes,
the image, Markdown and CSV and JSON previews), the image series slider (mouse and keyboard),
the model registry pages, the compare page's same-named images, and SVG and HTML files that
never run their scripts, whichever way the browser is sent to them. Screenshots go to
``test-output/screenshots/``.

Skipped when ``/usr/bin/chromium`` is missing, unless ``CI`` is set: then it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import pytest

from browser_support import XSS, browser_page, chromium_problem, launch, open_page, screenshot
from conftest import AppProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PROBLEM = chromium_problem()
pytestmark = [
    pytest.mark.skipif(
        PROBLEM is not None and not os.environ.get("CI"),
        reason=f"browser tests skipped: {PROBLEM}",
    ),
    pytest.mark.timeout(120),
]

#: What the SVG and HTML files would do if the browser ever ran them.
RAN = "window.__mlops_ran"
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" '
    f"onload=\"{RAN}='svg onload';alert('svg onload')\">"
    f"<script>{RAN}='svg script';alert('svg script')</script>"
    '<rect width="10" height="10" fill="red"/></svg>'
)
HTML = (
    f"<!doctype html><html><body><script>{RAN}='html';alert('html')</script>"
    f"<img src=x onerror=\"{RAN}='html img';alert('html img')\"></body></html>"
)
REPORT = f"# Report\n\nAccuracy went **up**.\n\n{XSS}\n"
CSV = "step,loss\n0,1.0\n1,0.5\n2,0.25\n"
SERIES_STEPS = (0, 5, 9)
#: Image widths are multiples of this (big enough to be seen in the screenshots).
SCALE = 8


@dataclass
class Site:
    """The running App and what it shows."""

    url: str
    iteration_id: str
    other_id: str
    #: Artifact name -> the bytes logged under it.
    files: dict[str, bytes]

    def content(self, name: str, inline: bool = False) -> str:
        url = f"{self.url}/api/v1/iterations/{self.iteration_id}/artifacts/content"
        return f"{url}?name={quote(name, safe='')}" + ("&inline=1" if inline else "")


def _image(width: int) -> Any:
    """A square ``width * SCALE`` pixels wide with a diagonal gradient: each step of the
    series has its own width, so the test can tell which step the browser shows."""
    import numpy as np

    side = width * SCALE
    ramp = np.add.outer(np.arange(side), np.arange(side)) * 255 // max(2 * side - 2, 1)
    return ramp.astype(np.uint8)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Two iterations with files, a model registered from the first, served by an App."""
    pytest.importorskip("numpy")
    from mlops import tracking
    from mlops.store import close_stores

    root = tmp_path_factory.mktemp("browser-files")
    home = root / "mlops-home"
    source = root / "source"
    (source / "model").mkdir(parents=True)
    (source / "model" / "weights.bin").write_bytes(bytes(range(256)) * 8)
    (source / "model" / "meta.txt").write_text("classifier v1\n")
    (source / "drawing.svg").write_text(SVG)
    (source / "page.html").write_text(HTML)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLOPS_HOME", str(home))
        for name in ("MLOPS_TRACKING_URI", "RANK", "WORLD_SIZE", "MLOPS_ALL_RANKS"):
            env.delenv(name, raising=False)
        project = tracking.create_project("files-demo")
        tracking.set_active_project(project["id"])
        with tracking.start_iteration("with-files") as it:
            it.log_metric("val_accuracy", 0.5, step=0)
            it.log_metric("val_accuracy", 0.875, step=1)
            it.log_path_to_model(source / "model")
            it.log_text(REPORT, "report.md")
            it.log_text(CSV, "tables/loss.csv")
            it.log_dict({"lr": 0.1, "layers": [64, 32]}, "config.json")
            it.log_artifact(source / "drawing.svg", "drawing.svg")
            it.log_artifact(source / "page.html", "page.html")
            it.log_image(_image(3), "confusion.png")
            for step in SERIES_STEPS:
                it.log_image(_image(step + 2), "samples.png", step=step)
        with tracking.start_iteration("other") as other:
            other.log_image(_image(4), "confusion.png")
            other.log_image(_image(20), "samples.png", step=3)
        tracking.register_model("digits", it.id, description="first try")
        tracking.register_model("digits", it.id)
        tracking.set_model_alias("digits", "production", 1)
        tracking.set_model_alias("digits", "staging", 2)
        close_stores()
    files = {
        "model/weights.bin": (source / "model" / "weights.bin").read_bytes(),
        "model/meta.txt": b"classifier v1\n",
        "report.md": REPORT.encode(),
        "tables/loss.csv": CSV.encode(),
        "drawing.svg": SVG.encode(),
        "page.html": HTML.encode(),
    }
    app = AppProcess(f"sqlite:///{home / 'mlops.db'}")
    try:
        yield Site(app.url, it.id, other.id, files)
    finally:
        app.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (each test opens its own context)."""
    if PROBLEM is not None:  # only reached with CI set
        pytest.fail(f"CI must run the browser tests: {PROBLEM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


# -- helpers ---------------------------------------------------------------------------------
#: Records every CSP violation a document reports (installed before any page script runs).
CSP_LISTENER = """
window.__mlops_csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
    window.__mlops_csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@contextmanager
def watched_page(browser: Browser, **options: Any) -> Iterator[tuple[Page, Any]]:
    """A watched page (dialogs, errors, CSP console messages) that also records CSP
    violation events in each document it opens."""
    with browser_page(browser, **options) as (page, watch):
        page.context.add_init_script(CSP_LISTENER)
        yield page, watch


def assert_clean(page: Page, watch: Any, where: str) -> None:
    """No dialog, no script error, no CSP violation, and the files' scripts never ran."""
    assert not watch.dialogs, f"{where}: a dialog opened: {watch.dialogs}"
    assert not watch.errors, f"{where}: uncaught script errors: {watch.errors}"
    assert not watch.csp, f"{where}: CSP violations: {watch.csp}"
    assert page.evaluate(RAN) is None, f"{where}: a logged file's script ran"
    if page.url != "about:blank":
        assert page.evaluate("window.__mlops_csp") == [], f"{where}: CSP violation events"


def row(page: Page, name: str) -> Any:
    return page.locator(f'[data-testid="artifact-row"][data-name="{name}"]')


def download(page: Page, name: str, tmp_path: Path) -> bytes:
    """Click the download link of ``name``; the bytes the browser saved."""
    with page.expect_download() as info:
        row(page, name).get_by_test_id("artifact-download").click()
    saved = tmp_path / quote(name, safe="")
    info.value.save_as(saved)
    return saved.read_bytes()


def image_width(page: Page, selector: str) -> int:
    """The natural width of a loaded image (waits until it has loaded)."""
    page.wait_for_function(
        "(s) => { const i = document.querySelector(s); return i.complete && i.naturalWidth > 0 }",
        arg=selector,
    )
    width: int = page.eval_on_selector(selector, "(img) => img.naturalWidth")
    return width


def wait_width(page: Page, selector: str, width: int) -> None:
    """Wait until the image at ``selector`` shows a picture ``width`` pixels wide."""
    page.wait_for_function(
        "([s, w]) => document.querySelector(s).naturalWidth === w", arg=[selector, width]
    )


def goto_download(page: Page, url: str) -> bytes:
    """Send the browser straight to ``url``; it must save the body instead of showing it."""
    from playwright.sync_api import Error

    with page.expect_download() as info:
        try:
            page.goto(url)
        except Error as exc:  # Chromium reports a download as an aborted navigation
            assert "Download is starting" in str(exc), exc
    path = info.value.path()
    return Path(path).read_bytes()


# -- the iteration page ----------------------------------------------------------------------
def test_the_artifacts_section_lists_previews_and_downloads(
    browser: Browser, site: Site, tmp_path: Path
) -> None:
    from mlops.app.ui.render import fmt_bytes

    with watched_page(browser, accept_downloads=True) as (page, watch):
        open_page(page, f"{site.url}/iterations/{site.iteration_id}")
        rows = page.get_by_test_id("artifact-row")
        names = [rows.nth(i).get_attribute("data-name") for i in range(rows.count())]
        assert names.index("model") < names.index("model/meta.txt")  # a folder before its files
        assert names.index("tables") < names.index("tables/loss.csv")
        assert set(site.files) | {"config.json", "confusion.png", "samples.png"} <= set(names)
        assert row(page, "model").get_attribute("data-kind") == "folder"
        assert row(page, "samples.png").get_attribute("data-kind") == "series"
        assert "3 steps" in row(page, "samples.png").inner_text()
        weights = row(page, "model/weights.bin").locator("td.num").inner_text()
        assert weights == fmt_bytes(len(site.files["model/weights.bin"]))
        screenshot(page, "iteration-artifacts")

        for name in (
            "model/weights.bin",
            "report.md",
            "tables/loss.csv",
            "drawing.svg",
            "page.html",
        ):
            assert download(page, name, tmp_path) == site.files[name], name
        import io
        import zipfile

        with zipfile.ZipFile(io.BytesIO(download(page, "model", tmp_path))) as archive:
            assert sorted(archive.namelist()) == ["meta.txt", "weights.bin"]
            assert archive.read("weights.bin") == site.files["model/weights.bin"]

        assert image_width(page, '[data-testid="preview-image"]') == 3 * SCALE
        markdown = page.locator('[data-testid="artifact-preview"][data-name="report.md"]')
        assert markdown.locator("h1").inner_text() == "Report"
        assert markdown.locator("strong").inner_text() == "up"
        assert XSS in markdown.inner_text()  # raw HTML shown as text
        assert page.locator('img[src="x"]').count() == 0
        table = page.get_by_test_id("preview-csv")
        assert table.locator("thead th").all_inner_texts() == ["step", "loss"]
        assert table.locator("tbody tr").nth(2).locator("td").all_inner_texts() == ["2", "0.25"]
        pretty = page.locator('[data-testid="artifact-preview"][data-name="config.json"] pre')
        assert pretty.inner_text().startswith('{\n  "lr": 0.1,\n  "layers": [\n    64,')
        # SVG and HTML get no preview: only their download links
        for name in ("drawing.svg", "page.html"):
            assert (
                page.locator(f'[data-testid="artifact-preview"][data-name="{name}"]').count() == 0
            )
        assert_clean(page, watch, "iteration page")


def test_the_image_series_slider_steps_through_the_images(browser: Browser, site: Site) -> None:
    with watched_page(browser) as (page, watch):
        open_page(page, f"{site.url}/iterations/{site.iteration_id}")
        series = page.get_by_test_id("image-series")
        image = '[data-testid="series-image"]'
        slider = series.get_by_test_id("series-slider")
        step = series.get_by_test_id("series-step")
        assert step.inner_text() == "0" and image_width(page, image) == 2 * SCALE

        slider.fill("2")  # dragged to the end
        assert step.inner_text() == "9"
        assert "step=9" in (page.locator(image).get_attribute("src") or "")
        wait_width(page, image, 11 * SCALE)
        assert page.locator(image).get_attribute("alt") == "samples.png at step 9"

        slider.focus()
        page.keyboard.press("ArrowLeft")
        assert step.inner_text() == "5"
        wait_width(page, image, 7 * SCALE)
        page.keyboard.press("Home")
        assert step.inner_text() == "0"
        wait_width(page, image, 2 * SCALE)
        assert_clean(page, watch, "image series")


# -- SVG and HTML ----------------------------------------------------------------------------
def test_svg_and_html_files_never_run(browser: Browser, site: Site) -> None:
    with watched_page(browser, accept_downloads=True) as (page, watch):
        open_page(page, f"{site.url}/iterations/{site.iteration_id}")
        for name in ("drawing.svg", "page.html"):
            for inline in (False, True):
                url = site.content(name, inline)
                assert goto_download(page, url) == site.files[name], url
        assert page.url.endswith(f"/iterations/{site.iteration_id}")  # never left the page

        # In the page: as images (the way a preview would show them) and fetched by script
        shown = page.evaluate(
            """async (urls) => {
                const out = [];
                for (const url of urls) {
                    const img = document.createElement('img');
                    const done = new Promise((ok) => { img.onload = () => ok('loaded');
                                                       img.onerror = () => ok('refused'); });
                    img.src = url;
                    document.body.append(img);
                    const response = await fetch(url);
                    out.push({url, img: await done,
                              type: response.headers.get('content-type'),
                              disposition: response.headers.get('content-disposition'),
                              csp: response.headers.get('content-security-policy'),
                              nosniff: response.headers.get('x-content-type-options')});
                }
                return out;
            }""",
            [site.content(n, i) for n in ("drawing.svg", "page.html") for i in (False, True)],
        )
        for answer in shown:
            assert answer["img"] == "refused", answer  # octet-stream + nosniff: not an image
            assert answer["type"] == "application/octet-stream", answer
            assert answer["disposition"].startswith("attachment"), answer
            assert "sandbox" in answer["csp"] and answer["nosniff"] == "nosniff", answer
        assert_clean(page, watch, "SVG and HTML")

    with watched_page(browser, accept_downloads=True) as (page, watch):
        # by contrast, a PNG asked for inline is shown by the browser itself
        response = page.goto(site.content("confusion.png", True))
        assert response is not None and response.headers["content-type"] == "image/png"
        assert image_width(page, "img") == 3 * SCALE
        assert_clean(page, watch, "PNG opened directly")

    with watched_page(browser, accept_downloads=True) as (page, watch):
        # a fresh page whose first navigation is the file itself
        assert goto_download(page, site.content("drawing.svg", True)) == site.files["drawing.svg"]
        assert page.url == "about:blank"
        assert_clean(page, watch, "SVG opened directly")


# -- models ----------------------------------------------------------------------------------
def test_the_model_pages(browser: Browser, site: Site) -> None:
    import getpass

    with watched_page(browser) as (page, watch):
        open_page(page, f"{site.url}/models")
        (model,) = page.get_by_test_id("model-row").all()
        assert model.get_attribute("data-model") == "digits"
        assert model.locator("td.num").inner_text() == "2"
        assert model.get_by_test_id("model-alias").all_inner_texts() == [
            "production → v1",
            "staging → v2",
        ]
        screenshot(page, "models")

        with page.expect_navigation():
            model.get_by_test_id("model-link").click()
        open_page(page, page.url)
        assert page.url.endswith("/models/digits")
        assert page.get_by_test_id("model-name").inner_text() == "digits"
        versions = page.get_by_test_id("version-row")
        order = [versions.nth(i).get_attribute("data-version") for i in range(versions.count())]
        assert order == ["2", "1"]  # the newest first
        first = page.locator('[data-testid="version-row"][data-version="1"]')
        alias = first.get_by_test_id("version-alias").inner_text()
        assert alias.startswith("production") and f"set by {getpass.getuser()}" in alias
        assert "first try" in first.inner_text()
        assert "val_accuracy 0.875" in " ".join(first.inner_text().split())  # the last value
        screenshot(page, "model")

        with page.expect_navigation():
            first.get_by_test_id("version-iteration").click()
        open_page(page, page.url)
        assert page.url.endswith(f"/iterations/{site.iteration_id}")
        links = page.get_by_test_id("model-version-link")
        assert sorted(links.all_inner_texts()) == ["digits v1", "digits v2"]
        with page.expect_navigation():
            links.first.click()
        open_page(page, page.url)
        assert page.url.endswith("/models/digits")
        assert_clean(page, watch, "model pages")


# -- compare ---------------------------------------------------------------------------------
def test_the_compare_page_shows_same_named_images_side_by_side(
    browser: Browser, site: Site
) -> None:
    ids = f"{site.iteration_id},{site.other_id}"
    with watched_page(browser) as (page, watch):
        open_page(page, f"{site.url}/compare?" + urlencode({"ids": ids}))
        groups = page.get_by_test_id("image-compare")
        assert [groups.nth(i).get_attribute("data-name") for i in range(2)] == [
            "confusion.png",
            "samples.png",
        ]
        samples = page.locator('[data-testid="image-compare"][data-name="samples.png"]')
        figures = samples.get_by_test_id("compare-image")
        assert figures.locator("figcaption").all_inner_texts() == [
            "with-files step 9",
            "other step 3",
        ]
        widths = [
            image_width(
                page,
                f'[data-name="samples.png"] [data-testid="compare-image"]'
                f'[data-iteration-id="{i}"] img',
            )
            for i in (site.iteration_id, site.other_id)
        ]
        assert widths == [11 * SCALE, 20 * SCALE]  # each iteration's last step, side by side
        boxes = [figures.nth(i).bounding_box() for i in range(2)]
        assert boxes[0] is not None and boxes[1] is not None
        assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]
        page.get_by_test_id("compare-images").scroll_into_view_if_needed()
        screenshot(page, "compare-images")
        assert_clean(page, watch, "compare images")

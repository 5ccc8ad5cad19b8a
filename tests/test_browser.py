"""The web pages in a real browser: headless Chromium (Debian's) driven by Playwright against a
real ``mlops app`` process on the demo data of ``examples/train_sklearn.py --quick``.

Flows: projects -> project -> experiment, sorting by a metric, filtering, an iteration's
charts, comparing three iterations, a dataset's lineage; stored XSS in every name and value;
a 390 px wide screen; dark mode. Screenshots go to ``test-output/screenshots/``.

Skipped when ``/usr/bin/chromium`` is missing, unless ``CI`` is set: then it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest

from browser_support import (
    PHONE,
    XSS,
    XSS_ATTR,
    XssData,
    add_xss_data,
    browser_page,
    canvas_ink,
    chromium_problem,
    horizontal_overflow,
    injected_markup,
    is_dark,
    launch,
    open_page,
    run_demo,
    screenshot,
    wait_ready,
)
from conftest import AppProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytest.importorskip("sklearn")  # the demo data comes from the scikit-learn example
PROBLEM = chromium_problem()
pytestmark = [
    pytest.mark.skipif(
        PROBLEM is not None and not os.environ.get("CI"),
        reason=f"browser tests skipped: {PROBLEM}",
    ),
    pytest.mark.timeout(180),
]

SGD_HINGE = "sgd-hinge-alpha=0.001"
SGD_LOG = "sgd-log_loss-alpha=0.001"
GBOOST = "gboost-10"
CURVES = ("train_accuracy", "val_accuracy", "val_loss")  # metrics logged at several steps
ONCE = "test_accuracy"  # logged once, after training


@dataclass
class Site:
    """The running App and the ids of what it shows."""

    url: str
    project_id: str
    experiment_id: str
    iterations: dict[str, str]  # name -> id
    dataset: str
    xss: XssData

    def page_urls(self) -> dict[str, str]:
        """Every kind of page, on the demo data."""
        ids = ",".join(self.iterations.values())
        return {
            "projects": "/projects",
            "project": f"/projects/{self.project_id}",
            "experiment": f"/experiments/{self.experiment_id}",
            "iteration": f"/iterations/{self.iterations[GBOOST]}",
            "compare": "/compare?" + urlencode({"ids": ids}),
            "datasets": "/datasets",
            "dataset": f"/datasets/{self.dataset}",
        }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The demo data (plus the XSS records) served by a real App process."""
    from mlops.store.sql.store import SqlStore

    root = tmp_path_factory.mktemp("browser")
    home = root / "mlops-home"
    run_demo(home, root / "data")
    uri = f"sqlite:///{home / 'mlops.db'}"
    xss = add_xss_data(uri)
    store = SqlStore(uri)
    try:
        (project,) = [p for p in store.list_projects() if p.title == "digits-demo"]
        (experiment,) = store.list_experiments(project.id)
        found = store.list_iterations(experiment_id=experiment.id)
    finally:
        store.close()
    iterations = {i.name: i.id for i in found}
    assert set(iterations) == {SGD_HINGE, SGD_LOG, GBOOST}
    app = AppProcess(uri)
    try:
        yield Site(app.url, project.id, experiment.id, iterations, "digits", xss)
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
def column_texts(page: Page, key: str) -> list[str]:
    """The texts of one column (``data-column`` of its header) of the iterations table."""
    texts: list[str] = page.evaluate(
        """(key) => {
            const table = document.querySelector('[data-testid="iterations-table"]');
            const heads = Array.from(table.querySelectorAll('thead th'));
            const at = heads.findIndex((th) => th.dataset.column === key);
            if (at < 0) throw new Error('no column ' + key);
            return Array.from(table.querySelectorAll('tbody tr'))
                .map((tr) => tr.children[at].innerText.trim());
        }""",
        key,
    )
    return texts


def row_ids(page: Page) -> list[str]:
    """Iteration ids of the table's rows, top to bottom."""
    rows = page.get_by_test_id("iteration-row")
    return [rows.nth(i).get_attribute("data-iteration-id") or "" for i in range(rows.count())]


def row_names(page: Page) -> list[str]:
    links = page.get_by_test_id("iteration-link")
    return [links.nth(i).inner_text().strip() for i in range(links.count())]


def sort_state(page: Page, key: str) -> str | None:
    header = page.locator(f'[data-testid="iterations-table"] thead th[data-column="{key}"]')
    return header.get_attribute("aria-sort")


def click_and_wait(page: Page, selector: str) -> None:
    """Click something that navigates, then wait until the new page has drawn."""
    with page.expect_navigation():
        page.locator(selector).first.click()
    wait_ready(page)


def by_testid(value: str) -> str:
    """A CSS selector for ``data-testid="value"`` (quotes escaped)."""
    return '[data-testid="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"]'


def assert_clean(watch: Any, where: str) -> None:
    assert not watch.dialogs, f"{where}: a dialog opened: {watch.dialogs}"
    assert not watch.errors, f"{where}: uncaught script errors: {watch.errors}"
    assert not watch.csp, f"{where}: CSP violations: {watch.csp}"


# -- flows -----------------------------------------------------------------------------------
def test_projects_to_experiment(browser: Browser, site: Site) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, site.url + "/projects")
        screenshot(page, "projects")
        titles = page.get_by_test_id("project-link").all_inner_texts()
        assert "digits-demo" in titles and site.xss.texts["project"] in titles

        # ?q= search, through the search form
        page.get_by_test_id("project-search").fill("digits")
        click_and_wait(page, by_testid("project-search-button"))
        assert page.get_by_test_id("project-link").all_inner_texts() == ["digits-demo"]
        assert "q=digits" in page.url

        click_and_wait(page, by_testid("project-link"))
        assert page.url.endswith(f"/projects/{site.project_id}")
        assert page.get_by_test_id("project-title").inner_text() == "digits-demo"
        assert page.get_by_test_id("experiment-link").all_inner_texts() == ["sgd-sweep"]
        screenshot(page, "project")

        click_and_wait(page, by_testid("experiment-link"))
        assert page.url.endswith(f"/experiments/{site.experiment_id}")
        assert sorted(row_names(page)) == sorted(site.iterations)
        assert page.get_by_test_id("iteration-total").inner_text() == "3 iterations"
        screenshot(page, "experiment")
        assert_clean(watch, "projects -> experiment")


def test_sort_by_metric(browser: Browser, site: Site) -> None:
    key = "metrics.val_loss"
    with browser_page(browser) as (page, watch):
        open_page(page, f"{site.url}/experiments/{site.experiment_id}")
        before = row_ids(page)
        assert sort_state(page, key) == "none"

        click_and_wait(page, by_testid(f"sort-{key}"))
        assert "order_by=" in page.url
        first = sort_state(page, key)
        assert first in ("ascending", "descending")
        values = [float(v) for v in column_texts(page, key)]
        assert len(set(values)) == 3, f"val_loss values should differ: {values}"
        assert values == sorted(values, reverse=first == "descending")
        after_first = row_ids(page)
        screenshot(page, "experiment-sorted")

        click_and_wait(page, by_testid(f"sort-{key}"))  # the other direction
        second = sort_state(page, key)
        assert {first, second} == {"ascending", "descending"}
        values = [float(v) for v in column_texts(page, key)]
        assert values == sorted(values, reverse=second == "descending")
        after_second = row_ids(page)
        assert after_second == after_first[::-1], "the second click must reverse the rows"
        assert after_first != before or after_second != before, "sorting changed nothing"
        assert_clean(watch, "sort")


def test_filter(browser: Browser, site: Site) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, f"{site.url}/experiments/{site.experiment_id}")
        page.get_by_test_id("filter-input").fill('params.loss = "hinge"')
        with page.expect_navigation():
            page.get_by_test_id("filter-input").press("Enter")
        wait_ready(page)
        assert row_names(page) == [SGD_HINGE]
        assert page.get_by_test_id("filter-input").input_value() == 'params.loss = "hinge"'
        screenshot(page, "experiment-filtered")

        page.get_by_test_id("filter-input").fill('params.loss = "no such loss"')
        click_and_wait(page, by_testid("filter-apply"))
        assert page.get_by_test_id("empty-state").is_visible()
        assert page.get_by_test_id("iteration-row").count() == 0

        page.get_by_test_id("filter-input").fill('params.model = "SGDClassifier" and epochs > 1')
        click_and_wait(page, by_testid("filter-apply"))
        assert page.get_by_test_id("query-error").is_visible()  # epochs needs params.
        assert "epochs" in page.get_by_test_id("query-error-message").inner_text()
        assert page.get_by_test_id("iteration-row").count() == 0

        page.get_by_test_id("filter-input").fill(
            'params.model = "SGDClassifier" and metrics.val_accuracy > 0'
        )
        click_and_wait(page, by_testid("filter-apply"))
        assert sorted(row_names(page)) == sorted([SGD_HINGE, SGD_LOG])
        assert page.get_by_test_id("iteration-total").inner_text() == "2 iterations"
        assert_clean(watch, "filter")


def test_iteration_chart(browser: Browser, site: Site) -> None:
    iteration_id = site.iterations[GBOOST]
    with browser_page(browser) as (page, watch):
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        open_page(page, f"{site.url}/experiments/{site.experiment_id}")
        click_and_wait(
            page, f'tr[data-iteration-id="{iteration_id}"] {by_testid("iteration-link")}'
        )
        assert page.url.endswith(f"/iterations/{iteration_id}")
        assert page.get_by_test_id("iteration-name").inner_text() == GBOOST
        for name in CURVES:
            ink = canvas_ink(page, by_testid(f"chart-{name}"))
            assert ink["width"] > 100 and ink["height"] > 100, (name, ink)
            assert ink["painted"] > 500, f"chart of {name} is blank: {ink}"
            wanted = f"/api/v1/iterations/{iteration_id}/metrics/{name}?max_points=1000"
            assert any(url.endswith(wanted) for url in requested), f"{wanted} not fetched"
        # a metric logged once is its value, not a lone dot on an empty line chart
        value = page.locator(by_testid(f"chart-{ONCE}")).get_by_test_id("chart-value")
        value.wait_for()
        assert "logged once" in value.inner_text()
        summary = httpx.get(f"{site.url}/api/v1/iterations/{iteration_id}").json()
        shown = float(value.inner_text().splitlines()[0])
        assert shown == pytest.approx(summary["metrics"][ONCE], rel=1e-5)
        screenshot(page, "iteration")
        assert_clean(watch, "iteration")

    twin = httpx.get(f"{site.url}/iterations/{iteration_id}.json").json()
    assert "val_accuracy" in twin["metric_names"]
    assert twin["iteration"]["metrics"]["val_accuracy"] > 0.5
    series = httpx.get(
        f"{site.url}/api/v1/iterations/{iteration_id}/metrics/val_accuracy?max_points=1000"
    ).json()
    assert series["total"] == 10 and len(series["points"]) == 10


def test_compare_three(browser: Browser, site: Site) -> None:
    ids = list(site.iterations.values())
    with browser_page(browser) as (page, watch):
        open_page(page, f"{site.url}/experiments/{site.experiment_id}")
        assert page.get_by_test_id("compare-button").is_disabled()
        for iteration_id in ids:
            page.get_by_test_id(f"select-{iteration_id}").check()
        assert page.get_by_test_id("selection-count").inner_text() == "3 selected."
        click_and_wait(page, by_testid("compare-button"))
        address = urlsplit(page.url)
        assert address.path == "/compare"
        assert sorted(",".join(parse_qs(address.query)["ids"]).split(",")) == sorted(ids)

        # overlaid curves: one chart per metric, one series per iteration
        for name in CURVES:
            figure = page.locator(by_testid(f"chart-{name}"))
            assert figure.get_attribute("data-series") == "3", name
            ink = canvas_ink(page, by_testid(f"chart-{name}"))
            assert ink["width"] > 100 and ink["painted"] > 500, (name, ink)
        # a metric logged once per iteration: a bar each, tallest for the best
        once = page.locator(by_testid(f"chart-{ONCE}"))
        once.get_by_test_id("chart-bars").wait_for()
        assert once.get_by_test_id("chart-bar").count() == 3
        # the parameters table marks what differs
        params = page.get_by_test_id("compare-params")
        assert params.is_visible()
        assert page.get_by_test_id("param-row-model").get_attribute("data-differs") == "1"
        assert page.get_by_test_id("param-row-random_state").get_attribute("data-differs") == "0"
        # parallel coordinates: an SVG with one line per iteration
        parallel = page.get_by_test_id("parallel-coordinates")
        assert parallel.locator("svg").count() == 1
        assert parallel.locator("svg path.line").count() == 3
        assert "same" in (page.get_by_test_id("dataset-verdict").get_attribute("class") or "")
        screenshot(page, "compare")
        assert_clean(watch, "compare")


def test_dataset_lineage(browser: Browser, site: Site) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, site.url + "/datasets")
        screenshot(page, "datasets")
        click_and_wait(page, f'{by_testid("dataset-row")} a:text-is("digits")')
        assert page.url.endswith("/datasets/digits")
        assert page.get_by_test_id("dataset-name").inner_text() == "digits"
        lineage = page.get_by_test_id("dataset-lineage")
        text = lineage.inner_text()
        for name in site.iterations:
            assert name in text
        assert lineage.get_by_test_id("lineage-row").count() == 3
        assert lineage.get_by_test_id("lineage-experiment").all_inner_texts() == [
            "digits-demo / sgd-sweep"
        ]
        screenshot(page, "dataset")
        assert_clean(watch, "dataset")


# -- stored XSS ------------------------------------------------------------------------------
def xss_pages(site: Site) -> dict[str, str]:
    """Every page that shows one of the XSS records, plus reflected query strings."""
    xss = site.xss
    metric, param = xss.texts["metric"], xss.texts["param name"]
    experiment = f"/experiments/{xss.experiment_id}"
    columns = {"metrics": f"{metric},{XSS_ATTR}", "params": f"{param},{XSS_ATTR}"}
    sorted_by = urlencode({**columns, "order_by": f"metrics.`{metric}` desc"})
    found = urlencode({"filter": f'name = "{xss.texts["iteration"]}"'})
    broken = urlencode({"filter": f"name = {XSS}"})
    pages = {
        "projects": "/projects",
        "projects-search": "/projects?" + urlencode({"q": XSS}),
        "project": f"/projects/{xss.project_id}",
        "project-best": f"/projects/{xss.project_id}?" + urlencode({"metric": metric}),
        "experiment": experiment,
        "experiment-columns": f"{experiment}?{sorted_by}",
        "experiment-filter": f"{experiment}?{found}",
        "experiment-bad-filter": f"{experiment}?{broken}",
        "compare": "/compare?" + urlencode({"ids": ",".join(xss.iteration_ids)}),
        "datasets": "/datasets",
        "dataset": "/datasets/" + quote(xss.dataset_name, safe=""),
        "missing-dataset": "/datasets/" + quote(XSS, safe=""),
    }
    for n, iteration_id in enumerate(xss.iteration_ids):
        pages[f"iteration-{n}"] = f"/iterations/{iteration_id}"
    return pages


#: Which payload texts each page must show literally.
XSS_SHOWN = {
    "projects": ("project",),
    "project": ("project", "experiment", "dataset", "dataset path"),
    "experiment": ("experiment", "iteration"),
    "experiment-columns": ("metric", "param name", "param value"),
    "experiment-filter": ("iteration",),
    "compare": ("iteration", "metric", "param name", "param value"),
    "datasets": ("dataset",),
    "dataset": ("dataset", "dataset path", "dataset description", "iteration", "experiment"),
    "iteration-0": ("iteration", "metric", "param name", "param value", "tag", "model path"),
    "iteration-2": ("error",),
}


def test_stored_xss_is_shown_as_text(browser: Browser, site: Site) -> None:
    texts = site.xss.texts
    with browser_page(browser) as (page, watch):
        for label, path in xss_pages(site).items():
            response = page.goto(site.url + path)
            assert response is not None
            expected = 404 if label == "missing-dataset" else 200
            if label == "experiment-bad-filter":
                expected = 422
            assert response.status == expected, f"{label}: {response.status}"
            wait_ready(page)
            assert not injected_markup(page), f"{label}: markup injected: {injected_markup(page)}"
            body = page.inner_text("body")
            for key in XSS_SHOWN.get(label, ()):
                assert texts[key] in body, f"{label}: {texts[key]!r} is not shown as text"
            if label == "projects-search" or label.endswith("filter"):
                assert XSS in body or XSS in page.locator("input").first.input_value()
            assert_clean(watch, label)
            if label in ("iteration-0", "compare", "experiment-columns"):
                screenshot(page, f"xss-{label}")
        # the XSS metric was charted on the iteration page, not just listed
        page.goto(f"{site.url}/iterations/{site.xss.iteration_ids[0]}")
        wait_ready(page)
        ink = canvas_ink(page, by_testid(f"chart-{texts['metric']}"))
        assert ink["painted"] > 100, ink
        assert page.title().startswith(texts["iteration"])
    assert not watch.dialogs


# -- small screens and dark mode -------------------------------------------------------------
def test_phone_width_has_no_horizontal_overflow(browser: Browser, site: Site) -> None:
    shots = {"projects", "experiment", "iteration", "compare"}
    with browser_page(browser, viewport=PHONE, is_mobile=True, has_touch=True) as (page, watch):
        for label, path in site.page_urls().items():
            open_page(page, site.url + path)
            overflow = horizontal_overflow(page)
            assert overflow <= 1, f"{label} at 390 px is {overflow} px too wide"
            if label in ("iteration", "compare"):
                ink = canvas_ink(page, by_testid("chart-val_accuracy"))
                assert 0 < ink["width"] <= PHONE["width"], (label, ink)
            if label in shots:
                screenshot(page, f"{label}-390")
        assert_clean(watch, "390 px")


def test_dark_mode(browser: Browser, site: Site) -> None:
    shots = {"projects", "experiment", "iteration", "compare", "dataset"}
    with browser_page(browser, color_scheme="dark") as (page, watch):
        for label, path in site.page_urls().items():
            open_page(page, site.url + path)
            assert is_dark(page), f"{label} is not dark in dark mode"
            if label in shots:
                screenshot(page, f"{label}-dark")
        assert_clean(watch, "dark mode")
    with browser_page(browser, color_scheme="light") as (page, _watch):
        open_page(page, site.url + "/projects")
        assert not is_dark(page), "light mode should be light"

"""The experiment page's chart panel in a real browser (issue 14): curves of the iterations in
view, x axis, log scale, smoothing, hover and click, a metric logged once as bars, NaN
markers, parallel coordinates whose brush filters the table, the scatter, the table
alternative and keyboard access."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import pytest

from browser_support import (  # noqa: F401 (the fixture)
    BROWSER_MARKS,
    browser_fixture,
    browser_page,
    open_page,
    screenshot,
)
from conftest import AppProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = BROWSER_MARKS

#: Iterations of the experiment; "run-00" has NaN and +inf in its loss, "run-11" has no lr.
COUNT = 12
LRS = [0.1, 0.01, 0.001, 0.0001]


class PatientApp(AppProcess):
    """The App, given time to start on a loaded machine."""

    def wait_ready(self, timeout: float = 120.0) -> None:
        super().wait_ready(timeout)


class Demo:
    """The App on a database with one experiment of ``COUNT`` iterations."""

    def __init__(self, app: AppProcess, experiment_id: str, ids: list[str]) -> None:
        self.app = app
        self.experiment_id = experiment_id
        self.ids = ids

    def url(self, query: str = "") -> str:
        return f"{self.app.url}/experiments/{self.experiment_id}" + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from mlops.store.sql.store import SqlStore

    uri = f"sqlite:///{tmp_path_factory.mktemp('workspace') / 'ws.db'}"
    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    now = time.time() - 3600
    ids = []
    for n in range(COUNT):
        iteration_id = f"run{n:02d}" + "0" * 27
        start = now + n * 10
        store.create_iteration(iteration_id, f"run-{n:02d}", experiment.id, None, start, {})
        loss = [
            ("loss", step, 2.0 / (1 + step * (n + 1) / 10) + 0.01, start + step)
            for step in range(40)
        ]
        if n == 0:
            loss[10] = ("loss", 10, math.nan, start + 10)
            loss[20] = ("loss", 20, math.inf, start + 20)
        points = [
            *loss,
            *[("acc", step, 0.5 + 0.4 * step / 40 + n / 100, start + step) for step in range(40)],
            ("score", 0, 0.6 + n / 50, start + 40),
        ]
        params: dict[str, Any] = {"model": "rf" if n % 2 else "gb", "seed": n}
        if n != 11:
            params["lr"] = LRS[n % len(LRS)]
        store.end_iteration(iteration_id, "finished", start + 41, parameters=params, metrics=points)
        ids.append(iteration_id)
    store.close()
    app = PatientApp(uri)
    try:
        yield Demo(app, experiment.id, ids)
    finally:
        app.stop()


def ready(page: Page, testid: str = "ws-panel") -> None:
    page.wait_for_selector(f'[data-testid="{testid}"][data-ready="1"]', state="attached")


def chart(page: Page, metric: str) -> Any:
    return page.locator(f'figure[data-testid="ws-chart"][data-metric="{metric}"]')


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def hover_curve_of(page: Page, metric: str) -> str:
    """Move the mouse along the chart until a curve is hovered; return the tooltip text."""
    canvas = chart(page, metric).locator("canvas")
    box = canvas.bounding_box()
    assert box is not None
    for fx in (0.3, 0.5, 0.7):
        for fy in [i / 40 for i in range(2, 38)]:
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            tip = chart(page, metric).get_by_test_id("ws-tooltip")
            if tip.is_visible():
                return tip.inner_text()
    raise AssertionError("no curve found under the mouse")


def test_the_panel_draws_a_curve_per_row_in_view(browser: Browser, demo: Demo) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, demo.url("charts=loss,acc"))
        ready(page)
        assert chart(page, "loss").get_attribute("data-curves") == "10"  # the top 10 by default
        assert chart(page, "acc").get_attribute("data-kind") == "lines"
        assert chart(page, "loss").get_by_test_id("ws-x-title").inner_text() == "Step"
        assert chart(page, "loss").get_by_test_id("ws-y-title").inner_text() == "loss"
        page.get_by_test_id("ws-curves").select_option("20")
        ready(page)
        assert chart(page, "loss").get_attribute("data-curves") == str(COUNT)
        assert query_of(page)["curves"] == ["20"]
        screenshot(page, "workspace-curves")
        assert watch.errors == []


def test_ticked_rows_are_the_curves(browser: Browser, demo: Demo) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, demo.url("charts=loss"))
        ready(page)
        page.get_by_test_id(f"select-{demo.ids[3]}").check()
        page.get_by_test_id(f"select-{demo.ids[5]}").check()
        page.wait_for_selector('figure[data-metric="loss"][data-curves="2"]')
        ready(page)
        assert "2 ticked iterations" in page.get_by_test_id("ws-source").inner_text()
        assert watch.errors == []


def test_x_axis_log_scale_and_smoothing_live_in_the_address(browser: Browser, demo: Demo) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, demo.url("charts=loss&filter=params.model%20%3D%20%22rf%22"))
        ready(page)
        loss = chart(page, "loss")
        assert loss.get_attribute("data-curves") == "6"  # the table's filter applies
        page.get_by_test_id("ws-x").select_option("relative")
        assert loss.get_by_test_id("ws-x-title").inner_text() == "Time since start"
        page.get_by_test_id("ws-x").select_option("time")
        assert loss.get_by_test_id("ws-x-title").inner_text() == "Wall time (local)"
        page.get_by_test_id("ws-log").check()
        assert loss.get_by_test_id("ws-y-title").inner_text() == "loss (log scale)"
        page.get_by_test_id("ws-smooth").fill("0.8")
        page.wait_for_url(lambda url: parse_qs(urlparse(url).query).get("smooth") == ["0.8"])
        query = query_of(page)
        assert query["x"] == ["time"] and query["log"] == ["1"] and query["smooth"] == ["0.8"]
        assert query["filter"] == ['params.model = "rf"']  # others' keys are kept
        screenshot(page, "workspace-log-smooth")
        # Opened again from the address: the same settings.
        open_page(page, page.url)
        ready(page)
        assert page.get_by_test_id("ws-log").is_checked()
        assert page.get_by_test_id("ws-x").input_value() == "time"
        assert page.get_by_test_id("ws-smooth-value").inner_text() == "0.8"
        assert watch.errors == []


def test_hovering_a_curve_highlights_its_row_and_clicking_opens_it(
    browser: Browser, demo: Demo
) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, demo.url("charts=acc"))
        ready(page)
        text = hover_curve_of(page, "acc")
        name = text.split(" · ")[0]
        assert name.startswith("run-") and " · step " in text
        row = page.locator("tr.is-highlighted")
        assert row.count() == 1
        assert row.get_by_test_id("iteration-link").inner_text() == name
        screenshot(page, "workspace-hover")
        with page.expect_navigation():
            page.mouse.down()
            page.mouse.up()
        assert "/iterations/" in page.url
        assert page.get_by_test_id("iteration-name").inner_text() == name
        assert watch.errors == []


def test_a_metric_logged_once_is_bars_and_nan_is_marked(browser: Browser, demo: Demo) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, demo.url("charts=score,loss&order_by=name"))
        ready(page)
        assert chart(page, "score").get_attribute("data-kind") == "bars"
        assert chart(page, "score").get_attribute("data-curves") == "10"
        loss = chart(page, "loss")
        assert loss.get_attribute("data-nan") == "1"  # run-00 is in view (sorted by name)
        note = loss.locator(".chart-note").inner_text()
        assert "1 NaN value" in note and "1 infinite value" in note
        screenshot(page, "workspace-bars-nan")
        assert watch.errors == []


def test_keyboard_and_the_table_alternative(browser: Browser, demo: Demo) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, demo.url("charts=acc"))
        ready(page)
        canvas = chart(page, "acc").locator("canvas")
        canvas.focus()
        page.keyboard.press("ArrowDown")
        tip = chart(page, "acc").get_by_test_id("ws-tooltip")
        assert tip.is_visible() and "step 39" in tip.inner_text()
        assert page.locator("tr.is-highlighted").count() == 1
        page.get_by_test_id("ws-as-table").click()
        table = chart(page, "acc").get_by_test_id("ws-table")
        assert table.is_visible()
        assert table.locator("tbody tr").count() == 10
        assert page.get_by_test_id("ws-as-table").get_attribute("aria-pressed") == "true"
        assert watch.errors == []


def test_parallel_coordinates_brush_filters_the_table(browser: Browser, demo: Demo) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, demo.url("pc=lr,model&pc_metric=acc"))
        ready(page, "ws-pc-box")
        box = page.get_by_test_id("ws-pc-box")
        assert box.get_attribute("data-lines") == str(COUNT)
        screenshot(page, "workspace-parallel")
        # The table alternative: lr spans 4 decades (a log axis); run-11's lr is missing.
        page.get_by_test_id("ws-pc-as-table").click()
        assert box.get_by_test_id("ws-table").locator("tbody tr").count() == COUNT
        page.get_by_test_id("ws-pc-as-table").click()
        canvas = box.locator("canvas")
        canvas.scroll_into_view_if_needed()
        area = canvas.bounding_box()
        assert area is not None
        # The model axis (the second of three) is categorical: "gb" low, "rf" high; brush "rf".
        x = area["x"] + area["width"] / 2
        with page.expect_navigation():
            page.mouse.move(x, area["y"] + 36)
            page.mouse.down()
            page.mouse.move(x, area["y"] + 120, steps=4)
            page.mouse.up()
        page.wait_for_selector('body[data-ready="1"]', state="attached")
        assert query_of(page)["filter"] == ['params.model in ("rf")']
        assert page.get_by_test_id("iteration-row").count() == COUNT // 2
        assert watch.errors == []


def test_parallel_coordinates_numeric_brush_and_log_axis(browser: Browser, demo: Demo) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, demo.url("pc=lr&pc_metric=acc"))
        ready(page, "ws-pc-box")
        box = page.get_by_test_id("ws-pc-box")
        box.locator("canvas").scroll_into_view_if_needed()
        area = box.locator("canvas").bounding_box()
        assert area is not None
        x = area["x"] + 70  # the lr axis, first from the left
        with page.expect_navigation():
            page.mouse.move(x, area["y"] + 40)
            page.mouse.down()
            page.mouse.move(x, area["y"] + 120, steps=4)
            page.mouse.up()
        page.wait_for_selector('body[data-ready="1"]', state="attached")
        (text,) = query_of(page)["filter"]
        assert text.startswith("params.lr >= ") and " and params.lr <= " in text
        rows = page.get_by_test_id("iteration-row").count()
        assert 0 < rows < COUNT
        assert watch.errors == []


def test_scatter_of_a_parameter_against_a_metric(browser: Browser, demo: Demo) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, demo.url("sx=params.seed&sy=acc"))
        ready(page, "ws-scatter-box")
        box = page.get_by_test_id("ws-scatter-box")
        assert box.get_attribute("data-points") == str(COUNT)
        assert box.get_by_test_id("ws-y-title").inner_text() == "acc"
        page.get_by_test_id("ws-sx").select_option("params.lr")
        page.wait_for_selector(f'[data-testid="ws-scatter-box"][data-points="{COUNT - 1}"]')
        assert "1 without both values" in page.get_by_test_id("ws-scatter-note").inner_text()
        assert box.get_by_test_id("ws-x-title").inner_text() == "parameter lr (log scale)"
        screenshot(page, "workspace-scatter")
        canvas = box.locator("canvas")
        canvas.focus()
        page.keyboard.press("ArrowRight")
        assert box.get_by_test_id("ws-tooltip").is_visible()
        assert page.locator("tr.is-highlighted").count() <= 1
        assert watch.errors == []


def test_points_from_live_updates_extend_a_curve(browser: Browser, demo: Demo) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, demo.url("charts=acc&order_by=name"))
        ready(page)
        page.evaluate(
            """id => document.dispatchEvent(new CustomEvent("mlops:points", {detail: {
                iteration_id: id, metric: "acc", steps: [40, 41], values: [0.99, "NaN"],
                times: [Date.now() / 1000, Date.now() / 1000], replace: false}}))""",
            demo.ids[0],
        )
        assert chart(page, "acc").get_attribute("data-nan") == "1"
        assert watch.errors == []


def test_iteration_page_charts_have_axis_titles_log_scale_x_choice_and_nan_marks(
    browser: Browser, demo: Demo
) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, f"{demo.app.url}/iterations/{demo.ids[0]}")
        loss = page.locator('figure.chart[data-metric="loss"]')
        plot = loss.locator(".chart-plot")
        assert plot.get_attribute("data-nan") == "1"
        assert "1 NaN value" in loss.locator(".chart-note").inner_text()
        assert plot.get_attribute("data-x-title") == "Step"  # drawn on the canvas
        page.get_by_test_id("chart-log").check()
        page.wait_for_selector('figure.chart[data-metric="loss"] .chart-plot[data-log="1"]')
        assert plot.get_attribute("data-y-title") == "loss (log scale)"
        page.get_by_test_id("chart-x").select_option("relative")
        page.wait_for_selector('figure.chart[data-metric="loss"] .chart-plot[data-x="relative"]')
        assert plot.get_attribute("data-x-title") == "Time since start"
        assert query_of(page) == {"x": ["relative"], "log": ["1"]}
        screenshot(page, "iteration-charts-log-relative")
        assert watch.errors == []


def test_compare_page_charts_take_the_same_settings(browser: Browser, demo: Demo) -> None:
    with browser_page(browser) as (page, watch):
        open_page(page, f"{demo.app.url}/compare?ids={demo.ids[0]},{demo.ids[1]}&x=time&log=1")
        plot = page.locator('figure.chart[data-metric="loss"] .chart-plot')
        assert plot.get_attribute("data-x") == "time" and plot.get_attribute("data-log") == "1"
        assert plot.get_attribute("data-nan") == "1"
        assert plot.get_attribute("data-x-title") == "Wall time (local)"
        assert page.get_by_test_id("chart-log").is_checked()
        assert watch.errors == []

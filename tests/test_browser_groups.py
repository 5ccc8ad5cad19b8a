"""Groups in a real browser: ?group_by= shows a row per group, a group expands to its
iterations, mean ± std switches to min – max, and each group's mean curve is drawn with a
shaded band; screenshots under test-output/screenshots/."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from browser_support import (  # noqa: F401 (the fixture)
    BROWSER_MARKS,
    browser_fixture,
    browser_page,
    open_page,
    screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = BROWSER_MARKS


def _sweep(uri: str) -> str:
    from mlops.store.sql.store import SqlStore

    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    now = time.time()
    for n in range(9):
        iteration_id = f"it-{n}"
        lr = (0.1, 0.01, 0.001)[n % 3]
        store.create_iteration(iteration_id, f"run-{n}", experiment.id, None, now + n, {})
        points = [("loss", s, (1 + n % 3) / (1 + s) + 0.05 * (n // 3), now) for s in range(40)]
        points.append(("acc", 39, 0.5 + 0.1 * (n % 3) + 0.01 * (n // 3), now))  # logged once
        store.log_batch(iteration_id, parameters={"lr": lr, "seed": n // 3}, metrics=points)
        store.end_iteration(iteration_id, "finished", now + n + 1)
    store.close()
    return experiment.id


def test_group_rows_expand_switch_spread_and_draw_bands(
    browser: Browser, tmp_path: Path, start_app: Any
) -> None:
    uri = f"sqlite:///{tmp_path / 'groups.db'}"
    experiment_id = _sweep(uri)
    app = start_app(uri)
    app.wait_ready()
    with browser_page(browser) as (page, watch):
        open_page(page, f"{app.url}/experiments/{experiment_id}")
        # the picker writes ?group_by= and keeps the other parameters
        page.get_by_test_id("group-by-input").fill("params.lr")
        with page.expect_navigation():
            page.get_by_test_id("group-apply").click()
        page.wait_for_selector('body[data-ready="1"]', state="attached")
        assert "group_by=params.lr" in page.url
        rows = page.get_by_test_id("group-row")
        assert rows.count() == 3
        assert page.get_by_test_id("iterations-table").is_hidden()
        labels = [rows.nth(i).get_by_test_id("group-label").inner_text() for i in range(3)]
        assert labels == ["lr=0.001", "lr=0.01", "lr=0.1"]
        cell = rows.nth(0).get_by_test_id("group-cell").first
        assert "±" in cell.inner_text()
        page.get_by_test_id("spread-toggle").click()
        assert "–" in cell.inner_text() and "±" not in cell.inner_text()
        # expanding a group fetches its iterations
        rows.nth(0).get_by_test_id("group-expand").click()
        members = page.get_by_test_id("group-member")
        members.first.wait_for()
        assert members.count() == 3
        assert {members.nth(i).locator("a").inner_text() for i in range(3)} == {
            "run-2", "run-5", "run-8",
        }  # fmt: skip
        # a mean curve and a band per group
        page.get_by_test_id("group-mean").first.wait_for()
        assert page.get_by_test_id("group-mean").count() == 3
        assert page.get_by_test_id("group-band").count() == 3
        band = page.get_by_test_id("group-band").first.get_attribute("points") or ""
        assert len(band.split()) == 80  # 40 steps above the mean, 40 below
        # acc, logged once: a bar per group with its spread, not an empty line chart
        bars = page.get_by_test_id("group-bar")
        assert bars.count() == 3 and page.get_by_test_id("group-whisker").count() == 3
        heights = [float(bars.nth(i).get_attribute("height") or 0) for i in range(3)]
        assert heights[0] > heights[1] > heights[2] > 0  # lr=0.001 scores highest
        swatches = page.locator(".group-legend .swatch")
        colours = {swatches.nth(i).evaluate("s => getComputedStyle(s).backgroundColor")
                   for i in range(3)}  # fmt: skip
        assert len(colours) == 3  # each group's colour, as its curve
        # the numbers behind the charts, as tables: a row per step, a column per group
        page.get_by_test_id("group-charts-as-table").click()
        tables = page.get_by_test_id("group-values")
        assert tables.count() == 2 and tables.first.is_visible()
        assert page.get_by_test_id("group-curves").first.is_hidden()
        by_metric = {
            tables.nth(i).locator("caption").inner_text().split(":")[0]: tables.nth(i)
            for i in range(2)
        }
        loss = by_metric["loss"]
        assert loss.locator("tbody tr").count() == 40
        assert loss.locator("thead th").all_inner_texts() == [
            "step",
            "lr=0.001",
            "lr=0.01",
            "lr=0.1",
        ]
        assert " – " in loss.locator("tbody td").first.inner_text()  # min – max, as switched above
        assert by_metric["acc"].locator("tbody tr").count() == 1
        page.get_by_test_id("group-charts-as-table").click()
        assert page.get_by_test_id("group-curves").first.is_visible()
        screenshot(page, "groups-by-lr")
        rows.nth(0).get_by_test_id("group-expand").click()
        assert members.count() == 0
        assert watch.dialogs == [] and watch.errors == []

"""Saved views and live updates of the experiment page in a real browser: save a view, get it
back after a reload, by its short URL and as the last view used; a real training process
whose new steps reach the table and the charts' events without a reload, a refetch when an
earlier step is replaced, and the stop when nothing runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from browser_support import (  # noqa: F401 (the fixture)
    BROWSER_MARKS,
    browser_fixture,
    browser_page,
    open_page,
    screenshot,
    wait_ready,
)
from conftest import child_environ

if TYPE_CHECKING:
    from playwright.sync_api import Browser

from live_support import patient_start_app  # noqa: F401 (the fixture start_app)

pytestmark = BROWSER_MARKS
HERE = Path(__file__).resolve().parent


def _experiment(uri: str) -> tuple[str, list[str]]:
    from mlops.store.sql.store import SqlStore

    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    ids = []
    for k, acc in enumerate((0.7, 0.95)):
        now = time.time()
        iteration_id = f"run{k}"
        store.create_iteration(iteration_id, f"run-{k}", experiment.id, None, now, {})
        store.log_batch(iteration_id, {"lr": 0.1 * (k + 1)}, [("acc", 0, acc, now)])
        store.end_iteration(iteration_id, "finished", now + 1)
        ids.append(iteration_id)
    store.close()
    return experiment.id, ids


def test_a_view_is_saved_restored_and_opened_by_its_short_url(
    browser: Browser, tmp_path: Path, start_app: Any
) -> None:
    uri = f"sqlite:///{tmp_path / 'views.db'}"
    experiment_id, _ = _experiment(uri)
    app = start_app(uri)
    app.wait_ready()
    page_url = f"{app.url}/experiments/{experiment_id}"
    with browser_page(browser) as (page, watch):
        open_page(page, page_url + "?filter=metrics.acc+%3E+0.9&metrics=acc&params=lr")
        assert page.get_by_test_id("iteration-row").count() == 1
        menu = page.get_by_test_id("views-menu")
        menu.locator("summary").click()
        assert page.get_by_test_id("views-empty").is_visible()
        page.get_by_test_id("view-name").fill("good runs")
        with page.expect_navigation():
            page.get_by_test_id("view-save").click()
        wait_ready(page)
        assert "view=" in page.url
        short = page.get_by_test_id("view-item").get_attribute("data-short-id")
        assert short and page.get_by_test_id("view-apply").text_content() == "good runs"
        assert page.get_by_test_id("view-short-url").text_content() == f"/v/{short}"
        screenshot(page, "workspace-saved-view")

        page.reload()  # the view survives a reload
        wait_ready(page)
        assert page.get_by_test_id("iteration-row").count() == 1
        assert page.get_by_test_id("view-item").count() == 1

        open_page(page, page_url)  # no parameters: the last view used here comes back
        page.wait_for_url(f"**view={short}")
        wait_ready(page)
        assert page.get_by_test_id("iteration-row").count() == 1
        assert page.get_by_test_id("filter-input").input_value() == "metrics.acc > 0.9"

        with browser_page(browser) as (fresh, _):  # another browser: the short URL works
            open_page(fresh, f"{app.url}/v/{short}")
            assert f"view={short}" in fresh.url
            assert fresh.get_by_test_id("iteration-row").count() == 1
            assert fresh.get_by_test_id("filter-input").input_value() == "metrics.acc > 0.9"
            missing = fresh.goto(f"{app.url}/v/nosuchview")
            assert missing is not None and missing.status == 404

        page.get_by_test_id("views-menu").locator("summary").click()
        with page.expect_navigation():
            page.get_by_test_id("view-delete").click()
        wait_ready(page)
        assert "view=" not in page.url
        assert page.get_by_test_id("view-item").count() == 0
        assert watch.errors == [] and watch.dialogs == [] and watch.csp == []


_RECORD_EVENTS = """
window.__points = [];
window.__rows = 0;
document.addEventListener("mlops:points", (e) => window.__points.push(e.detail));
document.addEventListener("mlops:rows-updated", () => { window.__rows += 1; });
"""


def test_live_updates_follow_a_real_training_process(
    browser: Browser, tmp_path: Path, start_app: Any
) -> None:
    uri = f"sqlite:///{tmp_path / 'live.db'}"
    experiment_id, _ = _experiment(uri)
    app = start_app(uri)
    app.wait_ready()
    env = {**child_environ(), "MLOPS_TRACKING_URI": app.url, "MLOPS_HOME": str(tmp_path / "h")}
    training = subprocess.Popen(
        [sys.executable, str(HERE / "live_training.py"), str(tmp_path), experiment_id], env=env
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "started").exists():  # wait for the process to start its run
            assert training.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        with browser_page(browser) as (page, watch):
            page.add_init_script(_RECORD_EVENTS)
            live_api: list[str] = []
            page.on("request", lambda r: live_api.append(r.url) if "/live?" in r.url else None)
            open_page(page, f"{app.url}/experiments/{experiment_id}?metrics=loss,acc&params=lr")
            row = page.locator("[data-testid=iteration-row][data-iteration-id]").filter(
                has_text="live-run"
            )
            indicator = row.get_by_test_id("live-indicator")
            indicator.wait_for(timeout=15_000)
            page.wait_for_function(  # new steps reach the table without a reload
                "() => { const m = document.querySelector('[data-testid=live-indicator]');"
                " return m && /step (\\d+)/.test(m.textContent) &&"
                " Number(m.textContent.match(/step (\\d+)/)[1]) >= 12; }",
                timeout=30_000,
            )
            page.wait_for_function(
                "() => window.__points.some(p => !p.replace && p.steps.length > 0)",
                timeout=15_000,
            )
            appended = page.evaluate("window.__points.filter(p => !p.replace)")
            steps = [s for p in appended for s in p["steps"]]
            assert steps == sorted(set(steps)), "only points after the last step, each once"
            assert all(p["metric"] == "loss" for p in appended)
            duration = row.locator("td").nth(3)
            assert duration.get_attribute("data-elapsed") == "1"
            assert page.get_by_test_id("live-status").get_attribute("data-live") == "on"
            screenshot(page, "workspace-live")

            (tmp_path / "REWRITE").write_text("yes")  # step 0 is replaced: a refetch
            page.wait_for_function(
                "() => window.__points.some(p => p.replace && p.values[0] === 42)",
                timeout=20_000,
            )
            (tmp_path / "STOP").write_text("yes")
            training.wait(timeout=30)
            status = page.get_by_test_id("live-status")
            page.wait_for_function(
                "() => document.querySelector('[data-testid=live-status]').dataset.live"
                " === 'stopped'",
                timeout=20_000,
            )
            assert "stopped" in status.inner_text()
            assert row.locator(".badge").inner_text() == "finished"
            assert indicator.count() == 0
            asked = len(live_api)
            assert asked >= 2
            # the ids asked about are the running rows only, never the finished ones
            assert all("run0" not in url and "run1" not in url for url in live_api)
            assert watch.errors == [] and watch.csp == []
    finally:
        (tmp_path / "STOP").write_text("yes")
        training.wait(timeout=30)

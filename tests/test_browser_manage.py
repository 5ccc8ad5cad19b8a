"""The experiment page as a place to manage what was tracked, in a real browser: bulk delete,
restore and tagging of the selected rows (with partial failures named), the experiment's own
header edited in place, the notes preview, the navigation's admin links and the API docs' way
back, the iterations table at 1,400 px, and the axes of Compare."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from browser_support import (  # noqa: F401 (the fixture)
    BROWSER_MARKS,
    browser_fixture,
    browser_page,
    open_page,
    wait_ready,
)
from conftest import AppProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = BROWSER_MARKS

METRICS = ("test_accuracy", "train_accuracy", "val_accuracy", "val_loss")
NAMES = [f"resnet-50-lr-{lr}-seed-{n}" for n, lr in enumerate(("0.1", "0.01", "0.001", "0.1"))]


class _App(AppProcess):
    """The App process, given a minute to start on a loaded machine and stopped when it
    does not (so that no process outlives the test)."""

    def wait_ready(self, timeout: float = 60.0) -> None:
        try:
            super().wait_ready(timeout)
        except RuntimeError:
            self.stop()
            raise


@dataclass
class Site:
    """One App for the module; each test adds an experiment of its own to its project."""

    app: AppProcess
    uri: str
    project_id: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from mlops.store.sql.store import SqlStore

    uri = f"sqlite:///{tmp_path_factory.mktemp('manage') / 'manage.db'}"
    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    store.create_experiment(project.id, "taken", None)
    store.close()
    app = _App(uri)
    try:
        yield Site(app, uri, project.id)
    finally:
        app.stop()


def _experiment(site: Site, name: str) -> tuple[str, str]:
    """An experiment ``name`` of 4 iterations (ids ``{name}-0`` ...) with hyphenated names,
    6 metrics and 5 parameters (``epochs`` the same in all, ``model`` text); (its page's
    URL, its id)."""
    from mlops.store.sql.store import SqlStore

    store = SqlStore(site.uri)
    experiment = store.create_experiment(site.project_id, name, None)
    now = time.time()
    for n, label in enumerate(NAMES):
        store.create_iteration(f"{name}-{n}", label, experiment.id, None, now + n, {})
        points = [
            (metric, step, 0.5 + 0.05 * n + 0.01 * step, now)
            for metric in (*METRICS, "extra_a", "extra_b")
            for step in range(3)
        ]
        store.end_iteration(
            f"{name}-{n}", "finished", now + n + 1,
            parameters={
                "lr": float(label.split("-")[3]), "model": "resnet" if n % 2 else "vit",
                "epochs": 30, "optimizer": "sgd-momentum", "batch_size": 128,
            },
            metrics=points,
        )  # fmt: skip
    store.close()
    return f"{site.app.url}/experiments/{experiment.id}", experiment.id


def _rows(page: Page) -> list[str]:
    return page.get_by_test_id("iteration-link").all_inner_texts()


def _act(page: Page, testid: str) -> None:
    """Click a toolbar button and wait for the page it reloads."""
    with page.expect_navigation():
        page.get_by_test_id(testid).click()
    wait_ready(page)


def test_selected_rows_are_deleted_and_restored_with_failures_named(
    browser: Browser, tmp_path: Path, site: Site
) -> None:
    from mlops.store.sql.store import SqlStore

    url, _ = _experiment(site, "del")
    with browser_page(browser) as (page, watch):
        open_page(page, url)
        assert page.get_by_test_id("bulk-delete").is_disabled()
        page.get_by_test_id("select-del-0").check()
        page.get_by_test_id("select-del-1").check()
        assert page.get_by_test_id("bulk-count").inner_text() == "2 of 4 selected"
        _act(page, "bulk-delete")
        assert (
            "Deleted 2 of 2 iterations (restore them from"
            in page.get_by_test_id("bulk-summary").inner_text()
        )
        assert sorted(_rows(page)) == sorted(NAMES[2:])
        page.screenshot(path=str(tmp_path / "bulk-deleted.png"), full_page=True)

        # one of the next two vanishes meanwhile (purged elsewhere): that row is named
        page.get_by_test_id("select-all").check()
        assert page.get_by_test_id("bulk-count").inner_text() == "2 of 2 selected"
        store = SqlStore(site.uri)
        store.delete_iteration("del-3")
        store.purge_iterations(["del-3"])
        store.close()
        _act(page, "bulk-delete")
        summary = page.get_by_test_id("bulk-summary").inner_text()
        assert summary.startswith("Deleted 1 of 2 iterations (restore them")
        assert summary.endswith("; 1 failed:")
        failures = page.get_by_test_id("bulk-failure")
        assert failures.count() == 1
        assert failures.get_attribute("data-iteration-id") == "del-3"
        assert failures.inner_text().startswith(NAMES[3] + ": ")
        assert "del-3" in failures.inner_text()  # the store's message names the iteration
        assert page.get_by_test_id("empty-state").is_visible()
        page.screenshot(path=str(tmp_path / "bulk-partial.png"), full_page=True)

        with page.expect_navigation():
            page.get_by_test_id("show-deleted").click()
        wait_ready(page)
        assert sorted(_rows(page)) == sorted(NAMES[:3])
        assert page.get_by_test_id("bulk-delete").count() == 0
        page.get_by_test_id("select-all").check()
        page.get_by_test_id("select-del-2").uncheck()
        assert page.get_by_test_id("select-all").evaluate("b => b.indeterminate") is True
        _act(page, "bulk-restore")
        assert "Restored 2 of 2 iterations." in page.get_by_test_id("bulk-summary").inner_text()
        assert _rows(page) == [NAMES[2]]
        with page.expect_navigation():
            page.get_by_test_id("show-live").click()
        wait_ready(page)
        assert sorted(_rows(page)) == sorted(NAMES[:2])
        assert watch.errors == [] and watch.dialogs == [] and watch.csp == []


def test_a_tag_is_added_to_and_removed_from_every_selected_row(
    browser: Browser, tmp_path: Path, site: Site
) -> None:
    from mlops.store.sql.store import SqlStore

    url, _ = _experiment(site, "tag")
    with browser_page(browser) as (page, watch):
        open_page(page, url)
        page.get_by_test_id("select-tag-0").check()
        page.get_by_test_id("bulk-tag-add").click()  # no key yet
        assert "tag's key" in page.get_by_test_id("bulk-summary").inner_text()
        page.get_by_test_id("select-all").check()
        page.get_by_test_id("bulk-tag-key").fill("team")
        page.get_by_test_id("bulk-tag-value").fill("vision")
        _act(page, "bulk-tag-add")
        assert (
            "Tagged 4 of 4 iterations (tag team)."
            in page.get_by_test_id("bulk-summary").inner_text()
        )
        store = SqlStore(site.uri)
        assert [store.get_iteration(f"tag-{n}").tags for n in range(4)] == [{"team": "vision"}] * 4
        page.get_by_test_id("select-tag-1").check()
        page.get_by_test_id("select-tag-2").check()
        page.get_by_test_id("bulk-tag-key").fill("team")
        _act(page, "bulk-tag-remove")
        assert "Removed the tag from 2 of 2" in page.get_by_test_id("bulk-summary").inner_text()
        tags = [store.get_iteration(f"tag-{n}").tags for n in range(4)]
        store.close()
        assert tags == [{"team": "vision"}, {}, {}, {"team": "vision"}]
        assert watch.errors == [] and watch.csp == []


def test_the_experiment_is_renamed_described_and_tagged_in_its_page(
    browser: Browser, tmp_path: Path, site: Site
) -> None:
    url, _ = _experiment(site, "head")
    with browser_page(browser) as (page, watch):
        open_page(page, url)
        page.get_by_test_id("experiment-manage").locator("summary").click()
        page.get_by_test_id("experiment-name-input").fill("taken")
        page.get_by_test_id("experiment-manage-save").click()
        message = page.get_by_test_id("experiment-manage-message")
        message.filter(has_text="Not saved").wait_for()
        assert "taken" in message.inner_text()

        page.get_by_test_id("experiment-name-input").fill("head-2")
        page.get_by_test_id("experiment-description-input").fill("Learning rates, 3 decades")
        page.get_by_test_id("experiment-tag-key-input").fill("owner")
        page.get_by_test_id("experiment-tag-value-input").fill("ada")
        with page.expect_navigation():
            page.get_by_test_id("experiment-manage-save").click()
        wait_ready(page)
        assert page.get_by_test_id("experiment-title").inner_text() == "head-2"
        description = page.get_by_test_id("experiment-description").inner_text()
        assert description == "Learning rates, 3 decades"
        assert page.get_by_test_id("experiment-tag").inner_text().startswith("owner ada")
        page.screenshot(path=str(tmp_path / "experiment-header.png"), full_page=True)

        with page.expect_navigation():
            page.get_by_role("button", name="Remove tag owner").click()
        wait_ready(page)
        assert page.get_by_test_id("experiment-tag").count() == 0
        page.get_by_test_id("experiment-manage").locator("summary").click()
        page.get_by_test_id("experiment-description-input").fill("")
        with page.expect_navigation():
            page.get_by_test_id("experiment-manage-save").click()
        wait_ready(page)
        assert page.get_by_test_id("experiment-description").count() == 0
        assert watch.errors == [] and watch.csp == []


def test_a_note_preview_follows_the_text_and_keeps_script_inert(
    browser: Browser, tmp_path: Path, site: Site
) -> None:
    url, _ = _experiment(site, "note")
    with browser_page(browser) as (page, watch):
        open_page(page, url)
        page.get_by_test_id("note-edit").locator("summary").click()
        note = page.get_by_test_id("note-input")
        note.fill("## Findings\n\n<script>alert(1)</script> <img src=x onerror=alert(2)>")
        page.get_by_test_id("note-preview-toggle").click()
        preview = page.get_by_test_id("note-preview")
        preview.locator("h2").wait_for()
        assert preview.locator("h2").inner_text() == "Findings"
        assert "<script>alert(1)</script>" in preview.inner_text()  # shown, not run
        assert preview.locator("script").count() == 0 and preview.locator("img").count() == 0
        # typing on updates the preview (debounced)
        note.press_sequentially("\n\n*lr* too high")
        preview.locator("em").wait_for()
        assert preview.locator("em").inner_text() == "lr"
        page.screenshot(path=str(tmp_path / "note-preview.png"), full_page=True)
        with page.expect_navigation():
            page.get_by_test_id("note-save").click()
        wait_ready(page)
        assert page.get_by_test_id("note-rendered").locator("h2").inner_text() == "Findings"
        assert watch.dialogs == [] and watch.errors == [] and watch.csp == []


def test_the_navigation_leads_to_tokens_activity_and_back_from_the_api_docs(
    browser: Browser, tmp_path: Path, site: Site
) -> None:
    app = site.app
    with browser_page(browser) as (page, watch):
        open_page(page, f"{app.url}/projects")
        with page.expect_navigation():
            page.get_by_test_id("nav-tokens").click()
        assert page.url == f"{app.url}/tokens"
        with page.expect_navigation():
            page.get_by_test_id("nav-activity").click()
        assert page.url.startswith(f"{app.url}/activity")
        with page.expect_navigation():
            page.get_by_test_id("nav-api").click()
        page.locator(".swagger-ui").first.wait_for()
        back = page.get_by_test_id("docs-back")
        assert back.is_visible()
        page.screenshot(path=str(tmp_path / "api-docs.png"))
        with page.expect_navigation():
            back.click()
        assert page.url == f"{app.url}/projects"
        assert watch.errors == [] and watch.csp == []


_TABLE_BOX = """() => {
    const wrap = document.querySelector('[data-testid="table-scroll"]');
    const heads = wrap.querySelectorAll('thead th');
    const last = heads[heads.length - 1].getBoundingClientRect();
    const box = wrap.getBoundingClientRect();
    const link = wrap.querySelector('[data-testid="iteration-link"]');
    const name = wrap.querySelector('tbody th').getBoundingClientRect();
    return {lastRight: last.right, right: box.right, left: box.left, nameLeft: name.left,
            scrollWidth: wrap.scrollWidth, clientWidth: wrap.clientWidth,
            lines: link.getClientRects().length,
            linkHeight: link.getBoundingClientRect().height,
            lineHeight: parseFloat(getComputedStyle(link).lineHeight) ||
                        1.5 * parseFloat(getComputedStyle(link).fontSize)};
}"""


def test_the_table_at_1400_px_shows_its_last_column_or_scrolls_to_it(
    browser: Browser, tmp_path: Path, site: Site
) -> None:
    url, _ = _experiment(site, "wide")
    with browser_page(browser, viewport={"width": 1400, "height": 900}) as (page, watch):
        open_page(page, url)  # the default 4 metrics and 4 parameters
        box = page.evaluate(_TABLE_BOX)
        page.screenshot(path=str(tmp_path / "table-1400.png"), full_page=True)
        assert box["linkHeight"] < 1.5 * box["lineHeight"], box  # one line, not one per hyphen
        if box["scrollWidth"] > box["clientWidth"]:
            assert page.get_by_test_id("scroll-hint").is_visible()
        else:
            assert box["lastRight"] <= box["right"] + 1, box
            assert page.get_by_test_id("scroll-hint").is_hidden()

        # more columns than fit: a hint says so, the table scrolls, the names stay in view
        wide = ",".join((*METRICS, "extra_a", "extra_b"))
        open_page(page, f"{url}?metrics={wide}&params=lr,model,epochs,optimizer,batch_size")
        box = page.evaluate(_TABLE_BOX)
        assert box["scrollWidth"] > box["clientWidth"], box
        assert box["lastRight"] > box["right"], box
        hint = page.get_by_test_id("scroll-hint")
        assert hint.is_visible() and "Scroll sideways" in hint.inner_text()
        page.screenshot(path=str(tmp_path / "table-wide.png"), full_page=True)
        page.get_by_test_id("table-scroll").evaluate("w => { w.scrollLeft = w.scrollWidth; }")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=scroll-hint]').textContent"
            ".includes('last column')"
        )
        box = page.evaluate(_TABLE_BOX)
        assert box["lastRight"] <= box["right"] + 1, box
        assert box["nameLeft"] >= box["left"], box  # the sticky name column did not scroll away
        page.screenshot(path=str(tmp_path / "table-wide-scrolled.png"), full_page=True)
        assert watch.errors == [] and watch.csp == []


def test_compare_axes_skip_shared_parameters_and_use_log_and_categories(
    browser: Browser, tmp_path: Path, site: Site
) -> None:
    _experiment(site, "lr-sweep")
    with browser_page(browser) as (page, watch):
        open_page(page, f"{site.app.url}/compare?ids=lr-sweep-0,lr-sweep-1,lr-sweep-2")
        raw = page.get_by_test_id("parallel-coordinates").get_attribute("data-axes")
        axes = {a["name"]: a for a in json.loads(raw or "[]")}
        metric = page.get_by_test_id("parallel-metric").input_value()
        assert set(axes) == {"lr", "model", metric}, axes
        assert axes["lr"]["kind"] == "log"  # 0.1 / 0.01 / 0.001
        assert axes["model"]["kind"] == "categorical"
        assert axes["model"]["categories"] == ["resnet", "vit"]
        assert axes[metric]["metric"] is True
        same = page.get_by_test_id("parallel-same")
        for name in ("epochs = 30", "optimizer = sgd-momentum", "batch_size = 128"):
            assert name in same.inner_text()
        svg = page.get_by_test_id("parallel-coordinates").locator("svg")
        assert svg.locator("g[data-axis]").count() == 3
        assert svg.locator("path.line").count() == 3
        assert "lr (log)" in (svg.text_content() or "")
        page.screenshot(path=str(tmp_path / "compare-axes.png"), full_page=True)
        crumbs = page.get_by_test_id("breadcrumbs")
        assert crumbs.inner_text().split("\n")[:3] == ["Projects", "vision", "lr-sweep"]
        with page.expect_navigation():
            crumbs.get_by_role("link", name="lr-sweep").click()
        wait_ready(page)
        assert page.get_by_test_id("experiment-title").inner_text() == "lr-sweep"
        assert watch.errors == [] and watch.csp == []

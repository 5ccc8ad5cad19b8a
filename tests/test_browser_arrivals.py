"""Iterations started after the experiment page was opened: the page, while an iteration of it
runs, notices new iterations that match its filter (not the others) and offers to show them;
nothing is asked of the App when nothing on the page runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from browser_support import (  # noqa: F401 (the fixture)
    BROWSER_MARKS,
    browser_fixture,
    browser_page,
    open_page,
    screenshot,
    wait_ready,
)
from live_support import patient_start_app  # noqa: F401 (the fixture start_app)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from mlops.store.sql.store import SqlStore

pytestmark = BROWSER_MARKS

#: The page's filter: the iterations of the big learning rates.
FILTER = "params.lr > 0.05"


def _start(store: SqlStore, experiment_id: str, name: str, lr: float, running: bool) -> None:
    now = time.time()
    store.create_iteration(name, name, experiment_id, None, now, {})
    store.log_batch(name, {"lr": lr}, [("acc", 0, lr, now)], heartbeat_at=now)
    if not running:
        store.end_iteration(name, "finished", now + 1)


def _arrival_checks(requests: list[Any]) -> int:
    """The page's questions "did iterations start since it was opened?" among its requests."""
    return sum(
        1
        for r in requests
        if r.url.endswith("/api/v1/iterations/search") and "started_at >" in (r.post_data or "")
    )


#: (the store, the experiment's id, the App's URL) of an experiment whose first iteration runs
#: or has finished, served by a real App.
Sweep = tuple["SqlStore", str, str]


@pytest.fixture
def sweep(tmp_path: Path, start_app: Any) -> Iterator[Callable[[bool], Sweep]]:
    from mlops.store.sql.store import SqlStore

    stores: list[SqlStore] = []

    def make(first_running: bool) -> Sweep:
        uri = f"sqlite:///{tmp_path / 'arrivals.db'}"
        store = SqlStore(uri)
        stores.append(store)
        project = store.create_project("vision", None, "active", False)
        experiment = store.create_experiment(project.id, "sweep", None)
        _start(store, experiment.id, "first", 0.1, running=first_running)
        app = start_app(uri)
        app.wait_ready()
        return store, experiment.id, app.url

    yield make
    for store in stores:
        store.close()


def test_new_matching_iterations_are_noticed_and_shown(
    browser: Browser, sweep: Callable[[bool], Sweep]
) -> None:
    store, experiment_id, app_url = sweep(True)
    with browser_page(browser) as (page, watch):
        open_page(page, f"{app_url}/experiments/{experiment_id}?filter=" + FILTER.replace(" ", "+"))
        page.wait_for_selector('[data-testid=live-status][data-live="on"]', state="attached")
        notice = page.get_by_test_id("new-iterations")
        assert notice.is_hidden()
        assert "1 iteration matches the filter" in page.locator("main").inner_text()
        _start(store, experiment_id, "small-lr", 0.001, running=False)  # not in the filter
        _start(store, experiment_id, "second", 0.2, running=False)
        _start(store, experiment_id, "third", 0.3, running=True)
        # the tab coming back into view asks at once (live ticks ask every 10 s)
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        notice.wait_for(state="visible")
        assert notice.inner_text().startswith("2 new iterations started since")
        screenshot(page, "workspace-new-iterations")
        with page.expect_navigation():
            page.get_by_test_id("show-new-iterations").click()
        wait_ready(page)
        names = page.get_by_test_id("iteration-link").all_inner_texts()
        assert sorted(n.strip() for n in names) == ["first", "second", "third"]
        assert page.get_by_test_id("new-iterations").is_hidden()
        assert watch.errors == [] and watch.dialogs == []


def test_a_page_with_nothing_running_asks_only_when_the_tab_comes_back(
    browser: Browser, sweep: Callable[[bool], Sweep]
) -> None:
    store, experiment_id, app_url = sweep(False)
    with browser_page(browser) as (page, _watch):
        requests: list[Any] = []
        page.on("request", lambda request: requests.append(request))
        open_page(page, f"{app_url}/experiments/{experiment_id}")
        _start(store, experiment_id, "later", 0.2, running=False)
        # coming back to the tab is the one time it asks: no live tick, no timer
        with page.expect_response(lambda r: r.url.endswith("/api/v1/iterations/search")):
            page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        page.get_by_test_id("new-iterations").wait_for(state="visible")
        assert "1 new iteration started" in page.get_by_test_id("new-iterations").inner_text()
        assert page.get_by_test_id("live-status").get_attribute("data-live") is None
        assert _arrival_checks(requests) == 1

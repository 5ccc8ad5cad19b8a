"""The Trash page in a real browser (Debian's Chromium, Playwright) against a real App:
an iteration deleted through the library is restored from the page, deleted again and
purged from the page (after confirming in its row).

Skipped when ``/usr/bin/chromium`` is missing, unless ``CI`` is set: then it fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from browser_support import browser_page, chromium_problem, launch, open_page, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PROBLEM = chromium_problem()
pytestmark = [
    pytest.mark.skipif(
        PROBLEM is not None and not os.environ.get("CI"),
        reason=f"browser tests skipped: {PROBLEM}",
    ),
    pytest.mark.timeout(120),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        found = launch(playwright)
        yield found
        found.close()


def test_restore_then_purge_from_the_trash_page(
    browser: Browser,
    active: dict[str, str],
    mlops_home: Path,
    tmp_path: Path,
    start_app: Callable[..., Any],
) -> None:
    from mlops import tracking
    from mlops.errors import NotFound

    (tmp_path / "own.bin").write_bytes(os.urandom(4096))
    with tracking.start_iteration("keeper") as keeper:
        keeper.log_metric("loss", 0.2)
    with tracking.start_iteration("victim") as victim:
        victim.log_metric("loss", 0.9)
        victim.log_artifact(tmp_path / "own.bin")
    tracking.delete_iteration(victim.id)
    app = start_app(f"sqlite:///{mlops_home / 'mlops.db'}")

    with browser_page(browser) as (page, watch):
        open_page(page, f"{app.url}/projects")
        page.get_by_test_id("nav-trash").click()
        page.wait_for_selector('body[data-page="trash"][data-ready="1"]')
        row = page.locator(f'[data-testid="trash-iteration"][data-id="{victim.id}"]')
        assert "victim" in row.inner_text() and "sweep" in row.inner_text()
        screenshot(page, "trash-one-deleted")
        row.get_by_test_id("restore-button").click()
        page.get_by_test_id("trash-no-iterations").wait_for()
        assert tracking.get_iteration(victim.id)["deleted_at"] is None

        tracking.delete_iteration(victim.id)
        open_page(page, f"{app.url}/trash")
        row.get_by_test_id("purge-button").click()
        confirm = row.get_by_test_id("confirm-purge-button")
        confirm.wait_for()
        row.get_by_test_id("cancel-purge-button").click()
        confirm.wait_for(state="hidden")
        row.get_by_test_id("purge-button").click()
        confirm.click()
        page.get_by_test_id("trash-no-iterations").wait_for()
        screenshot(page, "trash-empty")
        assert watch.errors == [] and watch.csp == [] and watch.dialogs == []

    with pytest.raises(NotFound):
        tracking.get_iteration(victim.id)
    assert [i["name"] for i in tracking.list_iterations(deleted=None)] == ["keeper"]
    blobs = [p for p in (mlops_home / "artifacts" / "blobs").rglob("*") if p.is_file()]
    assert blobs == []  # the App freed the purged iteration's file


def test_a_read_token_sees_the_trash_and_is_told_restore_needs_write(
    browser: Browser, active: dict[str, str], mlops_home: Path, start_app: Callable[..., Any]
) -> None:
    from mlops import tracking
    from mlops.store.sql.store import SqlStore

    with tracking.start_iteration("victim") as victim:
        victim.log_metric("loss", 0.9)
    tracking.delete_iteration(victim.id)
    uri = f"sqlite:///{mlops_home / 'mlops.db'}"
    store = SqlStore(uri)
    secret, _ = store.create_token("viewer", "read")
    store.close()
    app = start_app(uri, "--auth")

    with browser_page(browser) as (page, watch):
        open_page(page, f"{app.url}/login?next=/trash")
        page.get_by_test_id("token-input").fill(secret)
        page.get_by_test_id("login-button").click()
        page.wait_for_selector('body[data-page="trash"][data-ready="1"]')
        row = page.locator(f'[data-testid="trash-iteration"][data-id="{victim.id}"]')
        row.get_by_test_id("restore-button").click()
        message = page.get_by_test_id("trash-message")
        page.wait_for_selector('[data-testid="trash-message"].error')
        assert "Could not restore victim" in message.inner_text()
        assert "write" in message.inner_text()
        assert watch.errors == [] and watch.csp == []
    assert tracking.get_iteration(victim.id)["deleted_at"] is not None


def test_delete_a_project_from_its_page_and_restore_it_under_a_new_title(
    browser: Browser,
    active: dict[str, str],
    mlops_home: Path,
    start_app: Callable[..., Any],
) -> None:
    from mlops import tracking

    with tracking.start_iteration("run") as run:
        run.log_metric("loss", 0.2)
    project_id = active["project_id"]
    app = start_app(f"sqlite:///{mlops_home / 'mlops.db'}")

    with browser_page(browser) as (page, watch):
        open_page(page, f"{app.url}/projects/{project_id}")
        box = page.get_by_test_id("project-delete")
        box.get_by_test_id("delete-button").click()
        box.get_by_test_id("confirm-delete-button").click()
        page.wait_for_selector('body[data-page="trash"][data-ready="1"]')
        row = page.locator(f'[data-testid="trash-project"][data-id="{project_id}"]')
        assert "demo" in row.inner_text() and "local:" in row.inner_text()
        assert tracking.list_iterations() == []

        tracking.create_project("demo")  # the title is taken meanwhile
        row.get_by_test_id("restore-button").click()
        rename = row.get_by_test_id("trash-rename")
        rename.wait_for()
        assert "taken" in page.get_by_test_id("trash-message").inner_text()
        row.get_by_test_id("rename-input").fill("demo-2025")
        row.get_by_test_id("restore-renamed-button").click()
        page.get_by_test_id("trash-no-projects").wait_for()
        screenshot(page, "trash-project-restored")
        assert watch.errors == [] and watch.csp == [] and watch.dialogs == []

    assert tracking.get_project(project_id)["title"] == "demo-2025"
    assert [i["id"] for i in tracking.list_iterations(project_id=project_id)] == [run.id]

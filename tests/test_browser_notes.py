"""Notes in a real browser: edit an iteration's note in the page, see it rendered, with raw
HTML shown as text and no script run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from browser_support import BROWSER_MARKS, browser_fixture, browser_page, open_page  # noqa: F401 (the fixture)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = BROWSER_MARKS


def test_an_iteration_note_is_edited_rendered_and_escaped(
    browser: Browser, tmp_path: Path, start_app: Any
) -> None:
    from mlops.store.sql.store import SqlStore

    uri = f"sqlite:///{tmp_path / 'notes.db'}"
    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    experiment = store.create_experiment(project.id, "sweep", None)
    store.create_iteration("it1", "run", experiment.id, None, time.time(), {})
    store.close()
    app = start_app(uri)
    app.wait_ready()
    with browser_page(browser) as (page, watch):
        open_page(page, f"{app.url}/iterations/it1")
        assert page.get_by_test_id("note-rendered").inner_text() == "No notes yet."
        page.get_by_test_id("note-edit").locator("summary").click()
        page.get_by_test_id("note-input").fill(
            "## Findings\n\n*lr* too high <script>alert(1)</script>\n\n"
            "[evil](javascript:alert(1)) [docs](https://example.org)"
        )
        with page.expect_navigation():
            page.get_by_test_id("note-save").click()
        page.wait_for_selector('body[data-ready="1"]', state="attached")
        rendered = page.get_by_test_id("note-rendered")
        assert rendered.locator("h2").inner_text() == "Findings"
        assert rendered.locator("em").inner_text() == "lr"
        assert "<script>alert(1)</script>" in rendered.inner_text()  # shown, not run
        assert rendered.locator("script").count() == 0
        links = rendered.locator("a")
        assert links.count() == 1
        assert links.get_attribute("href") == "https://example.org"
        assert links.get_attribute("rel") == "noopener nofollow"
        assert watch.dialogs == [] and watch.errors == []


def test_a_project_is_renamed_in_its_page(browser: Browser, tmp_path: Path, start_app: Any) -> None:
    from mlops.store.sql.store import SqlStore

    uri = f"sqlite:///{tmp_path / 'rename.db'}"
    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    store.create_project("audio", None, "active", False)
    store.close()
    app = start_app(uri)
    app.wait_ready()
    with browser_page(browser) as (page, watch):
        open_page(page, f"{app.url}/projects/{project.id}")
        page.get_by_test_id("project-edit").locator("summary").click()
        page.get_by_test_id("project-title-input").fill("audio")
        page.get_by_test_id("project-save").click()
        message = page.get_by_test_id("project-form-message")
        message.filter(has_text="Not saved").wait_for()
        assert "already a project titled 'audio'" in message.inner_text()
        page.get_by_test_id("project-title-input").fill("vision-2")
        with page.expect_navigation():
            page.get_by_test_id("project-save").click()
        page.wait_for_selector('body[data-ready="1"]', state="attached")
        assert page.get_by_test_id("project-title").inner_text() == "vision-2"
        assert watch.errors == []


def test_an_iteration_is_renamed_moved_and_tagged_in_its_page(
    browser: Browser, tmp_path: Path, start_app: Any
) -> None:
    from mlops.store.sql.store import SqlStore

    uri = f"sqlite:///{tmp_path / 'manage.db'}"
    store = SqlStore(uri)
    project = store.create_project("vision", None, "active", False)
    source = store.create_experiment(project.id, "a", None)
    target = store.create_experiment(project.id, "b", None)
    foreign = store.create_experiment(
        store.create_project("audio", None, "active", False).id, "c", None
    )
    store.create_iteration("it1", "run", source.id, None, time.time(), {})
    store.set_iteration_tags("it1", {"wip": "yes"})
    store.close()
    app = start_app(uri)
    app.wait_ready()
    with browser_page(browser) as (page, watch):
        open_page(page, f"{app.url}/iterations/it1")
        page.get_by_test_id("iteration-manage").locator("summary").click()
        page.get_by_test_id("iteration-move-input").fill(foreign.id)
        page.get_by_test_id("iteration-manage-save").click()
        message = page.get_by_test_id("iteration-manage-message")
        message.filter(has_text="Not saved").wait_for()
        assert "only between experiments of its project" in message.inner_text()

        page.get_by_test_id("iteration-name-input").fill("best")
        page.get_by_test_id("iteration-move-input").fill(target.id)
        page.get_by_test_id("tag-key-input").fill("reviewed")
        page.get_by_test_id("tag-value-input").fill("ada")
        with page.expect_navigation():
            page.get_by_test_id("iteration-manage-save").click()
        page.wait_for_selector('body[data-ready="1"]', state="attached")
        assert page.get_by_test_id("iteration-name").inner_text() == "best"
        assert "reviewed ada" in page.get_by_test_id("tags").inner_text()

        with page.expect_navigation():
            page.get_by_role("button", name="Remove tag wip").click()
        page.wait_for_selector('body[data-ready="1"]', state="attached")
        assert "wip" not in page.get_by_test_id("tags").inner_text()
        assert watch.errors == []
    store = SqlStore(uri)
    try:
        found = store.get_iteration("it1")
        assert (found.name, found.experiment_id, found.tags) == (
            "best",
            target.id,
            {"reviewed": "ada"},
        )
    finally:
        store.close()

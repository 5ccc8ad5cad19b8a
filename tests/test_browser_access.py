"""The Activity page in a real Chromium: an admin sees who changed what."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from browser_support import BROWSER_MARKS, browser_fixture  # noqa: F401 (the fixture)
from conftest import AppProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = BROWSER_MARKS


def test_the_activity_page_shows_who_changed_what(browser: Browser, tmp_path: Path) -> None:
    from mlops.store.sql.store import SqlStore

    uri = f"sqlite:///{tmp_path / 'app.db'}"
    store = SqlStore(uri)
    store.create_project("vision", None, "active", False)
    admin, _ = store.create_token("root", "admin")
    reader, _ = store.create_token("reader", "read")
    store.close()
    app = AppProcess(uri, "--auth")
    try:
        context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {admin}"})
        page = context.new_page()
        page.goto(f"{app.url}/activity")
        rows = page.get_by_test_id("activity-row")
        rows.first.wait_for()
        texts = rows.all_inner_texts()
        assert any("create" in t and "project" in t for t in texts)
        assert any("token" in t and "reader" in t for t in texts)
        page.get_by_test_id("activity-who").fill("nobody")
        page.get_by_role("button", name="Show").click()
        page.get_by_test_id("empty-state").wait_for()
        context.close()
        other = browser.new_context(extra_http_headers={"Authorization": f"Bearer {reader}"})
        denied = other.new_page()
        answer = denied.goto(f"{app.url}/activity")
        assert answer is not None and answer.status == 403
        assert "admin" in denied.inner_text("main")
        other.close()
    finally:
        app.stop()


def test_the_tokens_page_creates_a_token_showing_its_secret_once_and_revokes(
    browser: Browser, tmp_path: Path
) -> None:
    from mlops.store.sql.store import SqlStore

    uri = f"sqlite:///{tmp_path / 'app.db'}"
    store = SqlStore(uri)
    store.create_project("vision", None, "active", False)
    admin, _ = store.create_token("root", "admin")
    store.close()
    app = AppProcess(uri, "--auth")
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{app.url}/login?next=/tokens")
        page.fill("input[name=token]", admin)
        page.click("button[type=submit]")
        page.wait_for_url("**/tokens")
        page.wait_for_selector("body[data-ready='1']")
        page.get_by_test_id("token-name").fill("ci-bot")
        page.get_by_test_id("token-scope").select_option("read")
        page.get_by_test_id("token-projects").fill("vision")
        page.get_by_test_id("token-expires").fill("90d")
        page.get_by_test_id("token-create").click()
        secret_box = page.get_by_test_id("token-secret")
        secret_box.wait_for()
        page.wait_for_function(
            "document.querySelector('[data-testid=token-secret]').textContent.length > 10"
        )
        secret = secret_box.inner_text()
        assert secret.startswith("mlops_")
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert secret not in page.content()  # shown once
        row = page.locator("[data-testid=token-row][data-token-name='ci-bot']")
        assert "read" in row.inner_text() and "never" not in row.locator("td").nth(3).inner_text()
        row.get_by_test_id("token-revoke").click()
        row.get_by_test_id("token-revoke").wait_for(state="detached")
        assert row.get_by_test_id("token-revoked").inner_text() != ""
        context.close()
        store = SqlStore(uri)
        try:
            (bot,) = [t for t in store.list_tokens() if t.name == "ci-bot"]
            assert bot.revoked_at is not None and len(bot.projects) == 1
            events = [(e.actor, e.action) for e in store.list_audit_events() if e.kind == "token"]
            assert ("root", "revoke") in events and ("root", "create") in events
        finally:
            store.close()
    finally:
        app.stop()

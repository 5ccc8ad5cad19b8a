"""Helpers of the browser tests: Chromium, the demo data, stored-XSS data, page checks.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright (never a downloaded one);
the App is a real ``mlops app`` process on the demo data of ``examples/train_sklearn.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "train_sklearn.py"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
#: How long a page may take to draw (``<body data-ready="1">``) before a test gives up.
READY_TIMEOUT_MS = 10_000

#: The stored-XSS payload. It goes into every name and value the store keeps; a page that
#: inserted it as HTML would create an ``<img>`` whose error handler opens a dialog.
XSS = "<img src=x onerror=alert(1)>"
#: The same payload breaking out of a quoted attribute first.
XSS_ATTR = "\"'><img src=x onerror=alert(2)>"


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    if not CHROMIUM.exists():
        return (
            f"{CHROMIUM} is missing: install Debian's chromium "
            "(apt-get install chromium; .ci/run does it in CI)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[dev]'"
    return None


def launch(playwright: Any) -> Browser:
    """Headless Chromium from Debian's package (Playwright's own browsers are never used)."""
    browser: Browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    return browser


# -- data ------------------------------------------------------------------------------------
def run_demo(home: Path, data_dir: Path) -> None:
    """``examples/train_sklearn.py --quick`` into ``home`` (3 iterations of ``digits-demo``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_TRACKING_URI", "RANK")}
    env["MLOPS_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--quick", "--data-dir", str(data_dir)],
        cwd=data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


@dataclass
class XssData:
    """Ids of the records whose every name and value carries the payload."""

    project_id: str
    experiment_id: str
    dataset_name: str
    iteration_ids: list[str]
    #: Texts that pages must show literally (as text, never as markup).
    texts: dict[str, str] = field(default_factory=dict)


def add_xss_data(store_uri: str) -> XssData:
    """A project, experiment, dataset and three iterations named and valued with payloads.

    Written through ``SqlStore`` (the App's own store), which keeps any text as it is given.
    """
    from mlops.entities import ModelFile
    from mlops.store.sql.store import SqlStore

    def tagged(where: str) -> str:
        return f"{XSS} {where}"

    store = SqlStore(store_uri)
    try:
        project = store.create_project(
            tagged("project"), tagged("project description") + XSS_ATTR, tagged("status"), False
        )
        experiment = store.create_experiment(
            project.id, tagged("experiment"), tagged("experiment description")
        )
        dataset = store.create_dataset(
            tagged("dataset"),
            "s3://bucket/" + tagged("path"),
            tagged("dataset description"),
            [tagged("dataset tag"), XSS_ATTR],
            tagged("version"),
            None,
            1234,
            1,
        )
        ids: list[str] = []
        now = time.time()
        for n in range(3):
            iteration_id = f"xss{n}{'0' * 29}"
            store.create_iteration(
                iteration_id,
                tagged(f"iteration {n}"),
                experiment.id,
                None,
                now - 60 + n,
                {"host": tagged("system host"), XSS_ATTR: XSS},
            )
            points = [
                (name, step, 0.5 + 0.1 * n + 0.01 * step * (1 if k else -1), now)
                for k, name in enumerate((tagged("metric"), XSS_ATTR))
                for step in range(20)
            ]
            store.end_iteration(
                iteration_id,
                "failed" if n == 2 else "finished",
                now - 30 + n,
                error={"type": tagged("error type"), "message": tagged("error message")}
                if n == 2
                else None,
                model=ModelFile("/models/" + tagged("model path"), 10, "0" * 64),
                parameters={
                    tagged("param name"): tagged("param value"),
                    XSS_ATTR: XSS_ATTR,
                    "lr": n * 0.1,
                    "nested": {XSS: [XSS]},
                },
                metrics=points,
                dataset_ids=[dataset.id],
                tags={tagged("tag key"): tagged("tag value"), XSS_ATTR: XSS},
            )
            ids.append(iteration_id)
    finally:
        store.close()
    texts = {
        "project": tagged("project"),
        "experiment": tagged("experiment"),
        "dataset": tagged("dataset"),
        "iteration": tagged("iteration 0"),
        "metric": tagged("metric"),
        "param name": tagged("param name"),
        "param value": tagged("param value"),
        "tag": tagged("tag value"),
        "model path": tagged("model path"),
        "dataset path": tagged("path"),
        "dataset description": tagged("dataset description"),
        "error": tagged("error message"),
    }
    return XssData(project.id, experiment.id, dataset.name, ids, texts)


# -- pages -----------------------------------------------------------------------------------
@dataclass
class Watch:
    """What a page did that it must not: dialogs, uncaught errors, CSP violations."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)

    def on_dialog(self, dialog: Dialog) -> None:
        where = dialog.page.url if dialog.page is not None else "?"
        self.dialogs.append(f"{dialog.type}: {dialog.message} on {where}")
        dialog.dismiss()

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def on_error(self, error: Exception) -> None:
        self.errors.append(str(error))

    def attach(self, page: Page) -> None:
        page.on("dialog", self.on_dialog)
        page.on("console", self.on_console)
        page.on("pageerror", self.on_error)


#: The watch of each open page, so that a page that never gets ready can say why.
_WATCHES: weakref.WeakKeyDictionary[Any, Watch] = weakref.WeakKeyDictionary()


@contextmanager
def browser_page(browser: Browser, **options: Any) -> Iterator[tuple[Page, Watch]]:
    """A fresh context and page (1280 px unless ``viewport`` is given), watched."""
    options.setdefault("viewport", DESKTOP)
    context: BrowserContext = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(READY_TIMEOUT_MS)
    watch = Watch()
    watch.attach(page)
    _WATCHES[page] = watch
    try:
        yield page, watch
    finally:
        context.close()


def open_page(page: Page, url: str) -> None:
    """Go to ``url`` and wait until its script has drawn (``<body data-ready="1">``)."""
    response = page.goto(url)
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    wait_ready(page)


def wait_ready(page: Page) -> None:
    """Wait for ``<body data-ready="1">`` (set once the page's JS has drawn); on a timeout,
    fail naming the page and the script errors it raised."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=READY_TIMEOUT_MS)
    except PlaywrightTimeout:
        watch = _WATCHES.get(page)
        errors = watch.errors if watch is not None else "(not watched)"
        raise AssertionError(
            f"{page.url} never set <body data-ready=1> within {READY_TIMEOUT_MS} ms; "
            f"script errors on the page: {errors}"
        ) from None


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot under ``test-output/screenshots/``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the viewport (0: none)."""
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return max(0, width - int(page.viewport_size["width"]))  # type: ignore[index]


def canvas_ink(page: Page, selector: str) -> dict[str, int]:
    """Size of the first canvas under ``selector`` and how many of its pixels are painted."""
    result: dict[str, int] = page.eval_on_selector(
        selector,
        """(root) => {
            const canvas = root.tagName === 'CANVAS' ? root : root.querySelector('canvas');
            if (!canvas) return {width: 0, height: 0, painted: 0};
            const box = canvas.getBoundingClientRect();
            let painted = 0;
            try {
                const ctx = canvas.getContext('2d');
                const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
                for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
            } catch (e) { painted = -1; }
            return {width: Math.round(box.width), height: Math.round(box.height), painted};
        }""",
    )
    return result


def injected_markup(page: Page) -> list[str]:
    """Elements a payload would have created if a page inserted it as HTML."""
    found: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll('img[src="x"], [onerror]'))
                 .map((el) => el.outerHTML.slice(0, 120))"""
    )
    return found


def is_dark(page: Page) -> bool:
    """True when the page background is dark (relative luminance under 0.4)."""
    luminance: float = page.evaluate(
        """() => {
            const pick = (el) => getComputedStyle(el).backgroundColor;
            let color = pick(document.body);
            if (/rgba\\(.*,\\s*0\\)$/.test(color) || color === 'transparent') {
                color = pick(document.documentElement);
            }
            const [r, g, b] = (color.match(/[\\d.]+/g) || ['255', '255', '255'])
                .slice(0, 3).map(Number);
            const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92
                                 : Math.pow((c + 0.055) / 1.055, 2.4); };
            return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
        }"""
    )
    return luminance < 0.4


#: What keeps Chromium from running here (None: it runs).
PROBLEM = chromium_problem()
#: ``pytestmark`` of a browser test module: skipped off CI when Chromium cannot run (CI fails
#: instead, in the fixture), with a timeout for a real browser on a loaded machine.
BROWSER_MARKS = [
    pytest.mark.skipif(
        PROBLEM is not None and not os.environ.get("CI"),
        reason=f"browser tests skipped: {PROBLEM}",
    ),
    pytest.mark.timeout(180),
]


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Browser]:
    """One Chromium for a module's tests, as the fixture ``browser`` (import
    ``browser_fixture`` into the test module)."""
    if PROBLEM is not None:
        pytest.fail(f"CI must run the browser tests: {PROBLEM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()

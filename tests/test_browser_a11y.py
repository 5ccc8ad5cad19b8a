"""Accessibility: axe-core (vendored as tests/vendor/axe.min.js, MPL-2.0, licence header kept)
runs in Chromium on every page of the App, in the light and the dark scheme; no serious or
critical violation is allowed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from browser_support import BROWSER_MARKS, browser_fixture, browser_page  # noqa: F401 (the fixture)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

from live_support import patient_start_app  # noqa: F401 (the fixture start_app)

pytestmark = BROWSER_MARKS
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
#: Pages that draw with a script set <body data-ready="1">; others are static.
SERIOUS = ("serious", "critical")


def _data(uri: str) -> dict[str, str]:
    from mlops.entities import Artifact
    from mlops.store.sql.store import SqlStore

    store = SqlStore(uri)
    project = store.create_project("vision", "cats and dogs", "active", False)
    experiment = store.create_experiment(project.id, "sweep", "lr sweep")
    dataset = store.create_dataset("cifar", "/data/cifar", "images", ["train"], "v1", None, 1, 1)
    ids = []
    for k in range(3):
        now = time.time()
        iteration_id = f"run{k}"
        store.create_iteration(iteration_id, f"run-{k}", experiment.id, None, now, {})
        points = [("loss", s, 1.0 / (s + 1 + k), now + s) for s in range(20)]
        points += [("acc", s, 0.5 + 0.02 * s, now + s) for s in range(20)]
        store.log_batch(iteration_id, {"lr": 10.0 ** -(k + 1), "model": "rf"}, points, [dataset.id])
        if k < 2:
            store.end_iteration(iteration_id, "finished", now + 30)
        ids.append(iteration_id)
    file = Artifact("run0", "model.pkl", 3, "ab" * 32, "application/octet-stream", time.time())
    store.log_artifacts("run0", [file])
    store.register_model("classifier", "run0", "model.pkl", "the best", "ada")
    store.create_view(experiment.id, "good runs", {"filter": "metrics.acc > 0.6"})
    deleted = store.create_experiment(project.id, "old", None)
    store.delete_experiment(deleted.id)
    admin, _ = store.create_token("root", "admin")
    store.close()
    return {
        "token": admin, "project": project.id, "experiment": experiment.id,
        "iteration": ids[0], "compare": ",".join(ids), "dataset": "cifar",
    }  # fmt: skip


def _violations(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}))"
    )
    return [v for v in result if v["impact"] in SERIOUS]


def _settle(page: Page) -> None:
    ready = page.locator("body[data-async]")
    if ready.count():
        page.wait_for_selector('body[data-ready="1"]', state="attached")
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_has_no_serious_accessibility_violation(
    browser: Browser, tmp_path: Path, start_app: Any, scheme: str
) -> None:
    assert AXE.read_text(encoding="utf-8").startswith("/*! axe v"), "the licence header is kept"
    uri = f"sqlite:///{tmp_path / 'a11y.db'}"
    ids = _data(uri)
    app = start_app(uri, "--auth")
    app.wait_ready()
    pages = {
        "projects": "/projects",
        "project": f"/projects/{ids['project']}",
        "experiment": f"/experiments/{ids['experiment']}?metrics=loss,acc&params=lr,model",
        "experiment workspace": f"/experiments/{ids['experiment']}?charts=loss,acc&pc=lr,model"
        "&pc_metric=acc&sx=params.lr&sy=acc",
        "experiment groups": f"/experiments/{ids['experiment']}?group_by=params.lr",
        "iteration": f"/iterations/{ids['iteration']}",
        "compare": f"/compare?ids={ids['compare']}",
        "datasets": "/datasets",
        "dataset": f"/datasets/{ids['dataset']}",
        "models": "/models",
        "model": "/models/classifier",
        "trash": "/trash",
        "tokens": "/tokens",
        "activity": "/activity",
        "API docs": "/api/v1/docs",
        "error page": "/experiments/no-such-experiment",
    }
    found: dict[str, list[dict[str, Any]]] = {}
    with browser_page(browser, color_scheme=scheme) as (page, _watch):
        page.goto(f"{app.url}/login?next=/projects")
        _settle(page)
        found["login"] = _violations(page)
        page.fill("input[name=token]", ids["token"])
        page.click("button[type=submit]")
        # the path itself: the login page's own address ends in "?next=/projects" too
        page.wait_for_url(lambda url: urlsplit(url).path == "/projects")
        _settle(page)  # the sign-in's own navigation has finished
        for name, path in pages.items():
            try:
                page.goto(app.url + path)
            except Exception:  # a navigation of the page before (its own script) cut in: again
                page.goto(app.url + path)
            _settle(page)
            found[name] = _violations(page)
    bad = {name: v for name, v in found.items() if v}
    assert not bad, "\n".join(
        f"{name}: {v['impact']} {v['id']} ({v['help']}): {v['nodes']}"
        for name, vs in bad.items()
        for v in vs
    )

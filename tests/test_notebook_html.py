"""In Jupyter, projects, experiments, iterations and the list functions' results show as compact
HTML tables, every value escaped, linked to the App's pages when the tracking URI is an App; and
the dicts and lists stay plain dicts and lists."""

from __future__ import annotations

import copy
import json
import pickle
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from IPython.core.formatters import format_display_data

from frames_support import bulk_iterations, sql_uri_behind
from mlops import tracking
from mlops.tracking import _html

XSS = '<script>alert("x")</script>'


def _html_of(value: Any) -> str:
    """What Jupyter shows for ``value`` as HTML (IPython's own display formatter)."""
    data, _ = format_display_data(value)
    assert "text/html" in data, f"{type(value).__name__} has no HTML form"
    return str(data["text/html"])


def _links(page: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', page)


def _everything_escaped(tracking_uri: str) -> dict[str, Any]:
    project = tracking.create_project(XSS, description=f"about {XSS}")
    tracking.set_active_project(project["id"])
    experiment = tracking.create_experiment(f"exp {XSS}", description=XSS)
    tracking.set_active_experiment(experiment["id"])
    it = tracking.start_iteration(f"run {XSS}", system_metrics=False)
    it.log_parameters({XSS: XSS, "lr": 0.01, "nested": {"a": [1, XSS]}})
    it.log_metric(f"loss{XSS}", 0.5)
    it.set_tags({"note": XSS})
    return {"project": project, "experiment": experiment, "iteration": it}


def test_every_value_is_escaped(tracking_uri: str) -> None:
    made = _everything_escaped(tracking_uri)
    it = made["iteration"]
    try:
        shown = {
            "project": _html_of(made["project"]),
            "projects": _html_of(tracking.list_projects()),
            "got project": _html_of(tracking.get_project(made["project"]["id"])),
            "experiment": _html_of(made["experiment"]),
            "experiments": _html_of(tracking.list_experiments()),
            "running iteration": _html_of(it),
        }
    finally:
        it.end_iteration()
    shown["iteration"] = _html_of(tracking.get_iteration(it.id))
    shown["iterations"] = _html_of(tracking.list_iterations())
    for what, page in shown.items():
        assert "<script" not in page, what
        assert "&lt;script&gt;" in page, what
    assert "0.5" in shown["iteration"] and "0.01" in shown["iteration"]
    assert "0.5" in shown["running iteration"]  # logged, not yet written: shown all the same


def test_links_go_to_the_apps_pages(tracking_uri: str, active: dict[str, str]) -> None:
    with tracking.start_iteration("linked", system_metrics=False) as it:
        it.log_metric("loss", 0.1)
    shown = [
        _html_of(tracking.get_project(active["project_id"])),
        _html_of(tracking.get_experiment(active["experiment_id"])),
        _html_of(tracking.get_iteration(it.id)),
        _html_of(tracking.list_iterations()),
    ]
    if not tracking_uri.startswith("http"):
        assert all(_links(page) == [] for page in shown)  # no App, no link
        return
    links = [link for page in shown for link in _links(page)]
    assert f"{tracking_uri}/projects/{active['project_id']}" in links
    assert f"{tracking_uri}/experiments/{active['experiment_id']}" in links
    assert f"{tracking_uri}/iterations/{it.id}" in links
    with httpx.Client() as client:
        for link in set(links):
            answer = client.get(link)
            assert answer.status_code == 200, link  # the page exists
            assert "text/html" in answer.headers["content-type"]


def test_a_link_never_carries_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TRACKING_URI", "https://me:s3cret@mlops.example.com:8443/team/")
    assert _html.app_url() == "https://mlops.example.com:8443/team"
    page = _html.iteration_html({"id": "a/b?c", "name": "x", "experiment_id": "e"})
    assert "https://mlops.example.com:8443/team/iterations/a%2Fb%3Fc" in _links(page)
    assert "s3cret" not in page


@pytest.mark.parametrize("store_uri", ["sqlite", "http"], indirect=True)  # not per database
def test_a_long_list_shows_its_first_rows_and_says_how_many_more(
    tracking_uri: str, active: dict[str, str], tmp_path: Path
) -> None:
    bulk_iterations(sql_uri_behind(tracking_uri, tmp_path), active["experiment_id"], 1000)
    iterations = tracking.list_iterations(limit=1000)
    assert len(iterations) == 1000
    page = _html_of(iterations)
    assert page.count("<tr>") == _html.MAX_ROWS + 1  # the header and 50 rows
    assert "950 more iterations" in page and "1,000 in all" in page
    assert len(page) < 40_000
    assert "bulk-00999" in page and "bulk-00949" not in page  # newest first


def test_the_dicts_and_lists_behave_as_plain_ones(
    tracking_uri: str, active: dict[str, str]
) -> None:
    with tracking.start_iteration("plain", system_metrics=False) as it:
        it.log_parameters({"lr": 0.1})
        it.log_metric("loss", 0.2)
    values = {
        "project": tracking.get_project(active["project_id"]),
        "experiment": tracking.get_experiment(active["experiment_id"]),
        "iteration": tracking.get_iteration(it.id),
        "projects": tracking.list_projects(),
        "experiments": tracking.list_experiments(),
        "iterations": tracking.list_iterations(),
        "created": tracking.create_experiment("another"),
    }
    for what, value in values.items():
        plain: Any = dict(value) if isinstance(value, dict) else [dict(v) for v in value]
        assert isinstance(value, dict | list), what
        assert value == plain and plain == value, what
        assert json.dumps(value, sort_keys=True) == json.dumps(plain, sort_keys=True), what
        assert json.loads(json.dumps(value)) == plain, what
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            again = pickle.loads(pickle.dumps(value, protocol))
            assert again == plain and type(again) is type(value), (what, protocol)
        assert copy.copy(value) == plain and copy.deepcopy(value) == plain, what
        assert type(copy.deepcopy(value)) is type(value), what
        assert not hasattr(value, "__dict__"), what  # no state beyond the data
        assert repr(value) == repr(plain), what
    row = values["iterations"][0]
    assert isinstance(row, dict) and hasattr(row, "_repr_html_")  # each row shows alone too
    assert values["iteration"]["metrics"] == {"loss": 0.2}


def test_the_iteration_object_shows_what_it_logged(
    tracking_uri: str, active: dict[str, str]
) -> None:
    it = tracking.start_iteration("live", system_metrics=False)
    try:
        it.log_parameters({f"p{k}": k for k in range(80)})
        it.log_metrics({"system/cpu_percent": 3.0, "system/memory_rss_mb": 80.0})
        page = _html_of(it)
    finally:
        it.end_iteration(status="failed", error=RuntimeError("<oops>"))
    assert "live" in page and "running" in page
    assert "30 more values" in page  # 80 parameters: the first 50
    assert "cpu_percent" not in page and "2 system metrics not shown" in page
    ended = _html_of(it)
    assert "failed" in ended and "RuntimeError: &lt;oops&gt;" in ended

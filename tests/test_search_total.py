"""A search's ``total`` stops counting at 10,000 matches and says whether it is exact."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import AppProcess
from mlops.store.http import HttpStore
from mlops.store.sql.bulk import NewIteration, write_iterations
from mlops.store.sql.store import SqlStore
from mlops.wire import MAX_TOTAL

N = MAX_TOTAL + 50


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppProcess, str]]:
    """A real App on an SQLite store of one experiment with 10,050 iterations (bulk-written),
    the one with an even number having ``params.even = 1``."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('total') / 'store.db'}"
    store = SqlStore(uri)
    project = store.create_project("totals", None, "active", False)
    experiment = store.create_experiment(project.id, "totals", None)
    write_iterations(
        store,
        [
            NewIteration(
                id=uuid.uuid4().hex,
                name=f"it-{i}",
                experiment_id=experiment.id,
                started_at=1_800_000_000.0 + i,
                system={},
                parameters={"even": 1 if i % 2 == 0 else 0, "small": i < 30},
            )
            for i in range(N)
        ],
    )
    store.close()
    process = AppProcess(uri)
    try:
        yield process, experiment.id
    finally:
        process.stop()


def _get(app: tuple[AppProcess, str], **params: str) -> dict[str, Any]:
    process, experiment_id = app
    answer = httpx.get(
        f"{process.url}/api/v1/iterations",
        params={"experiment_id": experiment_id, "limit": 1, **params},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def test_total_is_capped_with_a_flag_saying_so(app: tuple[AppProcess, str]) -> None:
    page = _get(app)
    assert page["total"] == MAX_TOTAL and page["total_exact"] is False
    assert len(page["iterations"]) == 1 and page["next_cursor"]


def test_exact_total_counts_every_match(app: tuple[AppProcess, str]) -> None:
    page = _get(app, exact_total="true")
    assert page["total"] == N and page["total_exact"] is True
    process, experiment_id = app
    posted = httpx.post(
        f"{process.url}/api/v1/iterations/search",
        json={"experiment_id": experiment_id, "limit": 1, "exact_total": True},
        timeout=30,
    ).json()
    assert posted["total"] == N and posted["total_exact"] is True


def test_a_total_under_the_cap_is_exact(app: tuple[AppProcess, str]) -> None:
    page = _get(app, filter="params.small = true")
    assert page["total"] == 30 and page["total_exact"] is True
    page = _get(app, filter="params.even = 1")
    assert page["total"] == N // 2 and page["total_exact"] is True


def test_a_bad_exact_total_is_a_clear_error(app: tuple[AppProcess, str]) -> None:
    process, experiment_id = app
    answer = httpx.post(
        f"{process.url}/api/v1/iterations/search",
        json={"experiment_id": experiment_id, "exact_total": "sometimes"},
        timeout=30,
    )
    assert answer.status_code in (400, 422) and "exact_total" in answer.text


def test_the_http_store_still_counts_exactly(app: tuple[AppProcess, str], tmp_path: Path) -> None:
    process, experiment_id = app
    store = HttpStore(process.url, home=tmp_path / "home")
    try:
        assert store.count_iterations(experiment_id) == N
        assert store.count_iterations(experiment_id, limit=5) == 5
        assert store.count_iterations(experiment_id, limit=MAX_TOTAL + 10) == MAX_TOTAL + 10
        assert store.count_iterations(experiment_id, filter="params.small = true") == 30
    finally:
        store.close()


def test_openapi_documents_the_flag(app: tuple[AppProcess, str]) -> None:
    process, _ = app
    spec = httpx.get(f"{process.url}/api/v1/openapi.json", timeout=30).json()
    page = spec["components"]["schemas"]["IterationPage"]
    assert "total_exact" in page["required"] and "10,000" in page["description"]
    search = spec["components"]["schemas"]["IterationSearch"]
    assert "exact_total" in search["properties"]


def test_count_total_false_skips_the_count(app: tuple[AppProcess, str]) -> None:
    """A client that pages with the cursor need not pay for the count: the same page, no total."""
    process, experiment_id = app
    counted = _get(app, filter="params.even = 1", limit="3")
    page = _get(app, filter="params.even = 1", limit="3", count_total="false")
    assert page["total"] is None and page["total_exact"] is None
    assert page["iterations"] == counted["iterations"] and page["next_cursor"]
    posted = httpx.post(
        f"{process.url}/api/v1/iterations/search",
        json={"experiment_id": experiment_id, "limit": 3, "count_total": False,
              "filter": "params.even = 1"},
        timeout=30,
    ).json()  # fmt: skip
    assert posted["total"] is None and posted["iterations"] == counted["iterations"]
    bad = httpx.post(
        f"{process.url}/api/v1/iterations/search",
        json={"experiment_id": experiment_id, "count_total": "maybe"},
        timeout=30,
    )
    assert bad.status_code == 422 and "count_total" in bad.text


def test_the_http_store_lists_without_counting(
    app: tuple[AppProcess, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process, experiment_id = app
    store = HttpStore(process.url, home=tmp_path / "home")
    sent: list[Any] = []
    real = store._call

    def spy(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        sent.append((path, args[0] if args else kwargs.get("json")))
        return real(method, path, *args, **kwargs)

    monkeypatch.setattr(store, "_call", spy)
    try:
        found = store.list_iterations(experiment_id, filter="params.small = true", limit=50)
        assert len(found) == 30
        searches = [body for path, body in sent if path == "/iterations/search"]
        assert searches and all(body["count_total"] is False for body in searches)
        assert store.count_iterations(experiment_id, filter="params.small = true") == 30
    finally:
        store.close()

"""A short iteration through the App is one request: the start of an iteration in an experiment
the process already started one in is held (``mlops.store.http_starts``) and rides with the end
(``POST /iterations/{id}/end`` with ``start``), or is sent on its own within ``START_DELAY``.

Each test runs a real App process; a loopback proxy (``resilience_support.DroppingProxy``)
counts the requests, and in one test strips ``start`` from ends, as an App older than the
merged end does (it ignores the field)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import AppProcess
from mlops.errors import InvalidInput, NotFound
from mlops.store.http import HttpStore
from resilience_support import DroppingProxy, make_catalog, steady_port, stored, wait_until

pytestmark = pytest.mark.timeout(120)

POINTS = [("loss", 0, 0.5, 1.0), ("acc", 0, 0.9, 1.0)]


def _never(method: str, kind: str, nth: int) -> bool:
    return False


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[AppProcess, Path, str]]:
    db = tmp_path / "app.db"
    _project_id, experiment_id = make_catalog(f"sqlite:///{db}")
    app = AppProcess(f"sqlite:///{db}")
    try:
        yield app, db, experiment_id
    finally:
        app.stop()


@pytest.fixture
def client(app: tuple[AppProcess, Path, str], tmp_path: Path) -> Iterator[HttpStore]:
    """The HTTP store of the App, straight (no proxy); closed after the test."""
    store = HttpStore(app[0].url, home=tmp_path / "home")
    try:
        yield store
    finally:
        store.close()


def _short(store: HttpStore, experiment_id: str, name: str) -> str:
    """A trial of a sweep: started, two metrics and a parameter, ended at once."""
    it = store.create_iteration(f"{name}-{time.time_ns()}", name, experiment_id, None,
                                time.time(), {}, new=True)  # fmt: skip
    store.end_iteration(it.id, "finished", time.time(), parameters={"lr": 0.1}, metrics=POINTS)
    return it.id


def test_short_iterations_after_the_first_are_one_request_each(
    app: tuple[AppProcess, Path, str], tmp_path: Path
) -> None:
    process, db, experiment_id = app
    with DroppingProxy(process.port, _never) as proxy:
        store = HttpStore(proxy.url, home=tmp_path / "home")
        try:
            ids = [_short(store, experiment_id, f"trial-{n}") for n in range(6)]
        finally:
            store.close()
        # the first start is answered (the App says the experiment exists): the others ride
        # with their ends
        assert proxy.stats.seen["create"] == 1 and proxy.stats.seen["end"] == 6
    got = stored(db, *ids)
    assert got.statuses == ["finished"] * 6 and got.points == 12
    with httpx.Client(base_url=process.url + "/api/v1") as client:
        one = client.get(f"/iterations/{ids[-1]}").json()
    assert one["name"] == "trial-5" and one["parameters"] == {"lr": 0.1}
    assert one["experiment_id"] == experiment_id and one["metrics"] == {"loss": 0.5, "acc": 0.9}


def test_a_held_start_reaches_the_app_on_its_own_soon(
    app: tuple[AppProcess, Path, str], client: HttpStore
) -> None:
    process, _db, experiment_id = app
    _short(client, experiment_id, "first")
    held = client.create_iteration(
        "held-1", "long-run", experiment_id, None, time.time(), {}, new=True
    )
    assert held.status == "running" and held.project_id  # answered without the App

    def seen() -> bool:  # asked of the App directly, not through the store
        return httpx.get(f"{process.url}/api/v1/iterations/held-1").status_code == 200

    wait_until(seen, "the held start reaches the App without another call", timeout=10)
    client.end_iteration("held-1", "finished", time.time(), metrics=POINTS)
    answer = httpx.get(f"{process.url}/api/v1/iterations/held-1").json()
    assert answer["status"] == "finished" and answer["metrics"] == {"loss": 0.5, "acc": 0.9}


def test_the_process_reads_what_it_started_at_once(
    app: tuple[AppProcess, Path, str], client: HttpStore
) -> None:
    _process, _db, experiment_id = app
    _short(client, experiment_id, "first")
    client.create_iteration(
        "read-me", "just-started", experiment_id, None, time.time(), {}, new=True
    )
    assert client.get_iteration("read-me").status == "running"
    names = {i.name for i in client.list_iterations(experiment_id)}
    assert names == {"first", "just-started"}


def test_closing_the_store_sends_a_held_start(
    app: tuple[AppProcess, Path, str], tmp_path: Path
) -> None:
    process, db, experiment_id = app
    store = HttpStore(process.url, home=tmp_path / "home")
    _short(store, experiment_id, "first")
    store.create_iteration(
        "at-close", "closed-early", experiment_id, None, time.time(), {}, new=True
    )
    store.close()
    assert stored(db, "at-close").statuses == ["running"]


def _without_start(kind: str, body: bytes) -> bytes:
    """What an App older than the merged end reads of an end: the start ignored."""
    if kind != "end":
        return body
    data = json.loads(body)
    data.pop("start", None)
    return json.dumps(data).encode()


def test_an_app_that_ignores_the_start_of_an_end_gets_two_requests(
    app: tuple[AppProcess, Path, str], tmp_path: Path
) -> None:
    process, db, experiment_id = app
    with DroppingProxy(process.port, _never, rewrite=_without_start) as proxy:
        store = HttpStore(proxy.url, home=tmp_path / "home")
        try:
            ids = [_short(store, experiment_id, f"old-app-{n}") for n in range(3)]
        finally:
            store.close()
        # the second: its merged end is refused (404), then its start and end again; the
        # third is not held any more
        assert proxy.stats.seen["create"] == 3 and proxy.stats.seen["end"] == 4
        assert proxy.stats.statuses[404] == 1
    got = stored(db, *ids)
    assert got.statuses == ["finished"] * 3 and got.points == 6


def test_a_held_start_and_its_end_go_to_the_journal_while_the_app_is_down(
    tmp_path: Path,
) -> None:
    db = tmp_path / "app.db"
    _project_id, experiment_id = make_catalog(f"sqlite:///{db}")
    port = steady_port()
    process = AppProcess(f"sqlite:///{db}", port=port)
    store = HttpStore(process.url, home=tmp_path / "home")
    try:
        _short(store, experiment_id, "first")
        store.create_iteration(
            "outage", "during-outage", experiment_id, None, time.time(), {}, new=True
        )
        process.stop()
        with pytest.warns(UserWarning, match="kept"):
            ended = store.end_iteration("outage", "finished", time.time(), metrics=POINTS)
        assert ended.status == "finished"  # as this process knows it, from the journal
        process = AppProcess(f"sqlite:///{db}", port=port)
        wait_until(
            lambda: stored(db, "outage").statuses == ["finished"],
            "the journal reaches the App once it is back",
            timeout=30,
        )
    finally:
        store.close()
        process.stop()
    assert stored(db, "outage").points == 2


def test_an_end_whose_start_names_another_iteration_is_refused(
    app: tuple[AppProcess, Path, str],
) -> None:
    process, _db, experiment_id = app
    start = {"id": "one", "name": "n", "started_at": time.time(), "experiment_id": experiment_id}
    with httpx.Client(base_url=process.url + "/api/v1") as client:
        answer = client.post(
            "/iterations/other/end",
            json={"status": "finished", "ended_at": time.time(), "start": start},
        )
        assert answer.status_code == 422, answer.text
        message = answer.json()["error"]["message"]
        assert "start.id 'one' is not the iteration being ended ('other')" in message
        body = {"status": "finished", "ended_at": time.time(), "start": {**start, "id": "other"}}
        first = client.post("/iterations/other/end", json=body)
        again = client.post("/iterations/other/end", json=body)  # a retry: harmless
    assert first.status_code == 200 and first.json()["status"] == "finished"
    assert again.status_code == 200 and again.json()["status"] == "finished"


def test_starts_are_checked_before_they_are_held(
    app: tuple[AppProcess, Path, str], client: HttpStore
) -> None:
    _process, _db, experiment_id = app
    with pytest.raises(NotFound, match="no-such-experiment"):  # never seen: the App says
        client.create_iteration("x", "x", "no-such-experiment", None, time.time(), {}, new=True)
    _short(client, experiment_id, "first")
    with pytest.raises(InvalidInput, match="iteration name"):  # held or not: at once
        client.create_iteration("y", "", experiment_id, None, time.time(), {}, new=True)


def test_a_start_of_an_id_that_may_exist_is_always_asked_of_the_app(
    app: tuple[AppProcess, Path, str], client: HttpStore
) -> None:
    """Importers and MLflow's routes create with ids that may exist (a retry, a second
    import): the App's answer is the existing iteration, so such a start is never held."""
    _process, _db, experiment_id = app
    first = _short(client, experiment_id, "first")
    again = client.create_iteration(first, "first", experiment_id, None, time.time(), {})
    assert again.status == "finished"  # the App's iteration, not a new running one

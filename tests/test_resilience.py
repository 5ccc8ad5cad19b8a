"""Resilience of the HTTP path, with real processes on loopback and nothing mocked.

The App killed and restarted in the middle of a run, a client SIGKILLed in the middle of a run, a
proxy that loses the App's answers after the App committed, an App that answers 503 with
``Retry-After`` under overload, and two App processes on one PostgreSQL under eight clients at
once. Each test counts every point and iteration in the database afterwards (with ``sqlite3`` or
``psycopg``, not with mlops): nothing is lost, nothing is there twice, and no error ever reached
the training loop (exit code 0, no traceback).
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import AppProcess, _drop_schema, _postgres_uri, free_port
from mlops.store import journal
from resilience_support import (
    DroppingProxy,
    app_with_limit,
    drop_every_third_batch_first_end_and_create,
    finish,
    held_slot,
    iterations_named,
    make_catalog,
    read_started_id,
    standby_app,
    start_training,
    steady_port,
    stored,
    train_config,
    wait_until,
)

pytestmark = pytest.mark.timeout(90)

StartApp = Callable[..., AppProcess]
Train = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def train() -> Iterator[Train]:
    """``start_training`` whose processes are killed after the test if still running (a failed
    assertion must not leave a training process behind)."""
    started: list[subprocess.Popen[str]] = []

    def start(uri: str, home: Path, config: dict[str, Any], **env: str) -> subprocess.Popen[str]:
        proc = start_training(uri, home, config, **env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _sync_leftovers(home: Path) -> journal.SyncReport:
    """Send what a finished client left in its journal (``mlops sync``); nothing may remain."""
    report = journal.sync(None, home)
    assert (report.remaining, report.errors, report.busy) == (0, [], []), report
    assert journal.pending(home) == []
    return report


def _api(app_url: str, path: str, **params: Any) -> Any:
    answer = httpx.get(f"{app_url}/api/v1{path}", params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize(
    ("restart", "journals"),
    [("at-once", False), ("once-journaled", True)],
    ids=["at-once", "once-journaled"],
)
def test_the_app_killed_and_restarted_mid_run_loses_and_duplicates_nothing(
    start_app: StartApp, train: Train, tmp_path: Path, restart: str, journals: bool
) -> None:
    """SIGKILL the App while a training process logs 3 metrics x 3000 steps, restart it on the
    same port and database: the training process never sees an error (it exits 0, no
    traceback), and afterwards every one of the 9000 points is in ``metric_points`` exactly
    once, with one iteration row, ``finished``. Restarted at once (down for the App's start-up,
    within the client's retry budget), the client's retries ride it out and nothing is
    journaled; restarted only once the client gave up retrying and started its journal, the
    client sends the journal when the App is back (``mlops sync`` sends any rest)."""
    db = tmp_path / "app.db"
    uri = f"sqlite:///{db}"
    _, experiment_id = make_catalog(uri)
    app = start_app(uri, port=steady_port())
    home = tmp_path / "client-home"
    metrics, steps = 3, 3000
    config = train_config("restart", experiment_id, metrics=metrics, steps=steps, sleep=0.003)
    proc = train(app.url, home, config)
    iteration_id = read_started_id(proc)
    wait_until(lambda: stored(db, iteration_id).points >= 900, "a tenth of the points is stored")
    assert proc.poll() is None, "the run must still be going when the App dies"
    at_kill = stored(db, iteration_id).points
    with standby_app(uri, app.port) as restart_app:
        app.stop(signal.SIGKILL)
        killed = time.monotonic()
        if restart == "once-journaled":
            wait_until(
                lambda: _journal_files(home), "the client keeps what it logs in its journal", 30
            )
        restarted_url = restart_app()
        down_s = time.monotonic() - killed
        printed, stderr = finish(proc)
        leftovers = _sync_leftovers(home)
        final = _api(restarted_url, f"/iterations/{iteration_id}")

    got = stored(db, iteration_id)
    assert 0 < at_kill < metrics * steps
    assert got.points == got.distinct == metrics * steps
    assert got.steps == {f"m{m}": steps for m in range(metrics)}
    assert got.statuses == ["finished"]
    assert iterations_named(db, "restart-") == [(iteration_id, "restart-0", "finished")]
    assert printed[-1] == {"id": iteration_id, "status": "finished"}
    assert final["status"] == "finished" and final["parameters"]["lr"] == 0.01
    assert final["metrics"] == {f"m{m}": (steps - 1) * 0.001 + m for m in range(metrics)}
    # The client retries a flush for 4 s (MLOPS_FLUSH_TIMEOUT 10 s x 0.4) before it journals.
    journaled = "keeping what is logged in" in stderr and str(home / "journal") in stderr
    assert journaled is journals, f"the App was down {down_s:.1f} s; client stderr: {stderr}"
    print(
        f"\nApp killed with {at_kill}/{metrics * steps} points stored, down {down_s:.1f} s; "
        f"journal records sent by sync afterwards: {leftovers.sent}; client stderr: "
        f"{stderr.strip()[:300]!r}"
    )


def _keep(method: str, kind: str, nth: int) -> bool:
    """A proxy rule that loses no answer."""
    return False


def _journal_files(home: Path) -> list[Path]:
    """The journal files a client under ``home`` has started."""
    folder = journal.journal_dir(home)
    return [p for p in folder.glob("*") if not p.name.startswith(".")] if folder.exists() else []


def test_a_client_killed_mid_run_keeps_what_it_sent_once_and_reads_as_crashed(
    start_app: StartApp, train: Train, tmp_path: Path
) -> None:
    """SIGKILL a training process in the middle of its run against a live App: what it sent
    is there once and without holes (each metric holds steps 0..k-1), the iteration reads
    ``running`` while its heartbeat is fresh, and — once the heartbeat is made old — the App's
    API shows it ``crashed``, and the filter ``status = "crashed"`` finds it."""
    db = tmp_path / "app.db"
    uri = f"sqlite:///{db}"
    _, experiment_id = make_catalog(uri)
    app = start_app(uri)
    home = tmp_path / "client-home"
    config = train_config("doomed", experiment_id, metrics=2, steps=1_000_000, sleep=0.001)
    proc = train(app.url, home, config)
    iteration_id = read_started_id(proc)
    wait_until(lambda: stored(db, iteration_id).points >= 2000, "a few batches are stored")
    proc.kill()
    assert proc.wait(10) == -signal.SIGKILL

    # The App may still be writing the last request it got: a graceful stop lets it finish
    # every request in flight, and after that nothing can arrive.
    assert app.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    app = start_app(uri)  # the client is gone: any port will do
    got = stored(db, iteration_id)
    assert 0 < got.points == got.distinct < 2 * 1_000_000
    assert set(got.steps) == {"m0", "m1"}
    for metric, count in got.steps.items():
        assert count == got.max_step[metric] + 1, f"{metric} has holes: {got}"
    assert got.statuses == ["running"]
    assert _api(app.url, f"/iterations/{iteration_id}")["status"] == "running"
    assert journal.pending(home) == []  # the App was up: nothing was journaled

    # Let the heartbeat age as if two minutes had passed (the timeout is 30 s).
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        conn.execute(
            "UPDATE iterations SET heartbeat_at = ? WHERE id = ?", (time.time() - 120, iteration_id)
        )
        conn.commit()
    assert _api(app.url, f"/iterations/{iteration_id}")["status"] == "crashed"
    found = _api(app.url, "/iterations", filter='status = "crashed"')
    assert [i["id"] for i in found["iterations"]] == [iteration_id]
    assert stored(db, iteration_id).points == got.points
    print(f"\nclient killed with {got.points} points stored ({got.steps})")


def test_answers_lost_after_the_app_committed_are_retried_without_duplicates(
    start_app: StartApp, train: Train, tmp_path: Path
) -> None:
    """Between client and App, a proxy loses the App's answer (closes the client connection
    after the App committed) for the first start, every 3rd batch and the first end: the client
    retries each, and every point, the iteration and its end are in the database exactly once.
    Then a journal made offline is replayed twice through the same proxy (the second time as
    after a crash before the acknowledgement): the counts do not move."""
    db = tmp_path / "app.db"
    uri = f"sqlite:///{db}"
    _, experiment_id = make_catalog(uri)
    app = start_app(uri)
    metrics, steps = 3, 2000
    expected = metrics * steps
    with DroppingProxy(app.port, drop_every_third_batch_first_end_and_create) as proxy:
        # Online, through the proxy: 500 points per request, so a flush is several requests.
        config = train_config(
            "lossy", experiment_id, metrics=metrics, steps=steps, sleep=0.002, max_batch=500
        )
        proc = train(proxy.url, tmp_path / "online-home", config)
        printed, _ = finish(proc)
        online = proxy.stats
        iteration_id = printed[-1]["id"]
        assert printed[-1]["status"] == "finished"
        assert online.dropped["create"] == 1 and online.dropped["end"] == 1
        assert online.dropped["batch"] >= 3 and online.seen["batch"] > online.dropped["batch"]
        _sync_leftovers(tmp_path / "online-home")
        got = stored(db, iteration_id)
        assert got.points == got.distinct == expected
        assert got.steps == {f"m{m}": steps for m in range(metrics)}
        assert iterations_named(db, "lossy-") == [(iteration_id, "lossy-0", "finished")]

        # Offline into the journal, then replayed through the proxy: twice.
        offline_home = tmp_path / "offline-home"
        config = train_config(
            "replayed", experiment_id, metrics=metrics, steps=steps, max_batch=500
        )
        printed, _ = finish(train(proxy.url, offline_home, config, MLOPS_MODE="offline"))
        replayed_id = printed[-1]["id"]
        [(path, count)] = journal.pending(offline_home)
        saved = path.read_bytes()
        sends = []
        for attempt in range(2):
            if attempt:
                path.write_bytes(saved)  # a crash before the acknowledgement: all of it again
            proxy.reset()
            report = journal.sync(None, offline_home)
            assert (report.sent, report.remaining, report.errors) == (count, 0, [])
            assert proxy.stats.dropped["create"] == 1 and proxy.stats.dropped["end"] == 1
            sends.append(dict(proxy.stats.seen))
            for some_id, prefix in ((replayed_id, "replayed-"), (iteration_id, "lossy-")):
                again = stored(db, some_id)
                assert again.points == again.distinct == expected
                assert [s for _, _, s in iterations_named(db, prefix)] == ["finished"]
    final = _api(app.url, f"/iterations/{replayed_id}")
    assert final["status"] == "finished" and final["parameters"]["n"] == 0
    print(
        f"\nonline: requests {dict(online.seen)}, answers lost {dict(online.dropped)}; "
        f"journal of {count} records replayed twice, requests {sends}"
    )


def test_an_overloaded_app_answering_503_with_retry_after_loses_nothing(
    train: Train, tmp_path: Path
) -> None:
    """An App that takes one request at a time is kept full in the middle of a run (a request
    whose body never arrives) until the client has been refused twice: it answers 503 with
    ``Retry-After: 1``, nothing is written meanwhile, the training process never sees an error,
    and afterwards every point is there exactly once. The client goes through a proxy that
    loses nothing and counts the App's answers."""
    db = tmp_path / "app.db"
    uri = f"sqlite:///{db}"
    _, experiment_id = make_catalog(uri)
    home = tmp_path / "client-home"
    metrics, steps = 2, 2500
    port = free_port()
    with app_with_limit(uri, port, max_in_flight=1) as url, DroppingProxy(port, _keep) as proxy:
        config = train_config(
            "busy", experiment_id, metrics=metrics, steps=steps, sleep=0.002, max_batch=500
        )
        proc = train(proxy.url, home, config)
        iteration_id = read_started_id(proc)
        wait_until(lambda: stored(db, iteration_id).points > 0, "the first batch is stored")
        with held_slot(port):
            busy = httpx.get(f"{url}/api/v1/projects", timeout=5)  # /health is never queued
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert busy.json()["error"]["code"] == "unavailable"
            before = stored(db, iteration_id).points
            refused = proxy.stats.statuses[503]
            assert proc.poll() is None
            wait_until(
                lambda: proxy.stats.statuses[503] >= refused + 2, "the client was refused twice"
            )
            assert stored(db, iteration_id).points == before  # the App took nothing meanwhile
        printed, stderr = finish(proc)
        leftovers = _sync_leftovers(home)
    got = stored(db, iteration_id)
    assert got.points == got.distinct == metrics * steps
    assert got.statuses == ["finished"] and printed[-1]["status"] == "finished"
    assert iterations_named(db, "busy-") == [(iteration_id, "busy-0", "finished")]
    print(
        f"\nheld full with {before} points stored; journal records sent by sync afterwards: "
        f"{leftovers.sent}; client stderr: {stderr.strip()[:300]!r}"
    )


def test_two_apps_on_one_postgresql_take_eight_clients_at_once(
    start_app: StartApp, train: Train, tmp_path: Path
) -> None:
    """Two App processes on one PostgreSQL schema, eight training processes at once, four
    through each App, each 4 iterations x 2 metrics x 1000 steps and 3 parameters: afterwards
    PostgreSQL holds each of the 32 iterations exactly once, ``finished``, with exactly 2000
    points and 3 parameters each. Needs PostgreSQL (``MLOPS_REQUIRE_POSTGRES`` makes its
    absence a failure)."""
    import psycopg

    uri = _postgres_uri()
    apps: list[AppProcess] = []
    try:
        _, experiment_id = make_catalog(uri)
        apps = [start_app(uri), start_app(uri)]
        workers, iterations, metrics, steps = 8, 4, 2, 1000
        started = time.monotonic()
        procs = []
        for w in range(workers):
            config = train_config(
                f"w{w}", experiment_id, iterations=iterations, metrics=metrics, steps=steps,
                sleep=0.001, sleep_every=2,
            )  # fmt: skip
            procs.append(train(apps[w % 2].url, tmp_path / f"home-{w}", config))
        ended: dict[str, str] = {}
        for proc in procs:
            printed, _ = finish(proc, timeout=90)
            ended.update({p["id"]: p["status"] for p in printed if "id" in p})
        elapsed = time.monotonic() - started
        for w in range(workers):
            _sync_leftovers(tmp_path / f"home-{w}")
        assert len(ended) == workers * iterations and set(ended.values()) == {"finished"}

        with psycopg.connect(uri, autocommit=True) as conn:
            rows = conn.execute("SELECT id, name, status FROM iterations").fetchall()
            points: dict[str, int] = dict(
                conn.execute(
                    "SELECT iteration_id, count(*) FROM metric_points GROUP BY iteration_id"
                ).fetchall()
            )
            distinct = conn.execute(
                "SELECT count(*) FROM (SELECT DISTINCT iteration_id, name, step "
                "FROM metric_points) AS d"
            ).fetchone()
            total = conn.execute("SELECT count(*) FROM metric_points").fetchone()
            parameters: dict[str, int] = dict(
                conn.execute(
                    "SELECT iteration_id, count(*) FROM parameters GROUP BY iteration_id"
                ).fetchall()
            )
            workers_of: dict[str, str] = dict(
                conn.execute(
                    "SELECT iteration_id, value_json FROM parameters WHERE name = 'worker'"
                ).fetchall()
            )
        names = sorted(name for _, name, _ in rows)
        assert names == sorted(f"w{w}-{n}" for w in range(workers) for n in range(iterations))
        assert {i: s for i, _, s in rows} == ended  # one row per iteration, all finished
        per_iteration = metrics * steps
        assert points == {i: per_iteration for i in ended}
        assert total == distinct == (workers * iterations * per_iteration,)
        assert parameters == {i: 3 for i in ended}
        assert {i: f'"{n.split("-")[0]}"' for i, n, _ in rows} == workers_of
        print(
            f"\n{len(rows)} iterations, {total[0]} points through 2 Apps in {elapsed:.1f} s "
            "of client time"
        )
    finally:
        for app in apps:
            app.stop()
        _drop_schema(uri)

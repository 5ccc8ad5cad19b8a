"""The HTTP store against a real App process: errors keep their class, an App that is down or
absent never stops a training run, and the journal delivers everything exactly once."""

from __future__ import annotations

import contextlib
import http.server
import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import child_environ, free_port
from mlops import tracking
from mlops.config import write_settings
from mlops.errors import AlreadyExists, InvalidInput, NotFound, Unauthorized, Unavailable
from mlops.store import close_stores, journal
from mlops.store.http_client import Transport, Unreachable
from mlops.store.journal import Damage, JournalFile, Record, read_acked, scan, write_acked
from mlops.store.sql.store import SqlStore

TRAIN = """
import json, sys, time
from mlops import tracking

t0 = time.monotonic()
it = tracking.start_iteration("run")
started = time.monotonic() - t0
it.log_parameters({"lr": 0.01, "layers": 3})
for step in range(1000):
    it.log_metric("loss", 1.0 / (step + 1))
time.sleep(float(sys.argv[1]))  # the background writer flushes meanwhile
t1 = time.monotonic()
final = it.end_iteration()
print(json.dumps({"final": final, "start_s": started, "end_s": time.monotonic() - t1}))
"""


@pytest.fixture(autouse=True)
def _no_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLOPS_MODE", "MLOPS_API_TOKEN", "MLOPS_FLUSH_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


@contextlib.contextmanager
def running_app(db: Path, port: int, *extra: str) -> Iterator[str]:
    """A real ``mlops app`` process on ``db``; yields its URL once /health answers."""
    env = child_environ()
    env["MLOPS_HOME"] = str(db.parent / "app-home")
    command = [sys.executable, "-m", "mlops", "app", "--port", str(port)]
    log = open(db.parent / f"app-{port}.log", "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*command, "--store", f"sqlite:///{db}", *extra], stdout=log, stderr=log, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"the App exited: {log.read().decode(errors='replace')}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the App did not answer /health in 30 s"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def make_catalog(db: Path) -> tuple[str, str]:
    """A project and an experiment in the App's database: (project id, experiment id)."""
    store = SqlStore(f"sqlite:///{db}")
    try:
        project = store.create_project("vision", None, "active", False)
        experiment = store.create_experiment(project.id, "sweep", None)
    finally:
        store.close()
    return project.id, experiment.id


def points_in(db: Path, iteration_id: str) -> tuple[int, int]:
    """(rows, distinct steps) of metric ``loss`` of an iteration, read from the database."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        count, steps = conn.execute(
            "SELECT count(*), count(DISTINCT step) FROM metric_points "
            "WHERE iteration_id = ? AND name = 'loss'",
            (iteration_id,),
        ).fetchone()
    return int(count), int(steps)


def train(uri: str, sleep: float = 0.0, **env: str) -> tuple[dict[str, Any], str]:
    """Run the training script in a fresh process: (its output, its stderr)."""
    environ = {**os.environ, "MLOPS_TRACKING_URI": uri, **env}
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(sleep)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def journal_files(home: Path) -> list[Path]:
    return sorted((home / "journal").glob("*.jsonl"))


# -- the journal file ----------------------------------------------------------------------
def _three_records(home: Path) -> Path:
    file = JournalFile(home)
    for step in range(3):
        body = {"metrics": [["loss", step, 0.5, 1.0]]}
        file.append("http://app:1", "log_batch", {"iteration_id": "it", "body": body})
    assert file.path is not None
    path = file.path
    file.close(delete=False)
    return path


def test_records_are_appended_read_back_and_acknowledged(mlops_home: Path) -> None:
    file = JournalFile(mlops_home)
    assert file.path is None  # nothing is created before the first record
    seqs = [file.append("http://app:1", "log_batch", {"iteration_id": "it", "body": {"n": n}})
            for n in range(3)]  # fmt: skip
    assert seqs == [1, 2, 3] and file.pending() == 3
    path = file.path
    assert path is not None and path.parent == mlops_home / "journal"
    assert path.read_bytes().count(b"\n") == 3
    records = list(scan(path))
    assert records == [
        Record(n + 1, "http://app:1", "log_batch", {"iteration_id": "it", "body": {"n": n}})
        for n in range(3)
    ]
    write_acked(path, 2)
    assert read_acked(path) == 2 and file.pending() == 1
    assert [r.seq for r in file.unacked() if isinstance(r, Record)] == [3]
    assert journal.pending(mlops_home) == [(path, 1)]
    write_acked(path, 3)
    assert journal.pending(mlops_home) == []
    file.close(delete=True)
    assert not path.exists() and not path.with_name(path.name + ".acked").exists()


def test_a_torn_last_line_loses_only_itself(mlops_home: Path) -> None:
    path = _three_records(mlops_home)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])  # power cut in the middle of the last write
    records = list(scan(path))
    assert [r.seq if isinstance(r, Record) else r.line for r in records] == [1, 2, 3]
    assert isinstance(records[2], Damage) and "torn" in records[2].reason
    assert journal.pending(mlops_home) == [(path, 2)]


def test_a_damaged_record_is_skipped_and_the_others_kept(mlops_home: Path) -> None:
    path = _three_records(mlops_home)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"0.5", b"0.7")  # same length, checksum no longer matches
    path.write_bytes(b"".join(lines))
    found = list(scan(path))
    assert found[1] == Damage(2, len(lines[0]), "its checksum does not match its content")
    assert [r.seq for r in found if isinstance(r, Record)] == [1, 3]
    assert journal.pending(mlops_home) == [(path, 2)]


def test_a_fully_synced_file_is_deleted(mlops_home: Path) -> None:
    path = _three_records(mlops_home)
    write_acked(path, 3)  # e.g. a crash between the last acknowledgement and the delete
    report = journal.sync(None, mlops_home)
    assert report.sent == 0 and report.remaining == 0
    assert list((mlops_home / "journal").iterdir()) == []


def test_a_file_of_a_running_process_is_left_to_it(mlops_home: Path) -> None:
    file = JournalFile(mlops_home)
    file.append("http://app:1", "log_batch", {"iteration_id": "it", "body": {}})
    try:
        report = journal.sync(None, mlops_home)
        assert report.busy == [file.path] and report.remaining == 1 and report.sent == 0
    finally:
        file.close(delete=False)


def test_sync_keeps_everything_when_the_app_is_down(
    mlops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "SYNC_BUDGET", 0.5)
    path = _three_records(mlops_home)
    url = f"http://127.0.0.1:{free_port()}"
    report = journal.sync(url, mlops_home)
    assert report.sent == 0 and report.remaining == 3
    assert url in report.errors[0] and "unreachable" in report.errors[0]
    assert read_acked(path) == 0 and journal.pending(mlops_home) == [(path, 3)]


# -- offline mode, then sync -----------------------------------------------------------------
def test_offline_training_is_synced_later_exactly_once(
    mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "app.db"
    project_id, experiment_id = make_catalog(db)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    write_settings(uri, active_project_id=project_id, active_experiment_id=experiment_id)

    out, stderr = train(uri, MLOPS_MODE="offline")
    final = out["final"]
    assert final["status"] == "finished" and final["experiment_id"] == experiment_id
    assert final["metrics"] == {"loss": 0.001} and final["parameters"] == {"lr": 0.01, "layers": 3}
    assert "MLOPS_MODE=offline" in stderr and "`mlops sync`" in stderr
    [(path, count)] = journal.pending(mlops_home)
    assert str(path) in stderr and count >= 2  # create, (batches), end

    saved = path.read_bytes()
    calls: list[tuple[int, int]] = []
    with running_app(db, port):
        report = journal.sync(None, mlops_home, lambda done, total: calls.append((done, total)))
        assert (report.sent, report.remaining, report.errors) == (count, 0, [])
        assert calls[-1] == (count, count) and not path.exists()
        assert points_in(db, final["id"]) == (1000, 1000)

        # Sending it all again (as after a crash before the acknowledgement) changes nothing.
        path.write_bytes(saved)
        again = journal.sync(None, mlops_home)
        assert (again.sent, again.remaining) == (count, 0)
        assert points_in(db, final["id"]) == (1000, 1000)

        monkeypatch.setenv("MLOPS_TRACKING_URI", uri)
        stored = tracking.get_iteration(final["id"])
        assert stored["status"] == "finished" and stored["metrics"] == {"loss": 0.001}
        assert stored["parameters"] == {"lr": 0.01, "layers": 3}
        assert len(tracking.list_iterations(experiment_id=experiment_id)) == 1


# -- the App down, then back -----------------------------------------------------------------
def test_a_run_without_the_app_ends_in_time_and_sync_delivers_it(
    mlops_home: Path, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    project_id, experiment_id = make_catalog(db)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    write_settings(uri, active_project_id=project_id, active_experiment_id=experiment_id)

    out, stderr = train(uri, sleep=1.5)
    assert out["final"]["status"] == "finished" and out["final"]["metrics"] == {"loss": 0.001}
    assert out["start_s"] < 5 and out["end_s"] < 10  # MLOPS_FLUSH_TIMEOUT
    assert f"the App at {uri} is unreachable" in stderr and "`mlops sync`" in stderr
    assert "Traceback" not in stderr
    [(path, count)] = journal.pending(mlops_home)

    with running_app(db, port):
        report = journal.sync(None, mlops_home)
        assert (report.sent, report.remaining) == (count, 0) and not path.exists()
        assert points_in(db, out["final"]["id"]) == (1000, 1000)


def test_the_journal_drains_by_itself_when_the_app_is_back(
    mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "app.db"
    project_id, experiment_id = make_catalog(db)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLOPS_TRACKING_URI", uri)
    write_settings(uri, active_project_id=project_id, active_experiment_id=experiment_id)

    it = tracking.start_iteration("flaky")  # the App is down: the client-made id is used
    for step in range(500):
        it.log_metric("loss", 1.0 / (step + 1))
    _wait(lambda: journal_files(mlops_home), "the first records reach the journal")
    with running_app(db, port):
        for step in range(500, 1000):
            it.log_metric("loss", 1.0 / (step + 1))
            if step % 50 == 0:
                time.sleep(0.1)
        _wait(lambda: not journal_files(mlops_home), "the journal drains", timeout=60)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            final = it.end_iteration()
        assert not [w for w in caught if "mlops" in str(w.message)]
        assert final["status"] == "finished" and final["metrics"] == {"loss": 0.001}
        assert points_in(db, it.id) == (1000, 1000)
        assert tracking.get_iteration(it.id)["experiment_id"] == experiment_id


def test_the_end_of_a_run_goes_to_the_app_once_it_is_back(
    mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when the background drain has not retried yet, ending the run sends what waits in
    the journal first and then the end itself: nothing is left for `mlops sync`."""
    from mlops.store import http_drain

    monkeypatch.setattr(http_drain, "DRAIN_FIRST_DELAY", 3600.0)  # the drain thread stays asleep
    db = tmp_path / "app.db"
    project_id, experiment_id = make_catalog(db)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLOPS_TRACKING_URI", uri)
    write_settings(uri, active_project_id=project_id, active_experiment_id=experiment_id)
    it = tracking.start_iteration("late")  # the App is down: journaled
    for step in range(300):
        it.log_metric("loss", 1.0 / (step + 1))
    assert journal_files(mlops_home)
    with running_app(db, port):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            final = it.end_iteration()
        assert not [w for w in caught if "mlops" in str(w.message)]
        assert final["status"] == "finished" and points_in(db, it.id) == (300, 300)
        assert journal.pending(mlops_home) == []


def _wait(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def test_reads_raise_unavailable_naming_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLOPS_TRACKING_URI", uri)
    with pytest.raises(Unavailable, match="unreachable") as caught:
        tracking.list_projects()
    assert uri in str(caught.value) and "/api/v1/health" in str(caught.value)


def test_offline_mode_needs_the_app_url_and_never_reads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLOPS_MODE", "offline")
    monkeypatch.setenv("MLOPS_TRACKING_URI", f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(InvalidInput, match="MLOPS_MODE=offline"):
        tracking.list_projects()
    monkeypatch.setenv("MLOPS_TRACKING_URI", "http://127.0.0.1:9")
    with pytest.raises(Unavailable, match="offline mode"):
        tracking.list_projects()


# -- the App up --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("app") / "app.db"
    with running_app(db, free_port()) as url:
        yield url


@pytest.fixture
def on_app(app_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MLOPS_TRACKING_URI", app_url)
    yield app_url
    close_stores()


def test_errors_of_the_app_arrive_as_the_same_classes(on_app: str, mlops_home: Path) -> None:
    with pytest.raises(NotFound, match="nope"):
        tracking.get_iteration("nope")
    project = tracking.create_project(f"p-{time.time_ns()}")
    with pytest.raises(AlreadyExists, match=project["id"]):
        tracking.create_project(project["title"])
    # Input the App refuses is raised at once, never journaled (it would fail forever).
    with pytest.raises(NotFound):
        tracking.start_iteration("lost", experiment_id="missing")
    assert journal_files(mlops_home) == []


def test_the_tracking_api_works_over_http(
    on_app: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlops.store.http_codec.MAX_BATCH_POINTS", 100)  # split into requests
    project = tracking.create_project(f"api-{time.time_ns()}")
    tracking.set_active_project(project["id"])
    experiment = tracking.create_experiment("grid")
    tracking.set_active_experiment(experiment["id"])
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n")
    dataset = tracking.create_dataset("train", str(data), tags=["csv"])
    assert tracking.get_dataset(dataset["id"]) == dataset
    ids = []
    for n in range(3):
        with tracking.start_iteration(f"run-{n}") as it:
            it.log_parameters({"n": n, "model": "rf"})
            it.set_tag("team", "vision")
            it.log_dataset(dataset["id"])
            for step in range(250):
                it.log_metric("loss", 1.0 / (step + 1 + n))
            it.log_metric("odd", math.nan)
            it.log_metric("odd", math.inf)
        ids.append(it.id)
    final = tracking.get_iteration(ids[2])
    assert final["status"] == "finished" and final["parameters"] == {"n": 2, "model": "rf"}
    assert final["tags"] == {"team": "vision"} and final["datasets"][0]["id"] == dataset["id"]
    assert final["metrics"]["odd"] == math.inf
    history = tracking.get_metric_history(ids[2], "odd")
    assert math.isnan(history[0]["value"]) and history[1]["value"] == math.inf
    assert len(tracking.get_metric_history(ids[2], "loss")) == 250
    found = tracking.list_iterations(filter="params.n >= 1", order_by="params.n desc")
    assert [i["id"] for i in found] == [ids[2], ids[1]]
    assert [i["id"] for i in tracking.list_iterations(order_by="params.n", offset=1)] == ids[1:]
    assert [i["id"] for i in tracking.list_iterations(order_by="params.n", limit=1)] == ids[:1]


def test_a_refused_record_stays_in_the_journal(on_app: str, mlops_home: Path) -> None:
    file = JournalFile(mlops_home)
    body = {"id": "x1", "name": "ghost", "started_at": 1.0, "experiment_id": "missing"}
    file.append(on_app, "create_iteration", {"iteration_id": "x1", "body": body})
    path = file.path
    file.close(delete=False)
    report = journal.sync(None, mlops_home)
    assert report.sent == 0 and report.remaining == 1
    assert "refused" in report.errors[0] and "missing" in report.errors[0]
    assert journal.pending(mlops_home) == [(path, 1)]


def test_a_missing_token_names_mlops_api_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_app(tmp_path / "auth.db", free_port(), "--auth") as url:
        monkeypatch.setenv("MLOPS_TRACKING_URI", url)
        with pytest.raises(Unauthorized, match="MLOPS_API_TOKEN"):
            tracking.list_projects()


# -- retries, against a scripted HTTP server ---------------------------------------------------
class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next scripted (status, headers, body); the last repeats."""

    def _answer(self) -> None:
        server: Any = self.server
        server.seen.append((self.command, time.monotonic()))
        script = server.script
        status, headers, body = script.pop(0) if len(script) > 1 else script[0]
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def scripted(*script: tuple[int, dict[str, str], bytes]) -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.script, server.seen = list(script), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def test_retry_after_is_honoured_and_the_retry_succeeds() -> None:
    busy = (503, {"Retry-After": "1"}, _error_body("unavailable", "busy"))
    with scripted(busy, (200, {}, b'{"ok": true}')) as server:
        transport = Transport(f"http://127.0.0.1:{server.server_port}")
        assert transport.request("GET", "/x", budget=5) == {"ok": True}
        transport.close()
    (_, first), (_, second) = server.seen
    assert second - first >= 0.95


def test_failing_answers_are_retried_until_the_budget_then_unreachable() -> None:
    with scripted((502, {}, b"<html>bad gateway</html>")) as server:
        transport = Transport(f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(Unreachable, match="502"):
            transport.request("GET", "/x", budget=1.0)
        assert len(server.seen) > 2
        # A write that is not idempotent is not repeated after the App may have seen it.
        server.seen.clear()
        with pytest.raises(Unavailable, match="502"):
            transport.request("POST", "/x", body={}, budget=1.0, repeatable=False)
        assert len(server.seen) == 1
        transport.close()


def test_refused_input_is_raised_at_once_as_its_class() -> None:
    with scripted((404, {}, _error_body("not_found", "no iteration 'x'"))) as server:
        transport = Transport(f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(NotFound, match="no iteration 'x'"):
            transport.request("GET", "/x", budget=5)
        assert len(server.seen) == 1
        transport.close()


def test_every_value_batches_keep_their_meaning_in_the_journal(
    on_app: str, mlops_home: Path
) -> None:
    """An MLflow-style batch (every value, several at one step) journaled while offline is
    sent as such; management calls (delete, rename, tags) need the App and are never
    journaled."""
    from mlops.store.http import HttpStore

    project = tracking.create_project(f"ev-{time.time_ns()}")
    experiment = tracking.create_experiment("mlflow", project_id=project["id"])
    offline = HttpStore(on_app, offline=True, home=mlops_home)
    try:
        started = float(int(time.time()))
        offline.create_iteration("ev-run", "run", experiment["id"], None, started, {})
        rows = [("loss", 0, 0.9, started), ("loss", 0, 0.7, started + 1)]
        offline.log_batch("ev-run", metrics=rows, every_value=True)
        offline.log_batch("ev-run", metrics=rows[1:], every_value=True)  # a retry
        offline.log_batch("ev-run", metrics=[("loss", 0, 0.5, started + 2)], every_value=True)
        with pytest.warns(UserWarning, match="offline mode"):
            offline.end_iteration("ev-run", "finished", started + 3)
        for call in (
            lambda: offline.delete_iteration("ev-run"),
            lambda: offline.rename_iteration("ev-run", "x"),
            lambda: offline.set_iteration_tags("ev-run", {"a": "b"}),
        ):
            with pytest.raises(Unavailable, match="offline mode"):
                call()
    finally:
        offline.close()
    report = journal.sync(None, mlops_home)
    assert report.sent == 5, report
    history = tracking.get_metric_history("ev-run", "loss")
    assert [(p["step"], p["value"]) for p in history] == [(0, 0.9), (0, 0.7), (0, 0.5)]
    assert tracking.get_iteration("ev-run")["metrics"]["loss"] == 0.5

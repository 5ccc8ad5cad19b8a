"""An outage of the App, as a training process lives it: a real App process killed (or frozen)
and restarted on the same port. The client notices a refused connection within a second, ends
its iteration within ``MLOPS_FLUSH_TIMEOUT`` with the App down, says in points and iterations
what it keeps in the journal, says in one line when the App is back and the journal was sent,
and uses its flush time at exit to send the journal. Requests stay small (10,000 points) and a
read timeout of a batch is retried before anything is journaled.

Durations are asserted loosely (a bound with a margin), never to the tenth of a second."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from conftest import AppProcess, child_environ
from mlops.store import journal
from mlops.store.http import HttpStore
from mlops.store.http_client import REFUSED_WINDOW, Transport, Unreachable
from resilience_support import (
    DroppingProxy,
    make_catalog,
    steady_port,
    stored,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)

#: A training script driven by lines on stdin, so the test decides when the App dies.
SCRIPT = """
import json, sys, time
import mlops.store.http_drain as drain
from mlops import tracking

if sys.argv[2] == "exit-drain-only":
    drain.DRAIN_FIRST_DELAY = 3600.0  # no background drain: only the exit can send the journal
it = tracking.start_iteration("outage", experiment_id=sys.argv[1])
print(json.dumps({"started": it.id}), flush=True)
step = 0
for phase in sys.stdin:
    if phase.strip() == "end":
        t0 = time.monotonic()
        final = it.end_iteration()
        print(json.dumps({"end_s": time.monotonic() - t0, "status": final["status"]}), flush=True)
        continue
    if phase.strip() == "exit":
        break
    for _ in range(int(phase)):
        it.log_metric("loss", 1.0 / (step + 1), step=step)
        step += 1
    print(json.dumps({"logged": step}), flush=True)
"""


class Training:
    """The training script in its own process, its stderr read as it comes."""

    def __init__(self, uri: str, home: Path, experiment_id: str, mode: str, **env: str) -> None:
        environ = child_environ()
        environ.update(MLOPS_TRACKING_URI=uri, MLOPS_HOME=str(home), **env)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, experiment_id, mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=environ,
        )  # fmt: skip
        self.err: list[tuple[float, str]] = []  # (when, line) of stderr
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        self.id: str = self.answer()["started"]

    def _read_stderr(self) -> None:
        stream: IO[str] | None = self.proc.stderr
        assert stream is not None
        for line in stream:
            self.err.append((time.monotonic(), line))

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the training process died: {self.stderr()}"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stderr(self) -> str:
        return "".join(line for _when, line in self.err)

    def first(self, text: str) -> float | None:
        """When the first stderr line containing ``text`` arrived."""
        return next((when for when, line in self.err if text in line), None)

    def exit(self) -> int:
        self.say("exit")
        code = self.proc.wait(60)
        self._reader.join(10)
        return code


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    """Processes (App, training) stopped after the test, whatever happens."""
    things: list[Any] = []
    yield things
    for thing in things:
        if isinstance(thing, AppProcess):
            with contextlib.suppress(ProcessLookupError):
                thing.proc.send_signal(signal.SIGCONT)
            thing.stop(signal.SIGKILL)
        elif thing.proc.poll() is None:
            thing.proc.kill()
            thing.proc.wait()


def test_a_killed_app_is_noticed_fast_and_its_return_is_announced(
    tmp_path: Path, cleanup: list[Any]
) -> None:
    db = tmp_path / "app.db"
    store_uri = f"sqlite:///{db}"
    _project_id, experiment_id = make_catalog(store_uri)
    port = steady_port()
    app = AppProcess(store_uri, port=port)
    cleanup.append(app)
    run = Training(app.url, tmp_path / "home", experiment_id, "normal")  # MLOPS_FLUSH_TIMEOUT=10
    cleanup.append(run)
    run.say("200")
    assert run.answer() == {"logged": 200}
    wait_until(lambda: stored(db, run.id).points == 200, "the first points reach the App")

    app.stop(signal.SIGKILL)
    killed = time.monotonic()
    run.say("300")  # logged while the App is down: the background flush finds it gone
    assert run.answer() == {"logged": 500}
    noticed = wait_until(lambda: run.first("keeping what is logged in"), "the client journals")
    # One flush interval (1 s) until the next flush tries, then the refused connection.
    assert noticed - killed < 1.0 + REFUSED_WINDOW + 1.5, run.stderr()

    run.say("end")
    ended = run.answer()
    assert ended["status"] == "finished"
    # Well inside MLOPS_FLUSH_TIMEOUT (10 s), retries included (it took 5.8 s before).
    assert ended["end_s"] < 2.5, run.stderr()
    wait_until(lambda: run.first("UserWarning: mlops:"), "the warning of end_iteration")
    stderr = run.stderr()
    # 300 points, or 500 when the App died after storing the first 200 but before answering.
    kept = re.search(
        rf"the App at {re.escape(app.url)} is unreachable; (300|500) metric points of "
        r"1 iteration\(s\) kept in ",
        stderr,
    )
    assert kept is not None, stderr
    assert str(tmp_path / "home" / "journal") in stderr and "`mlops sync`" in stderr
    assert "records kept" not in stderr

    back = AppProcess(store_uri, port=port)  # the same App again, on the same port
    cleanup.append(back)
    wait_until(lambda: run.first("is back: sent"), f"the App is back: {run.err}", timeout=30)
    lines = [line for _when, line in run.err if "is back: sent" in line]
    assert len(lines) == 1, run.stderr()
    line = lines[0]
    assert line.startswith(f"mlops: the App at {app.url} is back: sent the journal ")
    assert f"({kept[1]} metric points of 1 iteration(s))" in line
    assert run.exit() == 0
    assert "Traceback" not in run.stderr()
    got = stored(db, run.id)
    assert (got.points, got.distinct, got.statuses) == (500, 500, ["finished"])
    assert journal.pending(tmp_path / "home") == []
    print(
        f"\nrefused App noticed {noticed - killed:.2f} s after the kill (flush interval "
        f"included); end_iteration with the App down: {ended['end_s']:.2f} s"
    )


def _logged_through_app(
    tmp_path: Path, cleanup: list[Any], mode: str, flush_timeout: str, points: int
) -> tuple[Path, AppProcess, Path, Training]:
    """A real App on SQLite and a training process that has logged ``points`` to it, stored."""
    db = tmp_path / "app.db"
    store_uri = f"sqlite:///{db}"
    _project_id, experiment_id = make_catalog(store_uri)
    app = AppProcess(store_uri)
    cleanup.append(app)
    home = tmp_path / "home"
    run = Training(app.url, home, experiment_id, mode, MLOPS_FLUSH_TIMEOUT=flush_timeout)
    cleanup.append(run)
    run.say(str(points))
    assert run.answer() == {"logged": points}
    wait_until(lambda: stored(db, run.id).points == points, "the points reach the App")
    return db, app, home, run


def test_the_exit_sends_the_journal_within_the_flush_time(
    tmp_path: Path, cleanup: list[Any]
) -> None:
    """The App freezes (SIGSTOP: connections are accepted, nothing answers) while the run
    ends, so the end is journaled after its read timeouts; the App thaws, and the process
    sends its journal at exit (its background drain is off): the iteration is finished in the
    App, nothing is left for `mlops sync`."""
    db, app, home, run = _logged_through_app(tmp_path, cleanup, "exit-drain-only", "8", 1000)

    app.proc.send_signal(signal.SIGSTOP)
    run.say("end")
    ended = run.answer()
    assert ended["status"] == "finished" and ended["end_s"] < 8.0 + 1.5
    wait_until(lambda: run.first("metric points of 1 iteration(s) kept in"), "the warning")
    assert journal.pending(home)
    assert stored_status(db, run.id) == ["running"]

    app.proc.send_signal(signal.SIGCONT)
    started = time.monotonic()
    assert run.exit() == 0
    exit_s = time.monotonic() - started
    assert exit_s < 8.0 + 3.0, run.stderr()
    assert "Traceback" not in run.stderr() and "did not take the journal" not in run.stderr()
    assert stored_status(db, run.id) == ["finished"]
    assert journal.pending(home) == [] and not list((home / "journal").glob("*.jsonl"))
    print(f"\nend_iteration with a frozen App: {ended['end_s']:.2f} s; exit drain: {exit_s:.2f} s")


def test_the_exit_waits_no_longer_than_the_flush_time_for_a_frozen_app(
    tmp_path: Path, cleanup: list[Any]
) -> None:
    """The App stays frozen: the process still exits within MLOPS_FLUSH_TIMEOUT (plus a
    margin), says what it keeps for `mlops sync`, and keeps it."""
    _db, app, home, run = _logged_through_app(tmp_path, cleanup, "normal", "3", 500)
    app.proc.send_signal(signal.SIGSTOP)
    run.say("200")
    assert run.answer() == {"logged": 700}
    run.say("end")
    assert run.answer()["status"] == "finished"
    started = time.monotonic()
    assert run.exit() == 0
    exit_s = time.monotonic() - started
    assert exit_s < 3.0 + 3.0, run.stderr()
    # 200 points, or 700 when the App froze after storing the first 500 but before answering.
    gave_up = r"did not take the journal within 3 s \(MLOPS_FLUSH_TIMEOUT\) at exit: (200|700) "
    assert re.search(gave_up + "metric points", run.stderr()), run.stderr()
    assert "run `mlops sync`" in run.stderr() and "Traceback" not in run.stderr()
    [(_path, count)] = journal.pending(home)
    assert count >= 1  # the end (and maybe a batch before it), for `mlops sync`
    print(f"\nexit with a frozen App and MLOPS_FLUSH_TIMEOUT=3: {exit_s:.2f} s")


def stored_status(db: Path, iteration_id: str) -> list[str]:
    return stored(db, iteration_id).statuses


def test_a_refused_connection_gives_up_within_a_second(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    app = AppProcess(f"sqlite:///{db}")
    app.stop(signal.SIGKILL)  # its port refuses connections now
    transport = Transport(app.url)
    try:
        started = time.monotonic()
        with pytest.raises(Unreachable, match="unreachable"):
            transport.request("POST", "/iterations", body={}, budget=10.0, retry_timeout=True)
        assert time.monotonic() - started < 1.0  # not the 10 s budget: nothing listens
    finally:
        transport.close()


def test_a_large_flush_goes_in_requests_of_10000_points(tmp_path: Path, cleanup: list[Any]) -> None:
    db = tmp_path / "app.db"
    store_uri = f"sqlite:///{db}"
    _project_id, experiment_id = make_catalog(store_uri)
    app = AppProcess(store_uri)
    cleanup.append(app)
    with DroppingProxy(app.port, lambda method, kind, nth: False) as proxy:
        store = HttpStore(proxy.url, home=tmp_path / "home")
        try:
            it = store.create_iteration("big", "big", experiment_id, None, time.time(), {})
            now = time.time()
            store.log_batch(it.id, metrics=[("loss", s, 0.5, now) for s in range(25_000)])
            store.end_iteration(it.id, "finished", time.time(),
                                metrics=[("acc", s, 0.1, now) for s in range(15_000)])  # fmt: skip
        finally:
            store.close()
        assert proxy.stats.seen["batch"] == 3 + 1  # 10,000 + 10,000 + 5,000; then 10,000
        assert proxy.stats.seen["end"] == 1  # with the last 5,000 points
    got = stored(db, it.id)
    assert got.points == 40_000 and got.statuses == ["finished"]


class _SlowFirst(http.server.BaseHTTPRequestHandler):
    """Answers the first request after ``server.delay`` seconds, the others at once."""

    def do_POST(self) -> None:
        server: Any = self.server
        self.rfile.read(int(self.headers["Content-Length"]))
        server.seen += 1
        if server.seen == 1:
            time.sleep(server.delay)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may have gone (its read timed out)
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_read_timeout_of_a_batch_is_retried_before_giving_up() -> None:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowFirst)
    server.seen, server.delay = 0, 2.5
    threading.Thread(target=server.serve_forever, daemon=True).start()
    transport = Transport(f"http://127.0.0.1:{server.server_port}")
    try:
        answer = transport.request(
            "POST", "/iterations/x/batch", body={"metrics": []}, budget=3.0, retry_timeout=True
        )
        assert answer == {"ok": True} and server.seen == 2  # timed out once, then retried
    finally:
        transport.close()
        server.shutdown()
        server.server_close()

"""Helpers of ``test_resilience.py``: training subprocesses, counting what a database holds, a
TCP proxy that loses the App's answers, an App with a small in-flight limit and a request that
holds one of its slots, an App process ready to take over a port.

Everything runs on loopback with real processes and real sockets; nothing is mocked.
"""

from __future__ import annotations

import collections
import contextlib
import json
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from conftest import child_environ

#: A training script driven by one JSON argument (see :func:`train_config`). It prints the id of
#: each iteration when it starts and ``{"id", "status", "points"}`` when it ended.
TRAIN = """
import json, sys, time
import mlops.store.http_codec as codec
from mlops import tracking

cfg = json.loads(sys.argv[1])
if cfg["max_batch"]:
    codec.MAX_BATCH_POINTS = cfg["max_batch"]  # more, smaller requests per flush
for n in range(cfg["iterations"]):
    it = tracking.start_iteration(f"{cfg['name']}-{n}", experiment_id=cfg["experiment_id"])
    print(json.dumps({"started": it.id}), flush=True)
    it.log_parameters({"worker": cfg["name"], "n": n, "lr": 0.01})
    for step in range(cfg["steps"]):
        it.log_metrics({f"m{m}": step * 0.001 + m + n for m in range(cfg["metrics"])})
        if cfg["sleep"] and step % cfg["sleep_every"] == 0:
            time.sleep(cfg["sleep"])
    final = it.end_iteration()
    print(json.dumps({"id": it.id, "status": final["status"]}), flush=True)
"""


def train_config(
    name: str,
    experiment_id: str,
    *,
    iterations: int = 1,
    metrics: int = 3,
    steps: int = 3000,
    sleep: float = 0.0,
    sleep_every: int = 1,
    max_batch: int | None = None,
) -> dict[str, Any]:
    """The argument of :data:`TRAIN`: ``iterations`` x ``metrics`` x ``steps`` points (metric
    ``m<i>``), parameters ``worker``, ``n`` and ``lr``; ``sleep`` seconds every ``sleep_every``
    steps make the run last; ``max_batch`` caps the points of one request."""
    return {
        "name": name, "experiment_id": experiment_id, "iterations": iterations,
        "metrics": metrics, "steps": steps, "sleep": sleep, "sleep_every": sleep_every,
        "max_batch": max_batch,
    }  # fmt: skip


def start_training(
    uri: str, home: Path, config: dict[str, Any], **env: str
) -> subprocess.Popen[str]:
    """Start :data:`TRAIN` in a fresh process with ``MLOPS_TRACKING_URI=uri`` and its own
    ``MLOPS_HOME`` (where its journal goes)."""
    environ = child_environ()
    environ.update(MLOPS_TRACKING_URI=uri, MLOPS_HOME=str(home), **env)
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN, json.dumps(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
    )  # fmt: skip


def read_started_id(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    """The id the training process printed for its first iteration."""
    assert proc.stdout is not None
    line = _readline(proc.stdout, timeout)
    assert line, f"the training process printed nothing: {_stderr_of(proc)}"
    started: str = json.loads(line)["started"]
    return started


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> tuple[list[dict[str, Any]], str]:
    """Wait for a training process: (what it printed, its stderr); fails on a non-zero exit or
    a traceback (no error may reach the training loop)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the training process did not end in {timeout} s: {err}") from None
    assert proc.returncode == 0, f"exit {proc.returncode}: {err}"
    assert "Traceback" not in err, err
    return [json.loads(line) for line in out.splitlines() if line.strip()], err


def _readline(stream: IO[str], timeout: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else ""


def _stderr_of(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    return proc.stderr.read() if proc.stderr is not None else ""


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``condition`` every 50 ms until it is truthy (and return it); fail after
    ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting until {what}"
        time.sleep(0.05)


def steady_port() -> int:
    """A free TCP port below the kernel's ephemeral range: no ``bind(0)`` and no outgoing
    connection of another process takes it while an App is down, so an App can be restarted
    on it (a port from :func:`conftest.free_port` may be handed out again meanwhile)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(100):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


def make_catalog(store_uri: str) -> tuple[str, str]:
    """A project and an experiment in the App's database: (project id, experiment id)."""
    from mlops.store.sql.store import SqlStore

    store = SqlStore(store_uri)
    try:
        project = store.create_project(f"resilience-{time.time_ns()}", None, "active", False)
        experiment = store.create_experiment(project.id, "chaos", None)
    finally:
        store.close()
    return project.id, experiment.id


# -- counting what the SQLite database holds -------------------------------------------------
@dataclass(frozen=True)
class Stored:
    """What an SQLite database holds of some iterations (read with ``sqlite3``, not mlops)."""

    points: int  # rows of metric_points
    distinct: int  # distinct (iteration, metric, step)
    steps: dict[str, int]  # metric -> distinct steps
    max_step: dict[str, int]  # metric -> highest step
    iterations: int  # rows of iterations with these ids
    statuses: list[str]  # their status column


def stored(db: Path, *iteration_ids: str) -> Stored:
    """Count the rows of ``iteration_ids`` in the App's SQLite file ``db``."""
    marks = ",".join("?" * len(iteration_ids))
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        points, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT iteration_id || '/' || name || '/' || step) "
            f"FROM metric_points WHERE iteration_id IN ({marks})",
            iteration_ids,
        ).fetchone()
        per_metric = conn.execute(
            "SELECT name, count(DISTINCT step), max(step) FROM metric_points "
            f"WHERE iteration_id IN ({marks}) GROUP BY name",
            iteration_ids,
        ).fetchall()
        statuses = [
            row[0]
            for row in conn.execute(
                f"SELECT status FROM iterations WHERE id IN ({marks})", iteration_ids
            )
        ]
    return Stored(
        int(points), int(distinct),
        {name: int(steps) for name, steps, _ in per_metric},
        {name: int(top) for name, _, top in per_metric},
        len(statuses), statuses,
    )  # fmt: skip


def iterations_named(db: Path, prefix: str) -> list[tuple[str, str, str]]:
    """(id, name, status) of every iteration whose name starts with ``prefix``: a retried
    start that made a second iteration would show here."""
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        rows = conn.execute(
            "SELECT id, name, status FROM iterations WHERE name LIKE ? ORDER BY name",
            (prefix + "%",),
        ).fetchall()
    return [(str(i), str(n), str(s)) for i, n, s in rows]


# -- a proxy that loses answers ----------------------------------------------------------------
Rule = Callable[[str, str, int], bool]  # (method, kind, nth request of that kind) -> drop?


def request_kind(method: str, path: str) -> str:
    """What a request of the REST contract does: create, batch, end, update or other."""
    path = path.split("?", 1)[0]
    if method == "POST" and path == "/api/v1/iterations":
        return "create"
    if method == "POST" and path.endswith("/batch"):
        return "batch"
    if method == "POST" and path.endswith("/end"):
        return "end"
    if method == "PATCH":
        return "update"
    return "other"


def drop_every_third_batch_first_end_and_create(method: str, kind: str, nth: int) -> bool:
    """The answers the proxy loses: every 3rd batch, the first end, the first create."""
    return (kind == "batch" and nth % 3 == 0) or (kind in ("end", "create") and nth == 1)


@dataclass
class ProxyStats:
    """What the proxy saw: requests per kind, answers it lost per kind, answers per status."""

    seen: collections.Counter[str] = field(default_factory=collections.Counter)
    dropped: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)


class DroppingProxy:
    """An HTTP/1.1 proxy on a loopback port in front of the App at ``upstream_port``.

    It forwards each request as it comes (keep-alive connections included) and reads the App's
    whole answer — so the App has finished, and committed, the request — and then, when
    ``rule(method, kind, nth)`` says so, closes the client's connection instead of forwarding
    that answer: to the client it looks as if the App died after doing the work.
    """

    def __init__(
        self, upstream_port: int, rule: Rule, rewrite: Callable[[str, bytes], bytes] | None = None
    ) -> None:
        self.upstream_port = upstream_port
        self.rule = rule
        #: ``rewrite(kind, body)``: the body the App gets instead (JSON in, JSON out)
        self.rewrite = rewrite
        self.stats = ProxyStats()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def reset(self, rule: Rule | None = None) -> None:
        """Count from zero again (so "the first end" is the next one), maybe with a new rule."""
        with self._lock:
            self.stats = ProxyStats()
            if rule is not None:
                self.rule = rule

    def close(self) -> None:
        """Stop listening and cut every open connection."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _cut(sock)

    def __enter__(self) -> DroppingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
        except OSError:
            _cut(client)
            return
        with self._lock:
            self._open.update((client, upstream))
        from_client, from_app = client.makefile("rb"), upstream.makefile("rb")
        try:
            while True:
                request = _read_message(from_client)
                if request is None:
                    return
                head, body = request
                method, path = head.split(b" ", 2)[:2]
                kind = request_kind(method.decode(), path.decode())
                if self.rewrite is not None and body:
                    head, body = _with_body(head, self.rewrite(kind, body))
                upstream.sendall(head + body)
                answer = _read_message(from_app)
                if answer is None:
                    return
                status = int(answer[0].split(b" ", 2)[1])
                with self._lock:
                    self.stats.seen[kind] += 1
                    self.stats.statuses[status] += 1
                    drop = self.rule(method.decode(), kind, self.stats.seen[kind])
                    if drop:
                        self.stats.dropped[kind] += 1
                if drop:
                    return  # the App did the work; the client never hears of it
                client.sendall(answer[0] + answer[1])
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard(client)
                self._open.discard(upstream)
            for stream in (from_client, from_app):
                with contextlib.suppress(OSError):
                    stream.close()
            _cut(client)
            _cut(upstream)


def _with_body(head: bytes, body: bytes) -> tuple[bytes, bytes]:
    """The message with another (not chunked) body: its Content-Length set to match."""
    lines = [
        line
        for line in head.rstrip(b"\r\n").split(b"\r\n")
        if not line.lower().startswith(b"content-length:")
    ]
    return b"\r\n".join([*lines, b"Content-Length: %d" % len(body)]) + b"\r\n\r\n", body


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def _read_message(stream: IO[bytes]) -> tuple[bytes, bytes] | None:
    """One HTTP/1.1 message (head, body) from a stream; None at the end of the stream. Bodies
    have a Content-Length or are chunked (kept as they came)."""
    head = b""
    while True:
        line = stream.readline(65536)
        if not line:
            return None
        head += line
        if line in (b"\r\n", b"\n"):
            break
    headers = {}
    for raw in head.split(b"\r\n")[1:]:
        name, _, value = raw.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            size_line = stream.readline(65536)
            body += size_line
            size = int(size_line.split(b";")[0], 16)
            body += stream.read(size + 2)  # the chunk and its CRLF
            if size == 0:
                return head, body
    length = int(headers.get(b"content-length", b"0"))
    body = stream.read(length) if length else b""
    return head, body


# -- an App with a small in-flight limit -------------------------------------------------------
_SERVE = """
import sys
from mlops.app.server import serve
from mlops.app.settings import AppSettings
serve(AppSettings(store_uri=sys.argv[1], port=int(sys.argv[2]), max_in_flight=int(sys.argv[3])))
"""


@contextlib.contextmanager
def app_with_limit(store_uri: str, port: int, max_in_flight: int) -> Iterator[str]:
    """A real App process (the same ``serve`` as ``mlops app``) that answers 503 with
    ``Retry-After`` beyond ``max_in_flight`` requests at once (``mlops app`` has no option for
    it); yields its URL once /health answers."""
    environ = child_environ()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, store_uri, str(port), str(max_in_flight)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environ,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(proc, url), "the App answers /health")
        yield url
    finally:
        _terminate(proc)


_STANDBY = """
import sys
import mlops.app  # the App's code and its route table
from mlops.app.server import serve
from mlops.app.settings import AppSettings
print("loaded", flush=True)
sys.stdin.readline()
serve(AppSettings(store_uri=sys.argv[1], port=int(sys.argv[2])))
"""


@contextlib.contextmanager
def standby_app(store_uri: str, port: int) -> Iterator[Callable[[], str]]:
    """An App process (the same ``serve`` as ``mlops app``) that has loaded its code but not
    yet opened its port; yields the function that starts it and returns its URL once /health
    answers. A restart through it takes the App's start-up, not Python's imports (seconds on a
    loaded machine)."""
    environ = child_environ()
    proc = subprocess.Popen(
        [sys.executable, "-c", _STANDBY, store_uri, str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=environ,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    line = _readline(proc.stdout, 60)
    assert line.strip() == "loaded", f"the standby App did not load: {_stderr_of(proc)}"
    url = f"http://127.0.0.1:{port}"

    def start() -> str:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        wait_until(lambda: _healthy(proc, url), "the restarted App answers /health")
        return url

    try:
        yield start
    finally:
        _terminate(proc)


def _healthy(proc: subprocess.Popen[str], url: str) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"the App exited: {_stderr_of(proc)}")
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200
    return False


def _terminate(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def held_slot(port: int, attempts: int = 50) -> Iterator[None]:
    """Hold one of the App's in-flight slots: a POST whose body does not arrive. It asks
    ``Expect: 100-continue``, so the App says "100 Continue" once it has admitted the request
    and waits for the body: the slot is held (when it answers 503 instead, every slot was
    taken: try again). Leaving the block sends the body."""
    body = json.dumps({"title": f"held-{time.time_ns()}"}).encode()
    head = (
        "POST /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    for _ in range(attempts):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(head)
        reader = sock.makefile("rb")
        if reader.readline().startswith(b"HTTP/1.1 100"):
            break  # admitted, and waiting for the body: the slot is ours
        _cut(sock)  # refused at once: another request had the slot
        time.sleep(0.05)
    else:
        raise AssertionError(f"could not hold a slot of the App in {attempts} attempts")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            sock.sendall(body)
            while reader.readline() not in (b"", b"\r\n"):
                pass  # the rest of "100 Continue"
            reader.readline()  # the status line of its answer: the slot is free again
        reader.close()
        _cut(sock)

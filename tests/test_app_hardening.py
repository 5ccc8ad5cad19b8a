"""The App under abuse and faults, as a real process on real sockets: slow bodies, one client
taking every slot, storage errors, malformed requests, a burst of writes."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import AppProcess
from mlops.errors import StorageError, Unavailable
from mlops.store.sql.store import SqlStore

API = "/api/v1"
StartApp = Callable[..., AppProcess]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Wait for ``condition`` to hold (polling), failing with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def _tokens(uri: str, *names: str) -> list[str]:
    store = SqlStore(uri)
    try:
        return [store.create_token(name, "write")[0] for name in names]
    finally:
        store.close()


class SlowClients:
    """``count`` raw sockets that each send the headers of a POST and then its body one byte
    at a time, a byte a second, from a background thread."""

    def __init__(self, port: int, count: int, headers: dict[str, str], length: int = 200) -> None:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"POST {API}/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
        ).encode()
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        for sock in self.sockets:
            sock.sendall(request)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(1.0):
            for sock in self.sockets:
                with contextlib.suppress(OSError):  # answered and closed by the App
                    sock.send(b" ")

    def answers(self, timeout: float) -> list[tuple[int, bool | None]]:
        """(status, whether the App then closed the connection) of every socket, waiting up to
        ``timeout`` in all; "closed" is checked for 408 answers only (None for the others)."""
        deadline = time.monotonic() + timeout
        return [_answer(sock, deadline) for sock in self.sockets]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


def _answer(sock: socket.socket, deadline: float) -> tuple[int, bool | None]:
    data = b""
    while True:
        head, _, body = data.partition(b"\r\n\r\n")
        if _:
            length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n")[0])
            if len(body) >= length:
                break
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)  # a timeout here fails the test: no answer in time
        if not chunk:
            raise AssertionError(f"the App closed the connection without an answer: {data!r}")
        data += chunk
    status = int(data.split(b" ", 2)[1])
    if status != 408:
        return status, None
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        return status, sock.recv(65536) == b""
    except ConnectionResetError:
        return status, True


@pytest.fixture
def slow_clients() -> Iterator[Callable[..., SlowClients]]:
    opened: list[SlowClients] = []

    def open_(*args: Any, **kwargs: Any) -> SlowClients:
        clients = SlowClients(*args, **kwargs)
        opened.append(clients)
        return clients

    yield open_
    for clients in opened:
        clients.close()


def test_slow_bodies_of_one_token_leave_health_and_other_tokens_alone(
    start_app: StartApp, slow_clients: Callable[..., SlowClients], tmp_path: Path
) -> None:
    """70 sockets with one token send a body a byte a second: the token gets its share of the
    slots (16 of 64) and 503 beyond it; /health answers, another token writes, and each slow
    body that was let in is answered 408 and its connection closed after the body timeout."""
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    slow_token, other_token = _tokens(uri, "slow", "other")
    app = start_app(uri, "--auth", "--body-timeout", "6")
    slow = {"Authorization": f"Bearer {slow_token}"}
    started = time.monotonic()
    clients = slow_clients(app.port, 70, slow)

    def share_taken() -> bool:
        answer = httpx.get(f"{app.url}{API}/projects", headers=slow, timeout=5)
        return answer.status_code == 503 and "16 requests in flight" in answer.text

    wait_until(share_taken, "the slow token holds its 16 slots")
    assert httpx.get(f"{app.url}{API}/health", timeout=5).status_code == 200
    other = {"Authorization": f"Bearer {other_token}"}
    created = httpx.post(f"{app.url}{API}/projects", json={"title": "ok"}, headers=other)
    assert created.status_code == 201, created.text
    assert httpx.get(f"{app.url}{API}/projects", headers=other).status_code == 200
    assert share_taken()  # all of the above happened while the slow bodies held their slots

    answers = clients.answers(timeout=15)
    assert sorted(answers, key=str) == [(408, True)] * 16 + [(503, None)] * 54
    assert time.monotonic() - started >= 6
    wait_until(
        lambda: httpx.get(f"{app.url}{API}/projects", headers=slow).status_code == 200,
        "the slow token can send again once its slots are free",
    )


def test_a_client_without_a_valid_token_takes_no_slot(
    start_app: StartApp, slow_clients: Callable[..., SlowClients], tmp_path: Path
) -> None:
    """With --auth, 70 slow bodies without a token, or with a wrong one, are refused 401 at
    once: they never wait for their body, and the App keeps answering."""
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    (token,) = _tokens(uri, "ok")
    app = start_app(uri, "--auth", "--body-timeout", "30")
    started = time.monotonic()
    nobody = slow_clients(app.port, 35, {})
    wrong = slow_clients(app.port, 35, {"Authorization": "Bearer mlops_not-a-token"})
    answers = nobody.answers(timeout=25) + wrong.answers(timeout=25)
    assert {status for status, _ in answers} == {401}
    assert time.monotonic() - started < 25  # before the 30 s body timeout
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{app.url}{API}/projects", json={"title": "t"}, headers=headers)
    assert created.status_code == 201


def test_behind_a_proxy_each_forwarded_client_has_its_own_share(
    start_app: StartApp, slow_clients: Callable[..., SlowClients], tmp_path: Path
) -> None:
    """Without --auth, a client is its address: behind a load balancer (here: 127.0.0.1,
    trusted with --forwarded-allow-ips) that is the X-Forwarded-For address, so one client's
    slow bodies leave the others their slots."""
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    app = start_app(
        uri, "--forwarded-allow-ips", "127.0.0.1", "--max-in-flight-per-client", "4",
        "--body-timeout", "20",
    )  # fmt: skip
    slow_clients(app.port, 10, {"X-Forwarded-For": "10.0.0.1"})
    greedy = {"X-Forwarded-For": "10.0.0.1"}

    def share_taken() -> bool:
        answer = httpx.get(f"{app.url}{API}/projects", headers=greedy, timeout=5)
        return answer.status_code == 503 and "4 requests in flight" in answer.text

    wait_until(share_taken, "10.0.0.1 holds its 4 slots")
    polite = {"X-Forwarded-For": "10.0.0.2"}
    created = httpx.post(f"{app.url}{API}/projects", json={"title": "p"}, headers=polite)
    assert created.status_code == 201, created.text


def test_malformed_requests_get_the_status_that_says_what_happened(
    start_app: StartApp, tmp_path: Path
) -> None:
    """Raw requests to a real App: bad JSON (422 naming where), a body that is not text (422),
    an oversized chunked body (413 with the limit, like one with a Content-Length), a Host
    that is not a plain host[:port] (400)."""
    app = start_app(f"sqlite:///{tmp_path / 'app.db'}")
    json_type = {"Content-Type": "application/json"}
    with httpx.Client(base_url=app.url + API, timeout=30) as client:
        broken = client.post(
            "/projects", content=b'{"title": "x",\n "description": }', headers=json_type
        )
        error = broken.json()["error"]
        assert broken.status_code == 422 and error["code"] == "invalid_input"
        assert "not valid JSON" in error["message"] and "line 2, column 17" in error["message"]
        binary = client.post("/projects", content=b'{"title": "\xff"}', headers=json_type)
        assert (
            binary.status_code == 422 and "0xff at position 11" in binary.json()["error"]["message"]
        )

        def chunks() -> Iterator[bytes]:
            yield b'{"title": "'
            for _ in range(33):
                yield b"x" * (1024 * 1024)
            yield b'"}'

        huge = client.post("/projects", content=chunks(), headers=json_type)
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
        assert "33,554,432 bytes" in huge.json()["error"]["message"]
        # the connection is still good: the App dropped the rest of the body
        assert client.get("/projects").json()["projects"] == []
        for host in ("127.0.0.1:1@evil.example", "127.0.0.1/x", "evil.example", ""):
            answer = client.get("/projects", headers={"Host": host})
            assert answer.status_code == 400, host
            assert answer.json()["error"]["code"] == "host_not_allowed"
        assert client.get("/projects", headers={"Host": "localhost:8080"}).status_code == 200


def test_a_damaged_database_answers_a_storage_error_not_unreachable(
    start_app: StartApp, tmp_path: Path
) -> None:
    """Pages in the middle of the App's SQLite file overwritten after data was logged: the App
    answers 500 ``storage_error`` with what SQLite said (not a retryable 503 "unreachable"),
    and the HTTP client raises StorageError at once, without retrying."""
    db = tmp_path / "app.db"
    uri = f"sqlite:///{db}"
    store = SqlStore(uri)
    project = store.create_project("p", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    store.create_iteration("it-1", "one", experiment.id, None, time.time(), {})
    rows = [("loss", step, 1.0 / (step + 1), 0.0) for step in range(20_000)]
    store.log_batch("it-1", metrics=rows)
    store.close()
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    size = db.stat().st_size
    with open(db, "r+b") as file:
        file.seek(size // 3)
        file.write(b"\xa5" * (size // 3))
    app = start_app(uri)
    answer = httpx.get(f"{app.url}{API}/iterations/it-1/metrics/loss", timeout=10)
    error = answer.json()["error"]
    assert answer.status_code == 500 and error["code"] == "storage_error", answer.text
    assert "malformed" in error["message"] and "App's log" in error["message"]
    assert "retry-after" not in answer.headers and "unreachable" not in error["message"]

    from mlops.store.http import HttpStore

    client = HttpStore(app.url, home=tmp_path / "client-home")
    started = time.monotonic()
    with pytest.raises(StorageError, match="malformed") as raised:
        client.get_metric_history("it-1", "loss")
    assert not isinstance(raised.value, Unavailable) and time.monotonic() - started < 2
    client.close()
    app.stop()
    assert "storage error on GET /api/v1/iterations/it-1/metrics/loss" in app.proc.stderr.read()  # type: ignore[union-attr]


def test_database_errors_are_sorted_into_storage_errors_and_unavailable(
    tmp_path: Path,
) -> None:
    """Real engines: SQLite's 64-table join limit and a number beyond 64 bits are storage
    errors; a PostgreSQL server that does not answer is Unavailable."""
    from sqlalchemy import text

    from mlops.store.sql.engine import make_engine, transaction

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with transaction(engine, write=True, what="set up") as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
    joins = ", ".join(f"t t{i}" for i in range(65))
    join_limit = pytest.raises(StorageError, match="at most 64 tables in a join")
    with join_limit, transaction(engine, write=False, what="join") as conn:
        conn.execute(text(f"SELECT 1 FROM {joins}"))
    overflow = pytest.raises(StorageError, match="too large")
    with overflow, transaction(engine, write=True, what="insert") as conn:
        conn.execute(text("INSERT INTO t VALUES (:a)"), {"a": 2**70})
    engine.dispose()
    down = make_engine("postgresql://nobody@127.0.0.1:1/none")
    unreachable = pytest.raises(Unavailable, match="unavailable")
    with unreachable, transaction(down, write=False, what="read") as conn:
        conn.execute(text("SELECT 1"))
    down.dispose()


BURST = 12


def test_a_burst_of_batches_is_pushed_back_early_and_nothing_is_lost(
    start_app: StartApp, tmp_path: Path
) -> None:
    """12 batches of 3,000 points at once into an App that runs one write at a time and lets a
    write wait 0.2 s: some are answered 503 with Retry-After at once instead of queueing; sent
    again, every one is stored."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    uri = f"sqlite:///{tmp_path / 'app.db'}"
    app = start_app(uri, "--max-writes", "1", "--write-wait", "0.2")
    with httpx.Client(base_url=app.url + API) as client:
        project = client.post("/projects", json={"title": "p"}).json()
        experiment = client.post(
            "/experiments", json={"project_id": project["id"], "name": "e"}
        ).json()
        for n in range(BURST):
            body = {"id": f"it-{n}", "name": f"it-{n}", "experiment_id": experiment["id"]}
            created = client.post("/iterations", json={**body, "started_at": time.time()})
            assert created.status_code == 201, created.text
    bodies = {
        n: json.dumps({"metrics": [["m", s, s / 3, 0.0] for s in range(3000)]}).encode()
        for n in range(BURST)
    }
    barrier = threading.Barrier(BURST)

    def send(n: int) -> httpx.Response:
        with httpx.Client(base_url=app.url + API, timeout=30) as client:
            barrier.wait()
            return client.post(
                f"/iterations/it-{n}/batch",
                content=bodies[n],
                headers={"Content-Type": "application/json"},
            )

    with ThreadPoolExecutor(BURST) as pool:
        answers = dict(zip(range(BURST), pool.map(send, range(BURST)), strict=True))
    pushed_back = [n for n, answer in answers.items() if answer.status_code == 503]
    assert {a.status_code for a in answers.values()} <= {200, 503}
    assert pushed_back and len(pushed_back) < BURST
    for n in pushed_back:
        error = answers[n].json()["error"]
        assert error["code"] == "unavailable" and "busy writing" in error["message"]
        assert int(answers[n].headers["retry-after"]) >= 1
    with httpx.Client(base_url=app.url + API, timeout=30) as client:
        for n in pushed_back:
            while (again := send_one(client, n, bodies[n])).status_code == 503:
                time.sleep(float(again.headers["retry-after"]) / 10)
            assert again.status_code == 200, again.text
        for n in range(BURST):
            history = client.get(f"/iterations/it-{n}/metrics/m").json()
            assert history["total"] == 3000


def send_one(client: httpx.Client, n: int, body: bytes) -> httpx.Response:
    """POST one batch of iteration ``it-<n>``."""
    return client.post(
        f"/iterations/it-{n}/batch", content=body, headers={"Content-Type": "application/json"}
    )


def test_the_write_gate_takes_turns_in_order_and_pushes_back_when_the_queue_is_long() -> None:
    """The gate on its own: one turn at a time, handed to the next in arrival order; a write
    that would wait longer than allowed is refused at once, one that waited too long gives up."""
    import asyncio

    from mlops.app.admission import WriteGate

    async def scenario() -> None:
        gate = WriteGate(slots=1, max_wait=0.5)
        assert await gate.enter() is None
        order: list[str] = []

        async def write(name: str) -> float | None:
            wait = await gate.enter()
            if wait is None:
                order.append(name)
                gate.leave(0.1)
            return wait

        second = asyncio.ensure_future(write("second"))
        third = asyncio.ensure_future(write("third"))
        await asyncio.sleep(0)
        assert len(gate.waiting) == 2
        gate.leave(0.1)
        assert await second is None and await third is None
        assert order == ["second", "third"] and gate.running == 0

        assert await gate.enter() is None
        gate.write_seconds = 2.0  # writes have been taking 2 s: a queue of one is too long
        started = asyncio.get_running_loop().time()
        assert await gate.enter() == 2.0
        assert asyncio.get_running_loop().time() - started < 0.1
        gate.write_seconds = 0.1
        waited = await gate.enter()  # nobody leaves: it gives up after max_wait
        assert waited is not None and waited >= 1.0 and not gate.waiting
        gate.leave(0.1)
        assert gate.running == 0

    asyncio.run(scenario())

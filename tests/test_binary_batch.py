"""A batch's points as columns on the wire (``mlops.wire_batch``): the HTTP store sends a batch
of many points in the binary form, the App reads it as it reads JSON rows, and an App that
refuses the form gets JSON. Every test runs a real App process."""

from __future__ import annotations

import json
import math
import sqlite3
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import AppProcess
from mlops.errors import InvalidInput
from mlops.store.http import HttpStore
from mlops.store.http_codec import BINARY_MIN_POINTS, batch_body, binary_batch
from mlops.wire import MAX_BATCH_POINTS
from mlops.wire_batch import BATCH_MEDIA_TYPE, decode_batch, encode_batch
from resilience_support import DroppingProxy, make_catalog, stored

pytestmark = pytest.mark.timeout(120)

BINARY = {"Content-Type": BATCH_MEDIA_TYPE}
names = st.text(min_size=1, max_size=20).filter(lambda n: n.strip() == n)
points = st.lists(
    st.tuples(
        names,
        st.integers(0, 2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(0, 4e9),
    ),
    max_size=50,
)


@settings(max_examples=200, deadline=None)
@given(points)
def test_every_bit_of_every_point_comes_back(rows: list[tuple[str, int, float, float]]) -> None:
    body = json.dumps({"metrics": [], "tags": {"k": "v"}}).encode()
    encoded = encode_batch(body, rows)
    assert encoded is not None
    head, block = decode_batch(encoded)
    assert json.loads(head) == {"metrics": [], "tags": {"k": "v"}}
    back = block.rows()
    assert [(n, s) for n, s, _v, _t in back] == [(n, s) for n, s, _v, _t in rows]
    as_bits = [struct.pack("<dd", v, t) for _n, _s, v, t in rows]  # NaN payloads, -0.0
    assert [struct.pack("<dd", v, t) for _n, _s, v, t in back] == as_bits


def test_a_step_past_int64_is_left_to_the_json_request() -> None:
    assert encode_batch(b"{}", [("loss", 2**63, 0.5, 1.0)]) is None


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[AppProcess, Path, str]]:
    db = tmp_path / "app.db"
    _project_id, experiment_id = make_catalog(f"sqlite:///{db}")
    process = AppProcess(f"sqlite:///{db}")
    try:
        yield process, db, experiment_id
    finally:
        process.stop()


def _rows(count: int, start: int = 0) -> list[tuple[str, int, float, float]]:
    now = time.time()
    return [(f"m{i % 3}", start + i // 3, 1.0 / (i + 1), now) for i in range(count)]


def _seen_binary(seen: list[bool]) -> Callable[[str, bytes], bytes]:
    def rewrite(kind: str, body: bytes) -> bytes:
        if kind in ("batch", "end"):
            seen.append(body.startswith(b"MLBT"))
        return body

    return rewrite


def test_the_http_store_sends_many_points_as_columns_and_few_as_json(
    app: tuple[AppProcess, Path, str], tmp_path: Path
) -> None:
    process, db, experiment_id = app
    seen: list[bool] = []
    with DroppingProxy(process.port, lambda *_: False, rewrite=_seen_binary(seen)) as proxy:
        store = HttpStore(proxy.url, home=tmp_path / "home")
        try:
            it = store.create_iteration("cols", "cols", experiment_id, None, time.time(), {})
            store.log_batch(it.id, metrics=_rows(3_000), parameters={"lr": math.nan})
            store.log_batch(it.id, metrics=_rows(BINARY_MIN_POINTS - 1, start=1_000))
            nan = [("m0", 2_000, math.nan, time.time()), ("m1", 2_000, -math.inf, 1.0)]
            store.end_iteration(it.id, "finished", time.time(), metrics=_rows(600, 3_000) + nan)
            history = store.get_metric_history(it.id, "m1")
            got = store.get_iteration(it.id)
        finally:
            store.close()
    assert seen == [True, False, True]
    assert stored(db, "cols").points == 3_000 + BINARY_MIN_POINTS - 1 + 602
    assert [p.step for p in history][:3] == [0, 1, 2] and history[-1].step == 3_199
    assert _stored_value(db, "m0", 2_000) is None  # how SQLite keeps a NaN
    assert any(p.step == 2_000 and p.value == -math.inf for p in history)
    assert got.status == "finished" and math.isnan(got.parameters["lr"])


def _stored_value(db: Path, name: str, step: int) -> object:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT value FROM metric_points WHERE name = ? AND step = ?", (name, step)
        ).fetchone()
    assert row is not None, f"no point {name}@{step}"
    return row[0]


def _refused(kind: str, body: bytes) -> bytes:
    """An App that does not take the binary form: the App answers it as malformed."""
    return b"not a batch" if body.startswith(b"MLBT") else body


def test_an_app_that_refuses_the_binary_form_gets_json_and_every_point(
    app: tuple[AppProcess, Path, str], tmp_path: Path
) -> None:
    process, db, experiment_id = app
    with DroppingProxy(process.port, lambda *_: False, rewrite=_refused) as proxy:
        store = HttpStore(proxy.url, home=tmp_path / "home")
        try:
            it = store.create_iteration("old", "old", experiment_id, None, time.time(), {})
            store.log_batch(it.id, metrics=_rows(1_000))
            store.log_batch(it.id, metrics=_rows(1_000, start=1_000))
            store.end_iteration(it.id, "finished", time.time(), metrics=_rows(500, 2_000))
        finally:
            store.close()
        # the first batch is refused once (422) and sent again as JSON; the rest go as JSON
        assert proxy.stats.statuses[422] == 1
        assert proxy.stats.seen["batch"] == 3 and proxy.stats.seen["end"] == 1
    assert stored(db, "old").points == 2_500


def test_a_batch_the_app_refuses_for_its_data_leaves_the_binary_form_in_use(
    app: tuple[AppProcess, Path, str], tmp_path: Path
) -> None:
    process, db, experiment_id = app
    seen: list[bool] = []
    with DroppingProxy(process.port, lambda *_: False, rewrite=_seen_binary(seen)) as proxy:
        store = HttpStore(proxy.url, home=tmp_path / "home")
        try:
            it = store.create_iteration("data", "data", experiment_id, None, time.time(), {})
            bad = batch_body(metrics=[("", 0, 1.0, 1.0), *_rows(200)])  # no name: refused
            with pytest.raises(InvalidInput, match="metric name"):
                store._send(("log_batch", it.id, bad), time.monotonic() + 10)
            store.log_batch(it.id, metrics=_rows(300))
        finally:
            store.close()
        # the refused batch as binary, then as JSON (refused again); the next one binary
        assert seen == [True, False, True] and proxy.stats.statuses[422] == 2
    assert stored(db, "data").points == 300


def _binary(body: dict[str, object], op: str = "log_batch") -> bytes:
    encoded = binary_batch(op, body)
    assert encoded is not None
    return encoded


def test_malformed_binary_batches_get_errors_that_say_what_is_wrong(
    app: tuple[AppProcess, Path, str],
) -> None:
    process, db, experiment_id = app
    good = _binary(batch_body(metrics=_rows(200)))
    header = struct.Struct("<4sB3xQII")
    magic, version, _count, body_size, names_size = header.unpack_from(good)
    wrong_index = good[:-4] + struct.pack("<I", 99)
    json_rows = batch_body(metrics=_rows(200))
    both = encode_batch(json.dumps(json_rows).encode(), _rows(200))
    too_many = header.pack(magic, version, MAX_BATCH_POINTS + 1, body_size, names_size)
    cases = {
        b"MLB": (422, "24-byte header"),
        b"XXXX" + good[4:]: (422, "starts with b'MLBT'"),
        good[:-1]: (422, "cut short"),
        wrong_index: (422, "each point's index"),
        both: (422, "leave the body's metrics empty"),
        too_many + good[header.size :]: (413, f"at most {MAX_BATCH_POINTS:,}"),
    }
    with httpx.Client(base_url=process.url + "/api/v1") as client:
        it = client.post(
            "/iterations",
            json={"id": "bad", "name": "bad", "experiment_id": experiment_id,
                  "started_at": time.time()},
        )  # fmt: skip
        assert it.status_code == 201, it.text
        for content, (status, message) in cases.items():
            answer = client.post("/iterations/bad/batch", content=content, headers=BINARY)
            assert answer.status_code == status, (content[:8], answer.text)
            assert message in answer.json()["error"]["message"]
        elsewhere = client.post("/projects", content=good, headers=BINARY)
        assert elsewhere.status_code == 415
        assert "Content-Type: application/json" in elsewhere.json()["error"]["message"]
        ok = client.post("/iterations/bad/batch", content=good, headers=BINARY)
        assert ok.status_code == 200 and ok.json()["points"] == 200
        end = {"status": "finished", "ended_at": time.time(), "batch": batch_body()}
        start = {"id": "whole", "name": "whole", "experiment_id": experiment_id,
                 "started_at": time.time()}  # fmt: skip
        whole = {**end, "batch": batch_body(metrics=_rows(150)), "start": start}
        ended = client.post(
            "/iterations/whole/end", content=_binary(whole, "end_iteration"), headers=BINARY
        )
        assert ended.status_code == 200, ended.text
        assert ended.json()["status"] == "finished" and set(ended.json()["metrics"]) == {
            "m0", "m1", "m2",
        }  # fmt: skip
    assert stored(db, "bad").points == 200 and stored(db, "whole").points == 150

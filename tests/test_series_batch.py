"""One metric of many iterations read at once (``Store.get_metric_series_batch``, what
``GET /series`` answers): on every backend the same series as the one-by-one reads, the
downsampling exactly as ``get_metric_series`` documents it, live increments after a step, and
the same answer as before for unknown iterations."""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops.app import AppSettings, create_app
from mlops.entities import MetricPoint
from mlops.errors import InvalidInput, NotFound
from mlops.series import MetricColumns
from mlops.store.base import MetricRow, Store


def _bits(value: float) -> str:
    return struct.pack("<d", value).hex()


def _same(columns: MetricColumns, points: Sequence[MetricPoint]) -> bool:
    """Columns and points hold the same points, every value bit for bit (timestamps to the
    microsecond: the App's points carry them as ISO 8601 text)."""
    return (
        list(columns.steps) == [p.step for p in points]
        and [_bits(v) for v in columns.values] == [_bits(p.value) for p in points]
        and list(columns.timestamps) == pytest.approx([p.timestamp for p in points], abs=1e-6)
    )


def _experiment(store: Store) -> str:
    project = store.create_project("series-batch", None, "active", False)
    return store.create_experiment(project.id, "e", None).id


def _value(n: int, step: int) -> float:
    if n == 2 and step % 97 == 5:
        return math.nan  # gaps
    if n == 3 and step == 333:
        return 1e9  # one spike
    return (n + 1) / (1 + step / 20) + (step % 7) / 100


#: Iterations and how many steps of "loss" each has (0: it has only "acc").
LENGTHS = [30, 3000, 2000, 1500, 4, 0, 700]


@pytest.fixture
def curves(store: Store) -> tuple[Store, list[str]]:
    """Iterations whose "loss" series are short, long, with gaps (NaN), with a spike, with
    several values at some steps (``every_value``), and one without "loss"."""
    experiment_id = _experiment(store)
    now = time.time()
    ids = []
    for n, length in enumerate(LENGTHS):
        iteration_id = f"curve-{n}"
        store.create_iteration(iteration_id, f"curve-{n}", experiment_id, None, now, {})
        rows: list[MetricRow] = [("loss", s, _value(n, s), now + s / 8) for s in range(length)]
        store.log_batch(iteration_id, metrics=rows or [("acc", 0, 0.5, now)])
        if n == 6:  # a second and third value at some steps
            again: list[MetricRow] = [("loss", s, -float(s), now + s) for s in range(0, 700, 3)]
            third: list[MetricRow] = [("loss", s, -2.0 * s - 1, now) for s in range(0, 150, 3)]
            store.log_batch(iteration_id, metrics=again + third, every_value=True)
        ids.append(iteration_id)
    return store, ids


def _reference(points: Sequence[MetricPoint], max_points: int) -> list[MetricPoint]:
    """The downsampling get_metric_series documents, written out plainly: buckets of equal
    widths of steps (of equal counts of points when some step has several values), each
    giving the first point of its lowest value, of its highest value and of NaN; the first
    and the last point always."""
    if len(points) <= max_points:
        return list(points)
    has_nan = any(math.isnan(p.value) for p in points)
    buckets = max(1, (max_points - 2) // (3 if has_nan else 2))
    steps = [p.step for p in points]
    if len(set(steps)) == len(steps):
        width = -(-(steps[-1] - steps[0] + 1) // buckets)
        bucket_of = [(s - steps[0]) // width for s in steps]
    else:
        width = -(-len(points) // buckets)
        bucket_of = [k // width for k in range(len(points))]
    picked = {0, len(points) - 1}
    for bucket in set(bucket_of):
        inside = [k for k, b in enumerate(bucket_of) if b == bucket]
        valued = [k for k in inside if not math.isnan(points[k].value)]
        if valued:
            lowest = min(points[k].value for k in valued)
            highest = max(points[k].value for k in valued)
            picked.add(next(k for k in valued if points[k].value == lowest))
            picked.add(next(k for k in valued if points[k].value == highest))
        picked.update([k for k in inside if math.isnan(points[k].value)][:1])
    return [points[k] for k in sorted(picked)]


@pytest.mark.parametrize("max_points", [4, 25, 1000, 5000])
def test_a_batch_is_the_series_read_one_by_one(
    curves: tuple[Store, list[str]], max_points: int
) -> None:
    store, ids = curves
    having = [i for i, length in zip(ids, LENGTHS, strict=True) if length]
    asked = [having[3], *having, having[0]]  # out of order, with duplicates
    batch = store.get_metric_series_batch(asked, "loss", max_points)
    assert list(batch) == list(dict.fromkeys(asked))  # in the order asked, once each
    for iteration_id, (columns, total) in batch.items():
        history = store.get_metric_history(iteration_id, "loss")
        points, counted = store.get_metric_series(iteration_id, "loss", max_points)
        assert total == counted == len(history)
        assert _same(columns, points), iteration_id
        assert _same(columns, _reference(history, max_points)), iteration_id
        one, _ = store.get_metric_series_columns(iteration_id, "loss", max_points)
        assert one == columns


def test_the_downsampled_curves_keep_gaps_spikes_and_their_ends(
    curves: tuple[Store, list[str]],
) -> None:
    store, ids = curves
    batch = store.get_metric_series_batch(ids[1:5], "loss", 100)
    gaps, _ = batch[ids[2]]
    assert any(math.isnan(v) for v in gaps.values) and len(gaps) <= 100
    spike, _ = batch[ids[3]]
    assert 1e9 in spike.values and len(spike) <= 100
    for iteration_id, length in zip(ids[1:5], LENGTHS[1:5], strict=True):
        columns, total = batch[iteration_id]
        assert total == length and columns.steps[0] == 0 and columns.steps[-1] == length - 1


def test_increments_are_the_points_after_a_step(curves: tuple[Store, list[str]]) -> None:
    store, ids = curves
    batch = store.get_metric_series_batch(ids, "loss", 50, after_step=1995)
    assert list(batch) == ids
    for iteration_id, (columns, total) in batch.items():
        page = store.get_metric_page(iteration_id, "loss", 1995, 50)
        assert total == len(columns) == len(page) and _same(columns, page)
    assert list(batch[ids[1]][0].steps) == list(range(1996, 2046))  # at most 50, not downsampled
    assert list(batch[ids[2]][0].steps) == [1996, 1997, 1998, 1999]  # what there is
    for nothing in (ids[0], ids[5]):  # nothing after the step; no such series
        assert batch[nothing] == (MetricColumns(), 0)
    # a full page ends with every value of its last step
    several, _ = store.get_metric_series_batch([ids[6]], "loss", 4, after_step=3)[ids[6]]
    assert list(several.steps) == [4, 5, 6, 6, 6]
    assert _same(several, store.get_metric_page(ids[6], "loss", 3, 4))
    assert several.values[2:].tolist() == [_value(6, 6), -6.0, -13.0]
    for limit, steps in ((5, [3, 3, 3, 4, 5]), (6, [3, 3, 3, 4, 5, 6, 6, 6])):
        cut, _ = store.get_metric_series_batch([ids[6]], "loss", limit, after_step=2)[ids[6]]
        assert list(cut.steps) == steps


def test_a_page_may_ask_for_every_point(curves: tuple[Store, list[str]]) -> None:
    store, ids = curves
    every = store.get_metric_page(ids[0], "loss", None, 2**63 - 1)
    assert [p.step for p in every] == list(range(30))


def test_unknown_iterations_keep_their_answers(curves: tuple[Store, list[str]]) -> None:
    store, ids = curves
    with pytest.raises(NotFound, match="'ghost' not found"):
        store.get_metric_series_batch([ids[0], "ghost", ids[5]], "loss", 100)
    with pytest.raises(NotFound, match=r"curve-5' has no metric 'loss' \(its metrics: acc\)"):
        store.get_metric_series_batch([ids[0], ids[5], "ghost"], "loss", 100)
    live = store.get_metric_series_batch(["ghost", ids[0]], "loss", 100, after_step=10)
    assert live["ghost"] == (MetricColumns(), 0) and list(live[ids[0]][0].steps) == [*range(11, 30)]
    assert store.get_metric_series_batch([], "loss", 100) == {}


@pytest.mark.parametrize(
    ("ids", "max_points", "after_step", "words"),
    [
        ("curve-0", 100, None, "must be a list of ids"),
        ([7], 100, None, "an iteration id is a string"),
        ([f"i{k}" for k in range(1001)], 100, None, "at most 1,000 iterations"),
        (["curve-0"], 3, None, "max_points must be at least 4, got 3"),
        (["curve-0"], 100, "5", "after_step must be an integer"),
    ],
)
def test_bad_batches_say_what_to_fix(
    store: Store, ids: Any, max_points: Any, after_step: Any, words: str
) -> None:
    with pytest.raises(InvalidInput, match=words):
        store.get_metric_series_batch(ids, "loss", max_points, after_step)


@pytest.mark.parametrize("store_uri", ["http"], indirect=True)  # how HttpStore reads an App
def test_the_http_store_takes_points_from_an_app_older_than_columns(
    curves: tuple[Store, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.store.http import HttpStore

    store, ids = curves
    assert isinstance(store, HttpStore)
    real = store._call

    def older(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if path == "/series":  # an App before format=columns ignores it
            kwargs["params"] = {k: v for k, v in kwargs["params"].items() if k != "format"}
        return real(method, path, *args, **kwargs)

    for after_step in (None, 10):
        monkeypatch.setattr(store, "_call", older)
        batch = store.get_metric_series_batch(ids[:3], "loss", 25, after_step)
        monkeypatch.setattr(store, "_call", real)
        want = store.get_metric_series_batch(ids[:3], "loss", 25, after_step)
        assert list(batch) == list(want)
        for iteration_id, (columns, total) in batch.items():
            assert total == want[iteration_id][1]
            assert _same(columns, want[iteration_id][0].points())


def test_the_sql_store_reads_a_batch_in_few_statements(sql_store: Any) -> None:
    from sqlalchemy import event

    store, ids = sql_store, []
    experiment_id = _experiment(store)
    now = time.time()
    for n in range(40):
        iteration_id = f"many-{n}"
        store.create_iteration(iteration_id, iteration_id, experiment_id, None, now, {})
        length = 50 if n % 2 else 400
        rows: list[MetricRow] = [("loss", s, _value(n % 4, s), now) for s in range(length)]
        store.log_batch(iteration_id, metrics=rows)
        ids.append(iteration_id)
    sent: list[str] = []

    def count(*args: Any) -> None:
        if args[2].lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append(args[2])

    def statements(*args: Any, **kwargs: Any) -> int:
        sent.clear()
        event.listen(store._engine, "before_cursor_execute", count)
        try:
            store.get_metric_series_batch(*args, **kwargs)
        finally:
            event.remove(store._engine, "before_cursor_execute", count)
        return len(sent)

    assert statements(ids, "loss", 400) == 2, sent  # the counts, every series whole
    # 400 points for a chart of 100: read whole too, and downsampled in memory
    assert statements(ids, "loss", 100) == 2, sent
    # the counts, the whole ones, the shapes of the long ones, the long ones downsampled
    assert statements(ids, "loss", 50) == 4, sent
    assert statements(ids, "loss", 10, after_step=30) == 1, sent  # every page at once


def test_the_apps_series_answers_from_one_batch(tmp_path: Any) -> None:
    from mlops.store.sql.store import SqlStore

    uri = f"sqlite:///{tmp_path / 'a.db'}"
    store = SqlStore(uri)
    experiment_id = _experiment(store)
    now = time.time()
    for n in range(3):
        store.create_iteration(f"it-{n}", f"it-{n}", experiment_id, None, now, {})
        rows: list[MetricRow] = [("loss", s, _value(2, s), now + s) for s in range(300 * n + 5)]
        store.log_batch(f"it-{n}", metrics=rows)
    store.close()
    ids = ["it-0", "it-1", "it-2"]
    with TestClient(create_app(AppSettings(store_uri=uri)), base_url="http://127.0.0.1") as c:
        for extra in ({"max_points": 50}, {"after_step": 200, "max_points": 10}):
            params: dict[str, Any] = {"metric": "loss", "iteration_ids": ids, **extra}
            points = c.get("/api/v1/series", params=params).json()["series"]
            columns = c.get("/api/v1/series", params={**params, "format": "columns"}).json()
            for iteration_id in ids:
                want, got = points[iteration_id], columns["series"][iteration_id]
                assert got["steps"] == [p["step"] for p in want["points"]]
                assert got["values"] == [p["value"] for p in want["points"]]
                assert (got["downsampled"], got["total"]) == (want["downsampled"], want["total"])
        assert columns["series"]["it-0"] == {
            "steps": [], "values": [], "timestamps": [], "downsampled": False, "total": 0,
        }  # fmt: skip
        unknown = {"metric": "loss", "iteration_ids": ["it-1", "ghost"]}
        missing = c.get("/api/v1/series", params=unknown)
        assert missing.status_code == 404 and "ghost" in missing.json()["error"]["message"]
        live = c.get("/api/v1/series", params={**unknown, "after_step": 3}).json()["series"]
        assert live["ghost"] == {"points": [], "downsampled": False, "total": 0}
        assert [p["step"] for p in live["it-1"]["points"]][:2] == [4, 5]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from([0.0, -0.0, 1.0, 1.0, -1.0]),  # ties, and zeros of both signs
        ),
        min_size=1,
        max_size=300,
    ),
    gaps=st.lists(st.integers(1, 5), min_size=300, max_size=300),
    repeats=st.booleans(),
    max_points=st.integers(4, 60),
)
def test_downsampling_in_memory_picks_the_documented_points(
    values: list[float], gaps: list[int], repeats: bool, max_points: int
) -> None:
    """The in-memory downsampling (a series a few times longer than the chart, read whole)
    picks the points the documented algorithm picks, on sparse steps and on several values at
    one step; the SQL one is checked against the same reference above."""
    from array import array

    from mlops.store.sql.series_memory import downsample_whole

    steps, step = [], 0
    for k in range(len(values)):
        steps.append(step)
        if not (repeats and k % 3 == 1):  # every third point shares the step before it
            step += gaps[k]
    points = [
        MetricPoint(s, v, 1e9 + k) for k, (s, v) in enumerate(zip(steps, values, strict=True))
    ]
    columns = MetricColumns(
        array("q", steps), array("d", values), array("d", [p.timestamp for p in points])
    )
    assert _same(downsample_whole(columns, max_points), _reference(points, max_points))

"""iterations_frame and history_frame on every backend: columns and their types, the query
language, limits, paging past a page, the long form of histories, and pandas being optional."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from frames_support import bulk_iterations, sql_uri_behind
from mlops import tracking
from mlops.errors import (
    InvalidInput,
    MissingDependency,
    MlopsError,
    NotFound,
    QuerySyntaxError,
)
from mlops.tracking import _frames


def _sweep() -> dict[str, Any]:
    """Three ended iterations and a running one, with parameters of every kind."""
    made: dict[str, Any] = {}
    for n, (opt, mixed) in enumerate((("adam", 1), ("sgd", "two"), ("adam", 3))):
        it = tracking.start_iteration(f"run-{n}", system_metrics=False)
        it.log_parameters({"lr": 0.1 * (n + 1), "n": n, "opt": opt, "flag": n > 0})
        it.log_parameters({"mixed": mixed, "layers": [n, n + 1]})
        if n:
            it.log_parameters({"late": n})  # an integer that run-0 lacks
        for step in range(4):
            it.log_metric("loss", 1.0 / (step + 1 + n), step=step)
        it.log_metric("accuracy", 0.5 + n / 10)
        it.log_metric("system/cpu_percent", 12.5)
        it.set_tags({"team": "vision"} if n % 2 == 0 else {"team": "nlp", "note": "<b>"})
        if n == 1:
            it.end_iteration(status="failed", error=ValueError("diverged"))
        else:
            it.end_iteration()
        made[f"run-{n}"] = it.id
    running = tracking.start_iteration("still-running", system_metrics=False)
    running.log_parameters({"lr": 0.5, "n": 3, "opt": "sgd", "flag": True})
    running.log_metric("loss", float("nan"))
    made["running"] = running
    return made


def test_one_row_per_iteration_with_its_types(tracking_uri: str, active: dict[str, str]) -> None:
    made = _sweep()
    try:
        df = tracking.iterations_frame(active["experiment_id"])
    finally:
        made["running"].end_iteration()
    assert list(df.columns[:6]) == [
        "id", "name", "status", "experiment_id", "started_at", "duration",
    ]  # fmt: skip
    assert list(df.columns[6:]) == [
        "params.flag", "params.late", "params.layers", "params.lr", "params.mixed", "params.n",
        "params.opt", "metrics.accuracy", "metrics.loss", "tags.note", "tags.team",
    ]  # fmt: skip
    assert df["name"].tolist() == ["still-running", "run-2", "run-1", "run-0"]  # newest first
    assert df["status"].tolist() == ["running", "finished", "failed", "finished"]
    assert df["id"].tolist()[1:] == [made["run-2"], made["run-1"], made["run-0"]]
    assert set(df["experiment_id"]) == {active["experiment_id"]}

    assert isinstance(df["started_at"].dtype, pd.DatetimeTZDtype)
    assert str(df["started_at"].dt.tz) == "UTC"
    stored = tracking.get_iteration(made["run-0"])["started_at"]
    assert df["started_at"].iloc[3] == pd.Timestamp(stored)
    assert df["duration"].dtype == "float64"
    assert math.isnan(df["duration"].iloc[0]) and (df["duration"].iloc[1:] >= 0).all()

    assert df["params.n"].dtype == "int64" and df["params.n"].tolist() == [3, 2, 1, 0]
    assert df["params.lr"].dtype == "float64"
    assert df["params.flag"].dtype == "bool"
    assert pd.api.types.is_string_dtype(df["params.opt"])
    assert df["params.opt"].tolist()[1:] == ["adam", "sgd", "adam"]
    assert df["params.late"].dtype == "float64"  # int64 would need every row to have it
    assert df["params.late"].tolist()[1:3] == [2.0, 1.0] and math.isnan(df["params.late"].iloc[3])
    assert df["params.mixed"].dtype == object
    assert df["params.mixed"].tolist() == [None, 3, "two", 1]
    assert df["params.layers"].tolist()[1] == [2, 3]  # a list stays one list in one cell

    assert df["metrics.loss"].dtype == "float64"
    assert df["metrics.loss"].tolist()[1:] == [1 / 6, 1 / 5, 1 / 4]  # the last value
    assert math.isnan(df["metrics.loss"].iloc[0])
    assert df["metrics.accuracy"].tolist()[1:] == pytest.approx([0.7, 0.6, 0.5])
    assert df["tags.team"].tolist()[1:] == ["vision", "nlp", "vision"]
    assert df["tags.note"].tolist()[2] == "<b>"


def test_system_metrics_only_when_asked(tracking_uri: str, active: dict[str, str]) -> None:
    it = tracking.start_iteration("sampled", system_metrics=False)
    it.log_metrics({"loss": 0.5, "system/cpu_percent": 40.0, "system/gpu0/utilization": 3.0})
    it.end_iteration()
    assert "metrics.system/cpu_percent" not in tracking.iterations_frame().columns
    with_system = tracking.iterations_frame(system_metrics=True)
    assert with_system["metrics.system/cpu_percent"].tolist() == [40.0]
    assert with_system["metrics.system/gpu0/utilization"].tolist() == [3.0]
    assert with_system["metrics.loss"].tolist() == [0.5]


def test_filter_order_by_limit_and_scope(tracking_uri: str, active: dict[str, str]) -> None:
    made = _sweep()
    made["running"].end_iteration()
    other = tracking.create_experiment("other")
    with tracking.start_iteration("elsewhere", experiment_id=other["id"], system_metrics=False):
        pass
    found = tracking.iterations_frame(
        active["experiment_id"], filter='params.opt = "adam"', order_by="metrics.loss"
    )
    assert found["name"].tolist() == ["run-2", "run-0"]
    ordered = tracking.iterations_frame(order_by=["-params.n", "name"], limit=2)
    assert ordered["name"].tolist() == ["still-running", "run-2"]
    assert len(tracking.iterations_frame(limit=0)) == 0
    # the scope is that of list_iterations: an experiment, a project, else every project
    assert len(tracking.iterations_frame(project_id=active["project_id"])) == 5
    assert tracking.iterations_frame(other["id"])["name"].tolist() == ["elsewhere"]
    everywhere = tracking.iterations_frame()
    assert set(everywhere["id"]) == {i["id"] for i in tracking.list_iterations()}
    with pytest.raises(QuerySyntaxError):
        tracking.iterations_frame(filter="metrics.loss >")


def test_an_empty_scope_is_an_empty_frame(tracking_uri: str, active: dict[str, str]) -> None:
    df = tracking.iterations_frame(active["experiment_id"])
    assert len(df) == 0
    assert list(df.columns) == [
        "id", "name", "status", "experiment_id", "started_at", "duration",
    ]  # fmt: skip
    assert isinstance(df["started_at"].dtype, pd.DatetimeTZDtype)


def test_small_pages_give_the_same_frame(
    tracking_uri: str, active: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _sweep()
    made["running"].end_iteration()
    whole = tracking.iterations_frame(order_by="name")
    monkeypatch.setattr(_frames, "PAGE_SIZE", 2)  # 5 iterations: pages of 2, 2 and 1
    paged = tracking.iterations_frame(order_by="name")
    pd.testing.assert_frame_equal(paged, whole)
    assert paged["name"].tolist() == ["run-0", "run-1", "run-2", "still-running"]
    assert tracking.iterations_frame(order_by="name", limit=3)["name"].tolist() == [
        "run-0", "run-1", "run-2",
    ]  # fmt: skip


def test_more_iterations_than_one_page(
    tracking_uri: str, active: dict[str, str], tmp_path: Path
) -> None:
    # a page is 5,000 iterations from a database and through the App's /iterations/table
    count = 5_003
    ids = bulk_iterations(sql_uri_behind(tracking_uri, tmp_path), active["experiment_id"], count)
    df = tracking.iterations_frame(active["experiment_id"])
    assert len(df) == count and df["id"].is_unique
    assert df["id"].tolist() == ids[::-1]  # newest first, across the page boundary
    assert df["params.n"].tolist() == list(range(count - 1, -1, -1))
    assert df["metrics.loss"].iloc[0] == (count - 1) / count
    tail = tracking.iterations_frame(active["experiment_id"], order_by="params.n", limit=5_001)
    assert tail["params.n"].tolist() == list(range(5_001))


@pytest.mark.parametrize("store_uri", ["http"], indirect=True)
@pytest.mark.parametrize("answer", [404, 405])
def test_an_app_without_the_table_route_is_read_page_by_page(
    tracking_uri: str, active: dict[str, str], monkeypatch: pytest.MonkeyPatch, answer: int
) -> None:
    from mlops.store.http import HttpStore

    made = _sweep()
    made["running"].end_iteration()
    expected = tracking.iterations_frame()
    call = HttpStore._call
    asked: list[str] = []

    def older_app(self: HttpStore, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(path)
        if path == "/iterations/table":  # what an App of an earlier version answers
            if answer == 404:
                raise NotFound("Not Found")
            error = MlopsError("405 Method Not Allowed")
            error.code, error.status = "method_not_allowed", 405
            raise error
        return call(self, method, path, *args, **kwargs)

    # what an App without the route answers (a path like /iterations/{id}, which has PATCH)
    older = httpx.post(f"{tracking_uri}/api/v1/iterations/not-a-route", json={})
    assert older.status_code == 405
    monkeypatch.setattr(HttpStore, "_call", older_app)
    monkeypatch.setattr(_frames, "PAGE_SIZE", 3)
    older = tracking.iterations_frame()
    times = ["started_at", "duration"]  # from the JSON's times: to the microsecond
    pd.testing.assert_frame_equal(older.drop(columns=times), expected.drop(columns=times))
    assert (abs(older["started_at"] - expected["started_at"]) <= pd.Timedelta("1us")).all()
    assert (abs(older["duration"] - expected["duration"]) <= 2e-6).all()
    assert asked.count("/iterations/search") == 2  # 4 iterations in pages of 3


def test_history_in_long_form(tracking_uri: str, active: dict[str, str]) -> None:
    a = tracking.start_iteration("a", system_metrics=False)
    for step in range(3):
        a.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 10}, step=step * 10)
    a.log_metric("system/cpu_percent", 5.0)
    a.log_metric("val/loss", float("inf"), step=7)
    a.end_iteration()
    b = tracking.start_iteration("b", system_metrics=False)
    b.log_metric("loss", float("nan"), step=0)
    b.log_metric("loss", 0.25, step=1)
    b.end_iteration()

    df = tracking.history_frame([a.id, b.id], ["loss", "acc"])
    assert list(df.columns) == ["iteration_id", "metric", "step", "value", "timestamp"]
    assert df["step"].dtype == "int64" and df["value"].dtype == "float64"
    assert isinstance(df["timestamp"].dtype, pd.DatetimeTZDtype)
    assert str(df["timestamp"].dt.tz) == "UTC"
    rows = list(zip(df["iteration_id"], df["metric"], df["step"], strict=True))
    assert rows == [
        (a.id, "loss", 0), (a.id, "loss", 10), (a.id, "loss", 20),
        (a.id, "acc", 0), (a.id, "acc", 10), (a.id, "acc", 20),
        (b.id, "loss", 0), (b.id, "loss", 1),  # b has no "acc": no rows, no error
    ]  # fmt: skip
    assert df["value"].tolist()[:3] == [1.0, 0.5, 1 / 3]
    assert math.isnan(df["value"].iloc[6]) and df["value"].iloc[7] == 0.25
    stored = tracking.get_metric_history(a.id, "loss")[1]["timestamp"]
    assert abs(df["timestamp"].iloc[1] - pd.Timestamp(stored)) < pd.Timedelta(microseconds=2)

    every = tracking.history_frame(a.id)  # one id, every metric but the system ones, by name
    assert list(dict.fromkeys(every["metric"])) == ["acc", "loss", "val/loss"]
    assert every["value"].iloc[-1] == math.inf
    with_system = tracking.history_frame(a.id, system_metrics=True)
    assert "system/cpu_percent" in set(with_system["metric"])
    assert tracking.history_frame(a.id, "system/cpu_percent")["value"].tolist() == [5.0]

    with pytest.raises(NotFound, match="val_los"):
        tracking.history_frame([a.id, b.id], "val_los")
    with pytest.raises(NotFound):
        tracking.history_frame("no-such-iteration", "loss")


def test_a_long_history_is_read_in_columns(tracking_uri: str, active: dict[str, str]) -> None:
    it = tracking.start_iteration("long", system_metrics=False)
    for step in range(0, 70, 3):  # 24 points, steps with gaps
        it.log_metric("loss", step / 100, step=step)
    it.end_iteration()
    frame = tracking.history_frame(it.id, "loss")
    assert frame["step"].tolist() == list(range(0, 70, 3))
    columns = tracking.get_metric_history(it.id, "loss", columns=True)
    assert frame["value"].tolist() == list(columns.values)
    assert list(columns) == tracking.get_metric_history(it.id, "loss")


def test_history_of_a_running_iteration_includes_its_buffered_points(
    tracking_uri: str, active: dict[str, str]
) -> None:
    it = tracking.start_iteration("live", system_metrics=False)
    for step in range(5):
        it.log_metric("loss", float(step))
    try:
        assert tracking.history_frame(it.id, "loss")["step"].tolist() == [0, 1, 2, 3, 4]
    finally:
        it.end_iteration()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(InvalidInput, match="limit"):
        tracking.iterations_frame(limit=-1)
    with pytest.raises(InvalidInput, match="system_metrics"):
        tracking.iterations_frame(system_metrics="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="filter"):
        tracking.iterations_frame(filter=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="iteration_ids"):
        tracking.history_frame([])
    with pytest.raises(InvalidInput, match="metric_name"):
        tracking.history_frame("abc", [""])


def test_without_pandas_the_error_says_what_to_install() -> None:
    script = (
        "import sys\n"
        "sys.modules['pandas'] = None  # as if it were not installed\n"
        "from mlops import tracking\n"
        "from mlops.errors import MissingDependency\n"
        "for call in (lambda: tracking.iterations_frame(), lambda: tracking.history_frame('x')):\n"
        "    try:\n"
        "        call()\n"
        "    except MissingDependency as exc:\n"
        "        assert isinstance(exc, ImportError)\n"
        "        print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert 'pip install "mlops-library[pandas]"' in line and "pandas" in line
    assert issubclass(MissingDependency, ImportError)


def test_importing_tracking_does_not_import_pandas() -> None:
    script = "import sys, mlops.tracking\nprint('pandas' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_the_store_reads_a_metric_page_after_a_step(store: Any) -> None:
    project = store.create_project("paging", None, "active", False)
    created = store.create_iteration("a" * 32, "it", None, project.id, 1.0, {})
    points = [("loss", step, step * 0.5, 10.0 + step) for step in range(10)]
    store.end_iteration(created.id, "finished", 100.0, metrics=points)
    assert [p.step for p in store.get_metric_page(created.id, "loss", None, 4)] == [0, 1, 2, 3]
    page = store.get_metric_page(created.id, "loss", 3, 4)
    assert [(p.step, p.value, p.timestamp) for p in page] == [
        (4, 2.0, 14.0), (5, 2.5, 15.0), (6, 3.0, 16.0), (7, 3.5, 17.0),
    ]  # fmt: skip
    assert [p.step for p in store.get_metric_page(created.id, "loss", 7, 4)] == [8, 9]
    assert store.get_metric_page(created.id, "loss", 9, 4) == []
    with pytest.raises(NotFound, match="loss"):
        store.get_metric_page(created.id, "accuracy", None, 4)
    with pytest.raises(NotFound):
        store.get_metric_page("b" * 32, "loss", None, 4)

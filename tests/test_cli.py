"""The ``mlops`` command line, run in-process with click's CliRunner and as a real subprocess.

The data comes from the real library writing to a SQLite store in a temporary ``MLOPS_HOME``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mlops.cli import main
from mlops.cli._export import BASE_FIELDS
from mlops.cli._format import fmt_duration, fmt_time, json_safe, status_text
from mlops.cli._iterations import order_spec, sorted_metric
from mlops.cli._main import one_line
from mlops.config import redact_uri as hide_password

MLOPS_SCRIPT = Path(sys.executable).with_name("mlops")

RUNS = [
    # name, parameters, accuracy, loss series
    ("run-1", {"model": "rf", "lr": 0.1}, 0.91, [0.9, 0.5, 0.3]),
    ("run-2", {"model": "svm", "lr": 0.01}, 0.85, [0.8, 0.6]),
    ("run-3", {"model": "rf", "lr": 0.5, "depth": 7}, 0.97, [0.7, float("nan")]),
]
BIG = 25


def _strict_json(text: str) -> Any:
    """Parse JSON refusing the non-standard NaN/Infinity tokens."""

    def refuse(token: str) -> None:
        raise AssertionError(f"invalid JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Built once: project demo with experiment sweep (3 runs + 1 failed) and big (25 runs)."""
    home = tmp_path_factory.mktemp("mlops-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_HOME", str(home))
        mp.delenv("MLOPS_TRACKING_URI", raising=False)
        from mlops import tracking

        project = tracking.create_project("demo")
        tracking.set_active_project(project["id"])
        sweep = tracking.create_experiment("sweep")
        tracking.set_active_experiment(sweep["id"])
        ids: dict[str, str] = {}
        for name, params, accuracy, losses in RUNS:
            it = tracking.start_iteration(name)
            it.log_parameters(params)
            it.log_metric("accuracy", accuracy)
            for loss in losses:
                it.log_metric("loss", loss)
            ids[name] = it.end_iteration()["id"]
        with pytest.raises(RuntimeError), tracking.start_iteration("boom") as it:
            ids["boom"] = it.id
            it.log_parameter("model", "mlp")
            raise RuntimeError("out of memory")

        big = tracking.create_experiment("big")
        tracking.set_active_experiment(big["id"])
        big_ids = []
        for i in range(BIG):
            it = tracking.start_iteration(f"big-{i}")
            it.log_parameters({"i": i, f"only{i % 3}": "x"})
            it.log_metric("score", i / 10)
            big_ids.append(it.end_iteration()["id"])
    return {
        "home": home,
        "project": project,
        "sweep": sweep,
        "big": big,
        "ids": ids,
        "big_ids": big_ids,
    }


@pytest.fixture
def demo(
    demo_store: dict[str, Any], mlops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Point this test's MLOPS_HOME (set by conftest for every test) at the demo store."""
    monkeypatch.setenv("MLOPS_HOME", str(demo_store["home"]))
    return demo_store


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``mlops ARGS`` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(main, list(args), env=env)


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``mlops ARGS``, check it succeeded, return its stdout."""
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def data(*args: str) -> Any:
    """Run ``mlops ARGS --json`` and parse its stdout as strict JSON."""
    return _strict_json(ok(*args, "--json"))


def script(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed ``mlops`` script in a real subprocess."""
    env = {**os.environ, "MLOPS_HOME": str(home), "COLUMNS": "80"}
    env.pop("MLOPS_TRACKING_URI", None)
    cmd = [str(MLOPS_SCRIPT), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def assert_one_error_line(result: Result, *needles: str, code: int = 1) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.output


# -- the installed script --------------------------------------------------------------------
def test_script_version(tmp_path: Path) -> None:
    proc = script("--version", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "mlops 0.1.0"


def test_script_error_exit(demo: dict[str, Any]) -> None:
    proc = script("iterations", "show", "no-such-iteration", home=demo["home"])
    assert (proc.returncode, proc.stdout) == (1, "")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no-such-iteration" in lines[0]
    proc = script("--json-typo", home=demo["home"])
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1


def test_script_lists_real_data(demo: dict[str, Any]) -> None:
    proc = script("iterations", "list", "--experiment", demo["sweep"]["id"], home=demo["home"])
    assert proc.returncode == 0, proc.stderr
    assert all(len(line) <= 80 for line in proc.stdout.splitlines())
    assert all(it_id[:8] in proc.stdout for it_id in demo["ids"].values())
    proc = script("projects", "list", "--json", home=demo["home"])
    assert [p["id"] for p in _strict_json(proc.stdout)] == [demo["project"]["id"]]


# -- projects, experiments, datasets ---------------------------------------------------------
def test_projects_list(demo: dict[str, Any]) -> None:
    assert [p["id"] for p in data("projects", "list")] == [demo["project"]["id"]]
    table = ok("projects", "list")
    assert "demo" in table and demo["project"]["id"][:8] in table


def test_experiments_list(demo: dict[str, Any]) -> None:
    rows = data("experiments", "list", "--project", demo["project"]["id"])
    assert {e["id"] for e in rows} == {demo["sweep"]["id"], demo["big"]["id"]}
    table = ok("experiments", "list")
    assert "sweep" in table and "big" in table and "demo" in table  # project title, not id


def test_datasets_list(demo: dict[str, Any], tmp_path: Path) -> None:
    from mlops import tracking

    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    dataset = tracking.create_dataset("train", str(tmp_path / "train.csv"))
    assert dataset["id"] in {d["id"] for d in data("datasets", "list")}
    assert "train" in ok("datasets", "list")


# -- iterations ------------------------------------------------------------------------------
def test_iterations_list_json_has_every_run(demo: dict[str, Any]) -> None:
    rows = data("iterations", "list", "--experiment", demo["sweep"]["id"])
    assert {r["id"] for r in rows} == set(demo["ids"].values())
    by_name = {r["name"]: r for r in rows}
    assert by_name["run-3"]["metrics"]["loss"] == "NaN"
    assert by_name["boom"]["status"] == "failed"


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("accuracy", ["run-3", "run-1", "run-2"]),
        ("metrics.accuracy asc", ["run-2", "run-1", "run-3"]),
        ("-metrics.accuracy", ["run-3", "run-1", "run-2"]),
        ("params.lr", ["run-2", "run-1", "run-3"]),
    ],
)
def test_iterations_list_sort(demo: dict[str, Any], sort: str, expected: list[str]) -> None:
    args = ["--experiment", demo["sweep"]["id"], "--filter", "metrics.accuracy > 0"]
    rows = data("iterations", "list", *args, "--sort", sort)
    assert [r["name"] for r in rows] == expected
    table = ok("iterations", "list", *args, "--sort", sort).splitlines()
    assert [next(n for n in expected if n in line) for line in table[2:5]] == expected


def test_iterations_list_filter_and_limit(demo: dict[str, Any]) -> None:
    rf = 'params.model = "rf"'
    rows = data("iterations", "list", "--experiment", demo["sweep"]["id"], "--filter", rf)
    assert sorted(r["name"] for r in rows) == ["run-1", "run-3"]
    assert len(data("iterations", "list", "--experiment", demo["big"]["id"])) == 20  # default
    assert len(data("iterations", "list", "--experiment", demo["big"]["id"], "--limit", "5")) == 5
    assert "use --limit to see more" in ok("iterations", "list", "--limit", "3")


def test_iterations_table_fits_80_columns(demo: dict[str, Any]) -> None:
    out = ok(
        "iterations", "list", "--experiment", demo["sweep"]["id"], "--sort", "loss",
        env={"COLUMNS": "80"},
    )  # fmt: skip
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    header = lines[0].split()
    assert header[:3] == ["id", "name", "status"]
    fixed = [h for h in header if h in ("id", "name", "status", "started", "duration")]
    assert header[len(fixed)] == "loss"  # the sorted metric comes before the other metrics
    assert all(it_id[:8] in out and name in out for name, it_id in demo["ids"].items())
    assert "failed" in out and "finished" in out and "not shown (too wide)" in out


def test_iterations_table_wide_terminal_shows_metrics_and_params(demo: dict[str, Any]) -> None:
    out = ok("iterations", "list", "--experiment", demo["sweep"]["id"], env={"COLUMNS": "200"})
    header = out.splitlines()[0].split()
    assert header[:5] == ["id", "name", "status", "started", "duration"]
    assert {"accuracy", "loss", "model", "lr", "depth"} <= set(header)
    assert "0.91" in out and "nan" in out and "not shown" not in out


def test_iterations_show(demo: dict[str, Any]) -> None:
    it_id = demo["ids"]["run-1"]
    out = ok("iterations", "show", it_id, env={"COLUMNS": "80"})
    for text in (it_id, "run-1", "finished", "Parameters", "model", "rf", "Metrics", "0.91"):
        assert text in out
    assert f"sweep ({demo['sweep']['id']})" in out and "demo (" in out
    assert "0.3" in out and "0.9" in out  # loss last and max
    as_json = data("iterations", "show", it_id)
    assert as_json["id"] == it_id and as_json["parameters"] == {"model": "rf", "lr": 0.1}


def test_iterations_show_failed_has_error(demo: dict[str, Any]) -> None:
    out = ok("iterations", "show", demo["ids"]["boom"])
    assert "failed" in out and "RuntimeError: out of memory" in out


def test_iterations_metric_history(demo: dict[str, Any]) -> None:
    points = data("iterations", "metric", demo["ids"]["run-1"], "loss")
    assert [(p["step"], p["value"]) for p in points] == [(0, 0.9), (1, 0.5), (2, 0.3)]
    assert "3 points of loss" in ok("iterations", "metric", demo["ids"]["run-1"], "loss")


# -- export ----------------------------------------------------------------------------------
def test_export_csv(demo: dict[str, Any]) -> None:
    out = ok("export", "--experiment", demo["sweep"]["id"], "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted(r["id"] for r in rows) == sorted(demo["ids"].values())  # one row each
    fields = list(rows[0])
    assert fields[: len(BASE_FIELDS)] == list(BASE_FIELDS)
    assert fields[len(BASE_FIELDS) :] == [
        "params.depth", "params.lr", "params.model", "metrics.accuracy", "metrics.loss"
    ]  # fmt: skip
    by_name = {r["name"]: r for r in rows}
    assert by_name["run-3"]["metrics.loss"] == "nan"
    assert (by_name["run-3"]["params.depth"], by_name["run-1"]["params.depth"]) == ("7", "")
    assert float(by_name["run-1"]["metrics.accuracy"]) == 0.91
    assert by_name["boom"]["status"] == "failed"


def test_export_json(demo: dict[str, Any]) -> None:
    rows = _strict_json(ok("export", "--experiment", demo["sweep"]["id"], "--format", "json"))
    assert len(rows) == len(demo["ids"])
    assert all(list(r) == list(rows[0]) for r in rows)  # every object has the same keys
    by_name = {r["name"]: r for r in rows}
    assert by_name["run-3"]["metrics.loss"] == "NaN"
    assert by_name["run-1"]["params.lr"] == 0.1
    assert by_name["run-1"]["params.depth"] is None


def test_export_pages_through_everything(
    demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlops.cli._export as export_module

    monkeypatch.setattr(export_module, "PAGE_SIZE", 10)  # 25 iterations: three pages
    out = tmp_path / "big.csv"
    assert ok("export", "--experiment", demo["big"]["id"], "--output", str(out)) == ""
    rows = list(csv.DictReader(out.open()))
    assert sorted(r["id"] for r in rows) == sorted(demo["big_ids"])
    assert {"params.i", "params.only0", "params.only1", "params.only2", "metrics.score"} <= set(rows[0])
    assert sorted(int(r["params.i"]) for r in rows) == list(range(BIG))


def test_export_filter(demo: dict[str, Any]) -> None:
    args = ["--experiment", demo["big"]["id"], "--format", "json", "--filter", "params.i < 5"]
    assert sorted(r["params.i"] for r in _strict_json(ok("export", *args))) == [0, 1, 2, 3, 4]


# -- errors ----------------------------------------------------------------------------------
def test_unknown_ids_are_one_error_line(demo: dict[str, Any]) -> None:
    result = run("iterations", "show", "no-such-id")
    assert_one_error_line(result, "no-such-id")
    assert result.stdout == ""
    assert_one_error_line(run("export", "--experiment", "nope-123"), "nope-123")
    assert_one_error_line(run("iterations", "metric", demo["ids"]["run-1"], "nosuch"), "nosuch")


def test_bad_filter_and_sort_are_one_error_line(demo: dict[str, Any]) -> None:
    bad_filter = run("iterations", "list", "--filter", "metrics.accuracy >>> 1")
    assert_one_error_line(bad_filter, "metrics.accuracy >>> 1", "column")
    assert_one_error_line(run("iterations", "list", "--sort", "acc desc desc"), "acc desc desc")


def test_usage_error_is_one_line(demo: dict[str, Any]) -> None:
    assert_one_error_line(run("iterations", "list", "--limit", "0"), "--limit", code=2)
    assert_one_error_line(run("export", "--format", "xml", "--experiment", "x"), code=2)
    assert_one_error_line(run("nonsense"), "nonsense", code=2)


def test_debug_shows_traceback(demo: dict[str, Any]) -> None:
    result = run("--debug", "iterations", "show", "no-such-id")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_unexpected_error(demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops import tracking

    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tracking, "list_projects", broken)
    assert_one_error_line(run("projects", "list"), "disk on fire", "--debug")


def test_store_option(demo: dict[str, Any], tmp_path: Path) -> None:
    assert data("--store", f"sqlite:///{tmp_path / 'other.db'}", "projects", "list") == []
    assert "MLOPS_TRACKING_URI" not in os.environ  # only for that command
    assert_one_error_line(run("--store", "mysql://x/y", "projects", "list"), "mysql://x/y")


def test_db_upgrade(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert ok("db", "upgrade", "--store", uri).startswith(f"database at {uri} upgraded from ")
    assert ok("--store", uri, "db", "upgrade").startswith(f"database at {uri} is already at ")


def test_db_upgrade_unreachable_hides_password() -> None:
    pytest.importorskip("psycopg")
    result = run("db", "upgrade", "--store", "postgresql://bob:s3cret@127.0.0.1:1/runs")
    assert_one_error_line(result, "bob:***@127.0.0.1:1/runs")
    assert "s3cret" not in result.output


def test_no_arguments_prints_help() -> None:
    out = ok()
    assert "iterations" in out and "export" in out


# -- helpers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sort", "spec"),
    [
        ("accuracy", "metrics.accuracy desc"),
        ("accuracy asc", "metrics.accuracy asc"),
        ("-loss", "-metrics.loss"),
        ("-metrics.loss", "-metrics.loss"),
        ("params.lr", "params.lr"),
        ("metrics.loss  asc", "metrics.loss asc"),
        ("started_at", "started_at"),
    ],
)
def test_order_spec(sort: str, spec: str) -> None:
    assert order_spec(sort) == spec


def test_sorted_metric() -> None:
    assert sorted_metric("-metrics.loss") == sorted_metric("metrics.loss.min asc") == "loss"
    assert sorted_metric("metrics.acc desc") == sorted_metric("-max(metrics.acc)") == "acc"
    assert sorted_metric("metrics.loss, name") == "loss"
    assert sorted_metric("params.lr") is sorted_metric(None) is None


def test_fmt_duration() -> None:
    cases = {None: "-", 0.25: "250 ms", 3.24: "3.2 s", 250: "4 min 10 s", 120: "2 min"}
    cases |= {7500: "2 h 5 min", 90000: "1 d 1 h"}
    assert {s: fmt_duration(s) for s in cases} == cases


def test_fmt_time_is_local() -> None:
    assert fmt_time(None) == "-"
    shown = fmt_time("2024-05-01T12:00:00Z")
    assert len(shown) == len("2024-05-01 12:00:00") and shown.startswith("2024-0")


def test_json_safe_and_status_colours() -> None:
    data = {"a": [math.nan, math.inf, -math.inf, 1.5], "b": None}
    assert json_safe(data) == {"a": ["NaN", "Infinity", "-Infinity", 1.5], "b": None}
    colours = {s: str(status_text(s).style) for s in ("finished", "failed", "running", "crashed")}
    assert colours == {
        "finished": "green",
        "failed": "red",
        "running": "cyan",
        "crashed": "magenta",
    }


def test_one_line_and_hide_password() -> None:
    message = "Bad filter 'a >> 1': unexpected '>' at column 4.\n  a >> 1\n    ^\nExpected a value."
    assert one_line(message) == "Bad filter 'a >> 1': unexpected '>' at column 4. Expected a value."
    assert hide_password("postgresql://bob:pw@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert hide_password("postgresql://bob@db/x") == "postgresql://bob@db/x"
    assert hide_password("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"

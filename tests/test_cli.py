"""The ``mlops`` command line, run in-process with click's CliRunner and as a real subprocess.

The data comes from the real library writing to a SQLite store in a temporary ``MLOPS_HOME``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mlops.cli import main
from mlops.cli._export import BASE_FIELDS
from mlops.cli._format import fmt_duration, fmt_time, json_safe, status_text
from mlops.cli._iteration_table import named_fields
from mlops.cli._iterations import order_spec
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


def _unfolded(shown: str, key: str) -> str:
    """The value of ``key`` in a key-value table, its folded lines joined back."""
    lines = shown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(key + " "))
    indent = len(lines[start]) - len(lines[start][len(key) :].lstrip())
    value = [lines[start][indent:].rstrip()]
    for line in lines[start + 1 :]:
        if line[:indent].strip():
            break
        value.append(line[indent:].rstrip())
    return "".join(value)


def test_datasets_list(demo: dict[str, Any], tmp_path: Path) -> None:
    from mlops import tracking

    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    dataset = tracking.create_dataset("train", str(tmp_path / "train.csv"))
    assert dataset["id"] in {d["id"] for d in data("datasets", "list")}
    assert "train" in ok("datasets", "list")
    assert data("datasets", "show", dataset["id"][:8]) == dataset
    shown = ok("datasets", "show", dataset["id"][:6], env={"COLUMNS": "80"})
    assert shown.splitlines()[0] == f"Dataset train {dataset['version']}"
    # a long path folds onto the next lines at 80 columns: all of it is there
    assert dataset["id"] in shown and str(tmp_path / "train.csv") in _unfolded(shown, "path")
    assert_one_error_line(run("datasets", "show", "nope"), "dataset 'nope' not found")


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
    assert {"params.i", "params.only0", "params.only1", "params.only2", "metrics.score"} <= set(
        rows[0]
    )
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


def test_named_fields_are_the_sort_keys_then_the_filter_fields() -> None:
    def named(filter_: str | None, order_by: str | None) -> list[tuple[str, str, str | None]]:
        return [(f.kind, f.name, f.agg) for f in named_fields(filter_, order_by)]

    by_sort = [("metric", "loss", "last"), ("attr", "name", None)]
    assert named(None, "-metrics.loss, name") == by_sort
    query = 'not (params.lr > 1 or tags.t = "x") and min(metrics.loss) < 2'
    assert named(query, "-max(metrics.acc)") == [
        ("metric", "acc", "max"), ("param", "lr", None), ("tag", "t", None),
        ("metric", "loss", "min"),
    ]  # fmt: skip
    assert named("metrics.a in (1, 2) and metrics.a > 0", None) == [("metric", "a", "last")]
    assert named("", None) == [] and named(None, None) == []


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


# -- tables in 80 columns, short ids ---------------------------------------------------------
NARROW = {"COLUMNS": "80"}


@pytest.fixture
def sweep_like_demo(mlops_home: Path) -> dict[str, str]:
    """Runs like examples/train_sklearn.py's: long names, 4 metrics, 5 parameters."""
    from mlops import tracking

    project = tracking.create_project("digits-demo")
    experiment = tracking.create_experiment("sgd-sweep", project_id=project["id"])
    ids = {}
    for n, alpha in enumerate((0.01, 0.001, 0.0001)):
        name = f"sgd-log_loss-alpha={alpha:g}"
        it = tracking.start_iteration(name, experiment_id=experiment["id"])
        it.log_parameters(
            {"alpha": alpha, "loss": "log_loss", "model": "SGDClassifier", "epochs": 30, "n": n}
        )
        for step in range(3):
            it.log_metrics(
                {"train_accuracy": 0.9 + step / 100, "val_accuracy": 0.8 + n / 10,
                 "val_loss": 1.5 - n / 10, "test_accuracy": 0.7 + n / 100},
                step=step,
            )  # fmt: skip
        ids[name] = it.end_iteration()["id"]
    return {"experiment": experiment["id"], "project": project["id"], **ids}


def _table(out: str) -> tuple[list[str], list[str]]:
    """(header words, row lines) of a printed table; every line fits 80 columns."""
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    return lines[0].split(), [line for line in lines[2:] if re.match(r"[0-9a-f]{8} ", line)]


def test_the_demo_listing_shows_metrics_full_names_and_short_ids(
    sweep_like_demo: dict[str, str],
) -> None:
    out = ok("iterations", "list", "--limit", "20", env=NARROW)
    header, rows = _table(out)
    assert header[:3] == ["id", "name", "status"]
    metrics = {"train_accuracy", "val_accuracy", "val_loss", "test_accuracy"}
    assert len(metrics & set(header)) >= 2, out
    for name, it_id in sweep_like_demo.items():
        if name.startswith("sgd-"):
            row = next(line for line in rows if line.startswith(it_id[:8] + " "))
            assert f" {name} " in row, out  # the whole name, not cut
            assert it_id not in out  # only the first 8 characters
    assert "…" not in out


def test_sorted_and_filtered_columns_always_show(sweep_like_demo: dict[str, str]) -> None:
    args = ["--filter", 'params.epochs = 30 and params.loss = "log_loss"', "--sort", "val_loss"]
    out = ok("iterations", "list", *args, env=NARROW)
    header, rows = _table(out)
    assert {"val_loss", "epochs", "loss"} <= set(header)
    assert [line.split()[1] for line in rows] == rows_names()  # highest val_loss first
    end = out.index("val_loss") + len("val_loss")  # a right-aligned column ends under its name
    assert [float(line[:end].split()[-1]) for line in rows] == [1.5, 1.4, 1.3]
    header, _ = _table(ok("iterations", "list", "--sort", "min(metrics.val_loss)", env=NARROW))
    assert "min(val_loss)" in header
    header, _ = _table(ok("iterations", "list", "--filter", "duration >= 0", env=NARROW))
    assert "duration" in header


def test_sort_on_a_metric_no_iteration_has_says_so(sweep_like_demo: dict[str, str]) -> None:
    for extra in ([], ["--json"]):
        result = run("iterations", "list", "--sort", "nosuchmetric", *extra)
        assert_one_error_line(result, "no iteration has a metric named 'nosuchmetric'", "val_loss")
    result = run("iterations", "list", "--sort", "params.nosuch")
    assert_one_error_line(result, "no iteration has a parameter named 'nosuch'", "alpha")


def test_an_unknown_project_or_experiment_fails_the_same_everywhere(
    sweep_like_demo: dict[str, str],
) -> None:
    listed = run("iterations", "list", "--project", "nope")
    assert_one_error_line(listed, "project 'nope' not found")
    assert listed.stderr == run("experiments", "list", "--project", "nope").stderr
    assert_one_error_line(run("iterations", "list", "--experiment", "nope"), "'nope' not found")


def test_any_unique_id_prefix_is_taken_back(sweep_like_demo: dict[str, str]) -> None:
    it_id = sweep_like_demo["sgd-log_loss-alpha=0.001"]
    experiment, project = sweep_like_demo["experiment"], sweep_like_demo["project"]
    shown = ok("iterations", "show", it_id[:8])
    assert it_id in shown and "sgd-log_loss-alpha=0.001" in shown
    assert _strict_json(ok("iterations", "show", it_id[:8], "--json"))["id"] == it_id
    assert len(data("iterations", "metric", it_id[:6], "val_loss")) == 3
    rows = data("iterations", "list", "--experiment", experiment[:8], "--project", project[:5])
    assert len(rows) == 3
    assert [e["id"] for e in data("experiments", "list", "--project", project[:8])] == [experiment]
    exported = _strict_json(ok("export", "--experiment", experiment[:8], "--format", "json"))
    assert sorted(r["id"] for r in exported) == sorted(sweep_like_demo[n] for n in rows_names())
    unknown = run("iterations", "show", "zz")
    assert_one_error_line(unknown, "iteration 'zz' not found", "mlops iterations list")


def rows_names() -> list[str]:
    return [f"sgd-log_loss-alpha={a:g}" for a in (0.01, 0.001, 0.0001)]


def test_an_ambiguous_prefix_names_the_candidates(demo: dict[str, Any]) -> None:
    ids = [*demo["ids"].values(), *demo["big_ids"]]  # 29 ids: two share a first character
    first = max(set(i[0] for i in ids), key=lambda c: sum(i.startswith(c) for i in ids))
    result = run("iterations", "show", first)
    assert_one_error_line(result, f"'{first}' is the start of several iteration ids")
    assert "give more characters" in result.stderr
    assert sorted(i for i in ids if i.startswith(first))[0] in result.stderr


def test_short_ids_grow_until_they_differ() -> None:
    from mlops.cli._ids import short_ids

    ids = ["abcdefgh1234", "abcdefgh5678", "abcdefgh1299", "0123456789"]
    assert short_ids(ids) == ["abcdefgh123", "abcdefgh567", "abcdefgh129", "0123456789"]
    assert short_ids(["x", "abcdefghij", "abcdefghij"]) == ["x", "abcdefgh", "abcdefgh"]


def test_help_at_80_columns_cuts_no_description() -> None:
    out = ok("--help", env=NARROW)
    assert all(len(line) <= 80 for line in out.splitlines()), out
    commands = out.split("Commands:", 1)[1]
    assert "..." not in commands
    assert "print its URL." in commands and "MLOPS_MODE=offline)" in commands
    for group in ("iterations", "projects", "experiments", "datasets", "tokens", "db"):
        assert "..." not in ok(group, "--help", env=NARROW).split("Commands:", 1)[1]


def test_deleted_runs_and_experiments_are_listed_only_when_asked_for() -> None:
    from mlops import tracking

    project = tracking.create_project("trash")
    tracking.set_active_project(project["id"])
    gone = tracking.create_experiment("gone")
    kept = tracking.create_experiment("kept")
    with tracking.start_iteration("old", experiment_id=gone["id"]) as old:
        old.log_metric("loss", 0.5)
    with tracking.start_iteration("new", experiment_id=kept["id"]) as new:
        new.log_metric("loss", 0.4)
    tracking.delete_experiment(gone["id"])
    assert [e["id"] for e in data("experiments", "list")] == [kept["id"]]
    assert [e["id"] for e in data("experiments", "list", "--deleted")] == [gone["id"]]
    assert [i["id"] for i in data("iterations", "list")] == [new.id]
    assert [i["id"] for i in data("iterations", "list", "--deleted")] == [old.id]
    # an id prefix still finds a hidden run
    assert data("iterations", "show", old.id[:8])["id"] == old.id

"""Searches stay cheap whatever a request carries: bounded lists, sorts without one join per key,
flat planning for long filters, and a statement timeout on the App's PostgreSQL queries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text

from conftest import _drop_schema, _postgres_uri
from mlops.app import create_app
from mlops.app.settings import AppSettings
from mlops.cli import main
from mlops.errors import InvalidInput, QuerySyntaxError, QueryTimeout, Unavailable
from mlops.query import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_NAMES,
    MAX_ORDER_TERMS,
    And,
    Compare,
    Field,
    parse_order_by,
)
from mlops.store import Store
from mlops.store.http import HttpStore
from mlops.store.sql.engine import transaction
from mlops.store.sql.filters import order_clauses, where_clause
from mlops.store.sql.models import ITERATIONS
from mlops.store.sql.store import SqlStore

API = "/api/v1"


def _conditions(count: int, start: int = 0) -> str:
    return " and ".join(f"params.p{i} = 1" for i in range(start, start + count))


def _seed(store: Store, params: int) -> str:
    """Three iterations: "all" has params p0.. = 1, "off" has one of them at 2, "short" lacks
    the last one. Returns the experiment id."""
    project = store.create_project("p", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None).id
    now = time.time()
    ones = {f"p{i}": 1 for i in range(params)}
    batches = {
        "all": ones,
        "off": {**ones, f"p{params // 2}": 2},
        "short": {k: v for k, v in ones.items() if k != f"p{params - 1}"},
    }
    for i, (name, values) in enumerate(batches.items()):
        store.create_iteration(name, name, experiment, None, now + i, {})
        store.log_batch(name, values, [("acc", 0, i / 10, now), ("loss", 0, 1 - i / 10, now)])
    return experiment


def test_the_library_refuses_lists_over_their_limits_naming_them(store: Store) -> None:
    experiment = _seed(store, 3)
    search: list[dict[str, Any]] = [
        {"order_by": [f"params.p{i}" for i in range(1000)]},
        {"order_by": ", ".join(f"-metrics.m{i}" for i in range(MAX_ORDER_TERMS + 1))},
        {"order_by": ["name", ", ".join(f"params.p{i}" for i in range(MAX_ORDER_TERMS))]},
        {"filter": _conditions(MAX_CONDITIONS + 1)},
        {"parameter_names": [f"p{i}" for i in range(MAX_NAMES + 1)]},
        {"metric_names": [f"m{i}" for i in range(MAX_NAMES + 1)]},
    ]
    limits = [MAX_ORDER_TERMS] * 3 + [MAX_CONDITIONS, MAX_NAMES, MAX_NAMES]
    for kwargs, limit in zip(search, limits, strict=True):
        with pytest.raises(InvalidInput, match=f"at most {limit}\\b"):
            store.list_iterations(experiment_id=experiment, **kwargs)
    with pytest.raises(InvalidInput, match="at most 100"):
        store.count_iterations(experiment_id=experiment, filter=_conditions(MAX_CONDITIONS + 1))
    # at the limits, the search answers (an in list is one condition, whatever its length)
    found = store.list_iterations(
        experiment_id=experiment,
        filter=_conditions(1) + " and " + " and ".join(["params.p0 in (1, 2, 3)"] * 99),
        order_by=["-metrics.acc", *(f"params.p{i}" for i in range(MAX_ORDER_TERMS - 1))],
        parameter_names=[f"p{i}" for i in range(MAX_NAMES)],
    )
    assert [i.id for i in found] == ["short", "off", "all"]
    assert found[2].parameters == {"p0": 1, "p1": 1, "p2": 1}


def test_selected_names_must_be_a_list(sql_store: SqlStore) -> None:
    with pytest.raises(InvalidInput, match="parameter_names must be a list of names"):
        sql_store.list_iterations(parameter_names="lr")
    with pytest.raises(InvalidInput, match="metric_names must hold names"):
        sql_store.list_iterations(metric_names=["acc", 3])  # type: ignore[list-item]


def test_tracking_list_iterations_raises_invalid_input_not_recursion_error(
    active: dict[str, str],
) -> None:
    from mlops import tracking

    with pytest.raises(InvalidInput, match=f"at most {MAX_ORDER_TERMS}"):
        tracking.list_iterations(order_by=[f"params.p{i}" for i in range(1000)])
    with pytest.raises(InvalidInput, match=f"at most {MAX_CONDITIONS}"):
        tracking.list_iterations(filter=_conditions(450))
    with pytest.raises(InvalidInput, match="a string or a list of them, not int"):
        tracking.list_iterations(order_by=3)  # type: ignore[arg-type]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = AppSettings(store_uri=f"sqlite:///{tmp_path / 'app.db'}")
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        yield c


def test_the_app_answers_422_naming_the_limit(client: TestClient) -> None:
    many_keys = [("order_by", f"params.p{i}") for i in range(1000)]
    answers = [
        client.get(f"{API}/iterations", params=many_keys),
        client.post(f"{API}/iterations/search", json={"order_by": [k for _, k in many_keys]}),
        client.post(f"{API}/iterations/search", json={"filter": _conditions(200)}),
        client.post(f"{API}/iterations/search", json={"metric_names": ["m"] * 5000}),
        client.get(f"{API}/series", params=[("metric", "m")] + [("iteration_ids", "i")] * 101),
    ]
    for answer, limit in zip(answers, ["10", "10", "100", "1000", "100"], strict=True):
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_input" and limit in error["message"], error
    # within the limits the same searches answer
    keys = [("order_by", f"params.p{i}") for i in range(MAX_ORDER_TERMS)]
    assert client.get(f"{API}/iterations", params=keys).json()["iterations"] == []


def test_sorting_joins_each_field_once_and_repeated_keys_change_nothing(store: Store) -> None:
    experiment = _seed(store, 2)
    store.log_batch("all", {"lr": 0.5})
    store.log_batch("off", {"lr": 0.5})
    order = ["params.lr desc", "metrics.acc", "-metrics.acc", "min(metrics.acc) desc"]
    order += ["max(metrics.acc)", "params.lr", "-params.lr", "metrics.loss", "name", "-name"]
    found = store.list_iterations(experiment_id=experiment, order_by=order)
    # lr 0.5 first (by acc ascending: all, off), then short (no lr)
    assert [i.id for i in found] == ["all", "off", "short"]
    by_metric = store.list_iterations(experiment_id=experiment, order_by=order[1:])
    assert [i.id for i in by_metric] == ["all", "off", "short"]
    # one outer join per field: params.lr, metrics.acc (last, min and max share it), loss
    plan = order_clauses(parse_order_by(order), time.time())
    assert len(plan.joins) == 3


def test_a_page_by_a_metric_still_reads_the_summary_index_in_order(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'plan.db'}")
    experiment = _seed(store, 12)
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    order = ["metrics.acc desc", *(f"params.p{i}" for i in range(MAX_ORDER_TERMS - 1))]
    event.listen(store._engine, "before_cursor_execute", seen)
    found = store.list_iterations(experiment_id=experiment, order_by=order, limit=2)
    event.remove(store._engine, "before_cursor_execute", seen)
    assert [i.id for i in found] == ["short", "off"]
    # the first read is of the deleted experiments (none), the next one picks the page
    page = (s for s in statements if s[0].startswith("SELECT") and "experiments" not in s[0])
    statement, parameters = next(page)
    with transaction(store._engine, False, "explain") as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    steps = [row[3] for row in plan]
    assert any("ix_metric_summaries_experiment_last" in step for step in steps), steps
    assert "USE TEMP B-TREE FOR ORDER BY" not in steps  # only ties are sorted
    store.close()


@pytest.mark.timeout(60)  # a few seconds; each condition a join: 94 s here on PostgreSQL
def test_two_hundred_anded_parameter_conditions_plan_fast(sql_store: SqlStore) -> None:
    """Planning no longer grows with every condition (on PostgreSQL, 200 semi-joins took a
    minute): the full tree (over the parser's limit) still answers right, at once."""
    experiment = _seed(sql_store, 200)
    items = tuple(Compare(Field("param", f"p{i}"), "=", 1) for i in range(200))
    first = Compare(Field("metric", "acc"), ">=", 0)  # joinable: may read a range of the index
    last = Compare(Field("metric", "loss"), "<=", 1)  # past the joinable ones: checked per row
    for scope in (None, experiment):
        where = where_clause(And((first, *items, last)), time.time(), scope)
        assert where is not None
        query = select(ITERATIONS.c.id).where(where).order_by(ITERATIONS.c.id)
        with transaction(sql_store._engine, False, "search") as conn:
            assert list(conn.execute(query).scalars()) == ["all"]
    # the most the parser takes, through the store, with the metric fast path and a count
    most = _conditions(MAX_CONDITIONS, start=200 - MAX_CONDITIONS)
    found = sql_store.list_iterations(
        experiment_id=experiment, filter=most, order_by="metrics.acc desc"
    )
    assert [i.id for i in found] == ["all"]
    assert sql_store.count_iterations(filter=most) == 1


def test_long_in_lists_and_the_deepest_filter_answer(sql_store: SqlStore) -> None:
    """Whatever the parser takes also runs (SQLite's parser and expression depth are small)."""
    experiment = _seed(sql_store, 3)

    def found(text: str) -> list[str]:
        return sorted(i.id for i in sql_store.list_iterations(experiment, filter=text))

    many = ",".join(["2"] * 4900)
    assert found(f"params.p0 in ({many}, 1)") == ["all", "off", "short"]
    assert found(f"params.p1 not in ({many})") == ["all", "short"]
    assert found(f"params.p1 not in (1, true, null, {many.replace('2', '3')})") == ["off"]
    assert found(f"metrics.acc in ({many}, 0)") == ["all"]
    assert found("id in (" + ",".join(['"x"'] * 2400) + ', "off")') == ["off"]
    assert found("status in (" + ",".join(['"running"'] * 900) + ")") == ["all", "off", "short"]
    assert found(f"ended_at not in (null, {many})") == []
    leaf = 'params.p2 not in (1, "a", true, null)'  # true only for "off" (p2 = 1 elsewhere)
    deepest = leaf
    for level in range(MAX_DEPTH):
        deepest = f"{leaf} {'and' if level % 2 else 'or'} ({deepest})"
    with pytest.raises(QuerySyntaxError, match=f"more than {MAX_DEPTH} levels"):
        found(f"{leaf} or ({deepest})")
    assert found(deepest) == []
    negated = leaf
    for _ in range(MAX_DEPTH // 2):
        negated = f"not ({leaf} and {negated})"
    assert found(negated) == ["all", "off", "short"]


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    uri = _postgres_uri()
    yield uri
    _drop_schema(uri)


def test_a_statement_past_the_timeout_is_query_timeout(postgres_uri: str) -> None:
    store = SqlStore(postgres_uri, statement_timeout=0.2)
    try:
        timeout = pytest.raises(QueryTimeout, match=r"after 0\.2 s.*narrow the filter")
        with timeout as caught, transaction(store._engine, False, "sleep") as conn:
            conn.execute(text("SELECT pg_sleep(30)"))
        assert caught.value.status == 422 and caught.value.code == "query_timeout"
        # a write past the timeout (stuck on a lock) is Unavailable: the client sends it again
        with pytest.raises(Unavailable), transaction(store._engine, True, "sleep") as conn:
            conn.execute(text("SELECT pg_sleep(30)"))
        # the connection is usable again and still on the URI's schema (search_path kept)
        assert store.list_projects() == []
        with transaction(store._engine, False, "read the setting") as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "200ms"
    finally:
        store.close()
    plain = SqlStore(postgres_uri)  # the library sets no timeout of its own
    try:
        with transaction(plain._engine, False, "read the setting") as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
            assert conn.execute(text("SHOW jit")).scalar() == "off"  # it cost seconds a query
    finally:
        plain.close()


def test_the_app_stops_a_search_past_its_statement_timeout(
    postgres_uri: str, start_app: Any, tmp_path: Path
) -> None:
    """A search that cannot finish (here it waits for a table another session locked) is
    stopped after --statement-timeout and answered as query_timeout (422), not retried."""
    SqlStore(postgres_uri).close()  # the schema, before the App starts
    app = start_app(postgres_uri, "--statement-timeout", "0.5")
    assert httpx.get(f"{app.url}{API}/iterations").status_code == 200
    with psycopg.connect(postgres_uri) as locker:
        locker.execute("LOCK TABLE iterations IN ACCESS EXCLUSIVE MODE")
        answer = httpx.post(f"{app.url}{API}/iterations/search", json={}, timeout=20)
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "query_timeout"
        assert "0.5 s" in answer.json()["error"]["message"]
        client = HttpStore(app.url, home=tmp_path / "client-home")
        with pytest.raises(QueryTimeout, match="statement timeout"):
            client.list_iterations()
        client.close()
    assert httpx.get(f"{app.url}{API}/iterations").status_code == 200


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_a_bad_statement_timeout_is_refused_in_one_line(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_STATEMENT_TIMEOUT", value)
    result = CliRunner().invoke(main, ["app", "--port", "1"])
    assert result.exit_code != 0
    assert "--statement-timeout must be 0 (no limit) or more seconds" in result.output

"""The query language: the parser (mlops.query) and its SQL compilation (store.sql.filters).

The SQL tests run every filter and order_by on a real SQLite file (and on PostgreSQL when
``MLOPS_TEST_POSTGRES`` is reachable) filled with a handful of hand-made rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from conftest import _drop_schema, _postgres_uri
from mlops.entities import HEARTBEAT_TIMEOUT
from mlops.errors import InvalidInput, QuerySyntaxError
from mlops.query import (
    And,
    Compare,
    Field,
    In,
    Not,
    Or,
    OrderTerm,
    parse_filter,
    parse_order_by,
)
from mlops.store.sql.engine import normalize_uri
from mlops.store.sql.filters import iterations, order_clauses, where_clause
from mlops.store.sql.models import (
    Base,
    SqlDataset,
    SqlExperiment,
    SqlIteration,
    SqlIterationDataset,
    SqlMetricSummary,
    SqlParameter,
    SqlProject,
)

NOW = 1_000_000.0
ALL = ["i1", "i2", "i3", "i4", "i5", "i6"]


# Short helpers keep the expected trees readable.
def P(name: str) -> Field:
    return Field("param", name)


def M(name: str, agg: str = "last") -> Field:
    return Field("metric", name, agg)


def A(name: str) -> Field:
    return Field("attr", name)


# -- parser ---------------------------------------------------------------------------------


def test_blank_filter_means_no_filter() -> None:
    assert parse_filter("") is None
    assert parse_filter("  \n\t ") is None


def test_precedence_not_and_or() -> None:
    tree = parse_filter('params.a = 1 or params.b = 2 and not status = "failed"')
    assert tree == Or(
        (
            Compare(P("a"), "=", 1),
            And((Compare(P("b"), "=", 2), Not(Compare(A("status"), "=", "failed")))),
        )
    )
    grouped = parse_filter("(params.a = 1 or params.b = 2) and params.c = 3")
    assert grouped == And(
        (Or((Compare(P("a"), "=", 1), Compare(P("b"), "=", 2))), Compare(P("c"), "=", 3))
    )


def test_and_or_chains_are_flat_and_keywords_case_insensitive() -> None:
    tree = parse_filter("params.a = 1 AND params.b = 2 and (params.c = 3 And params.d = 4)")
    assert isinstance(tree, And) and len(tree.items) == 4
    assert parse_filter("NOT params.a IN (1) Or params.b Not In (TRUE, Null)") == Or(
        (Not(In(P("a"), (1,))), In(P("b"), (True, None), negated=True))
    )


def test_the_documented_example() -> None:
    text = (
        'metrics.accuracy > 0.9 and (params.model = "rf" or params.model in ("gb", "xgb")) '
        'and not status = "failed"'
    )
    assert parse_filter(text) == And(
        (
            Compare(M("accuracy"), ">", 0.9),
            Or((Compare(P("model"), "=", "rf"), In(P("model"), ("gb", "xgb")))),
            Not(Compare(A("status"), "=", "failed")),
        )
    )


@pytest.mark.parametrize(
    ("op", "normal"),
    [("=", "="), ("==", "="), ("!=", "!="), ("<>", "!="), ("<", "<"), ("<=", "<="), (">", ">")],
)
def test_operators(op: str, normal: str) -> None:
    assert parse_filter(f"metrics.x {op} 1") == Compare(M("x"), normal, 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-2", -2),
        ("+3", 3),
        ("1.5", 1.5),
        ("2.", 2.0),
        ("-.5", -0.5),
        ("1e-3", 0.001),
        ("-2.5E+2", -250.0),
        ("true", True),
        ("FALSE", False),
        ("null", None),
        ('"rf"', "rf"),
        ("'rf'", "rf"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'it\'s'", "it's"),
        (r'"a\tb\\c"', "a\tb\\c"),
        ('"unicode ✓ é"', "unicode ✓ é"),
    ],
)
def test_values(text: str, value: object) -> None:
    node = parse_filter(f"params.p = {text}")
    assert isinstance(node, Compare)
    assert node.value == value and type(node.value) is type(value)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("params.lr", P("lr")),
        ("params.`learning rate`", P("learning rate")),
        ('params."learning rate"', P("learning rate")),
        ("params.日本語", P("日本語")),
        ("params.`a``", None),
        ("params.optimizer.lr", P("optimizer.lr")),
        ("params.`and`", P("and")),
        ("metrics.accuracy", M("accuracy")),
        ('metrics."val.loss"', M("val.loss")),
        ("metrics.val.loss", M("val.loss")),
        ("min(metrics.loss)", M("loss", "min")),
        ("MAX(metrics.`val loss`)", M("val loss", "max")),
        ("metrics.loss.min", M("loss", "min")),
        ("metrics.loss.LAST", M("loss", "last")),
        ('metrics.loss."max"', M("loss.max")),
        ("metrics.max", M("max")),
        ("Status", A("status")),
        ("duration", A("duration")),
        ("experiment_id", A("experiment_id")),
        ("dataset", Field("dataset", "name")),
        ("dataset.version", Field("dataset", "version")),
        ("dataset.digest", Field("dataset", "digest")),
    ],
)
def test_fields(text: str, field: Field | None) -> None:
    if field is None:  # an unclosed backtick
        with pytest.raises(QuerySyntaxError):
            parse_filter(f'{text} = "x"')
        return
    value = 1 if field.kind in ("metric", "param") or field.name == "duration" else '"failed"'
    node = parse_filter(f"{text} = {value}")
    assert isinstance(node, Compare) and node.field == field


def test_like_and_not_like() -> None:
    assert parse_filter('name like "rf%"') == Compare(A("name"), "like", "rf%")
    assert parse_filter("params.m NOT LIKE 'x_'") == Compare(P("m"), "not like", "x_")


def test_dates_become_epoch_seconds_in_utc() -> None:
    day = 1767225600.0  # 2026-01-01T00:00:00Z
    for text in ("2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00:00Z"):
        assert parse_filter(f'started_at > "{text}"') == Compare(A("started_at"), ">", day)
    node = parse_filter('ended_at in ("2026-01-01T01:00:00+01:00", null, 5)')
    assert node == In(A("ended_at"), (day, None, 5))


def test_bad_date_is_invalid_input_naming_it() -> None:
    with pytest.raises(InvalidInput, match="yesterday") as info:
        parse_filter('started_at > "yesterday"')
    assert not isinstance(info.value, QuerySyntaxError)
    assert "2026-01-01" in info.value.message  # the hint shows a valid date


def test_unknown_status_lists_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput, match="done") as info:
        parse_filter('status in ("running", "done")')
    for status in ("running", "finished", "failed", "killed", "crashed"):
        assert status in info.value.message


def test_syntax_error_quotes_query_names_token_and_shows_caret() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_filter("metrics.acc > 0.9 foo")
    lines = info.value.message.splitlines()
    assert "'metrics.acc > 0.9 foo'" in lines[0]
    assert "'foo'" in lines[0] and "column 19" in lines[0]
    assert lines[1].strip() == "metrics.acc > 0.9 foo"
    caret = lines[2]
    assert caret.index("^") - lines[1].index("m") == 18 and caret.strip() == "^^^"
    assert "'and'" in lines[3] and "'or'" in lines[3] and "end of the query" in lines[3]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", None),
        ("and", "a field (params.lr"),
        ("params.in = 1", "quote keywords"),
        ("params.lr", "an operator"),
        ("params.lr >", "a value"),
        ("params.lr = rf", 'a value (a number, a "quoted string"'),
        ("params.lr in (1 2)", "','"),
        ("(params.lr = 1", "')'"),
        ("params. = 1", "a name such as"),
        ("name like 5", "a quoted pattern"),
        ('name = "abc', "never closed"),
        ("params.lr = 1 # comment", "unexpected character '#'"),
        ("params.lr = 1 and", "a field (params.lr"),
        ("foo = 1", "unknown field 'foo'"),
        ("params = 1", "unknown field 'params'"),
        ("sum(metrics.x) = 1", "sum() is not a field"),
        ("min(params.x) = 1", "min() is not a field"),
        ("dataset.size = 1", "unknown field"),
    ],
)
def test_syntax_errors_explain_what_was_expected(text: str, words: str | None) -> None:
    if words is None:
        assert parse_filter(text) is None
        return
    with pytest.raises(QuerySyntaxError) as info:
        parse_filter(text)
    assert words in info.value.message
    assert "^" in info.value.message


def test_multiline_error_points_at_the_right_line() -> None:
    with pytest.raises(QuerySyntaxError, match="line 2, column 13") as info:
        parse_filter('status = "running" or\n  metrics.x ~ 3')
    assert "      metrics.x ~ 3\n" in info.value.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('metrics.acc = "high"', "is a number"),
        ("metrics.acc = null", "is a number"),
        ('metrics.acc like "9%"', "like only works on text"),
        ('status like "run%"', "like only works on text"),
        ('status > "failed"', "status can only be compared"),
        ("params.x > null", "null can only be compared"),
        ("params.x < true", "true can only be compared"),
        ("name = 5", "name needs text"),
        ("name = null", "name needs text"),
        ('duration > "long"', "needs a number"),
        ("dataset.version = 2", "needs text"),
    ],
)
def test_values_that_do_not_fit_the_field(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        parse_filter(text)


def test_not_a_string_and_too_long() -> None:
    with pytest.raises(InvalidInput):
        parse_filter(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="characters long"):
        parse_filter("params.x = 1 or " * 1000 + "params.x = 1")
    with pytest.raises(QuerySyntaxError, match="nested"):
        parse_filter("not " * 200 + "params.x = 1")


def test_order_by_forms() -> None:
    desc = OrderTerm(M("accuracy"), descending=True)
    assert parse_order_by("metrics.accuracy desc") == [desc]
    assert parse_order_by("metrics.accuracy DESC") == [desc]
    assert parse_order_by("-metrics.accuracy") == [desc]
    assert parse_order_by("params.lr") == [OrderTerm(P("lr"))]
    assert parse_order_by("started_at ASC") == [OrderTerm(A("started_at"))]
    assert parse_order_by("min(metrics.loss) asc") == [OrderTerm(M("loss", "min"))]
    assert parse_order_by("metrics.accuracy desc, -params.`learning rate`, name") == [
        desc,
        OrderTerm(P("learning rate"), True),
        OrderTerm(A("name")),
    ]
    assert parse_order_by(["metrics.accuracy desc", "", "name, id desc"]) == [
        desc,
        OrderTerm(A("name")),
        OrderTerm(A("id"), True),
    ]


def test_order_by_default_is_newest_first() -> None:
    default = [OrderTerm(A("started_at"), descending=True)]
    assert parse_order_by(None) == parse_order_by("") == parse_order_by([]) == default
    assert parse_order_by(["  "]) == default


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("dataset", InvalidInput),
        ("dataset.version desc", InvalidInput),
        ("-metrics.x desc", QuerySyntaxError),
        ("metrics.x desc desc", QuerySyntaxError),
        ("metrics.x,", QuerySyntaxError),
        ("foo", QuerySyntaxError),
        (["name", 3], InvalidInput),
    ],
)
def test_order_by_errors(spec: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_order_by(spec)  # type: ignore[arg-type]


_WORDS = [
    "params.lr",
    "metrics.acc",
    "min(metrics.loss)",
    "status",
    "name",
    "duration",
    "started_at",
    "dataset",
    "dataset.version",
    "params.`a b`",
    "=",
    "!=",
    "<",
    ">=",
    "in",
    "not",
    "and",
    "or",
    "like",
    "(",
    ")",
    ",",
    "1",
    "-2.5e3",
    '"rf"',
    "'x%'",
    '"running"',
    '"crashed"',
    '"2026-01-01"',
    "true",
    "null",
    '"',
    "`",
    ".",
    "#",
    "desc",
    "-",
]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.text(max_size=60), st.lists(st.sampled_from(_WORDS), max_size=12).map(" ".join))
)
def test_garbage_only_raises_query_errors(text: str) -> None:
    for parse in (parse_filter, parse_order_by):
        with contextlib.suppress(InvalidInput):  # QuerySyntaxError is an InvalidInput
            parse(text)


# -- SQL --------------------------------------------------------------------------------------


def _row(columns: str, *values: object, **extra: object) -> dict[str, object]:
    return {**dict(zip(columns.split(), values, strict=True)), **extra}


def _rows() -> dict[type, list[dict[str, object]]]:
    def it(*values: object) -> dict[str, object]:
        columns = "id name status started_at ended_at heartbeat_at experiment_id"
        return _row(columns, *values, project_id="p1", system={})

    def param(
        *values: object, num: float | None = None, text: str | None = None
    ) -> dict[str, object]:
        return _row("iteration_id name value_json", *values, value_num=num, value_str=text)

    def metric(*values: object) -> dict[str, object]:
        experiment = "e1" if values[0] in ("i1", "i2", "i3") else "e2"  # as the iterations below
        return _row(
            "iteration_id name last min max", *values, last_step=1, experiment_id=experiment
        )

    def dataset(*values: object) -> dict[str, object]:
        return _row("id name version digest", *values, path="/d", tags=[], created_at=1.0)

    return {
        SqlProject: [
            _row("id title status archived created_at updated_at", "p1", "p", "active", False, 1, 1)
        ],
        SqlExperiment: [
            {"id": e, "project_id": "p1", "name": e, "created_at": 1.0} for e in ("e1", "e2")
        ],
        SqlIteration: [
            it("i1", "rf-1", "finished", 100, 160, 160, "e1"),
            it("i2", "gb-2", "failed", 200, 230, 230, "e1"),
            it("i3", "xgb-3", "running", 300, None, NOW - 5, "e1"),  # alive
            it("i4", "rf-4", "running", 400, None, NOW - HEARTBEAT_TIMEOUT - 1, "e2"),  # crashed
            it("i5", "50% done", "running", 500, None, None, "e2"),  # no heartbeat yet
            it("i6", "Ünïcode run", "killed", 600, 700, 700, "e2"),
        ],
        SqlParameter: [
            param("i1", "model", '"rf"', text="rf"),
            param("i1", "lr", "0.1", num=0.1),
            param("i1", "flag", "true"),
            param("i1", "learning rate", "0.01", num=0.01),
            param("i1", "n", "5", num=5.0),
            param("i2", "model", '"gb"', text="gb"),
            param("i2", "lr", "0.5", num=0.5),
            param("i2", "flag", "false"),
            param("i2", "n", '"5"', text="5"),
            param("i3", "model", '"xgb"', text="xgb"),
            param("i3", "lr", "0.05", num=0.05),
            param("i3", "opt", "null"),
            param("i4", "model", '"rf"', text="rf"),
            param("i4", "lr", "1", num=1.0),
            param("i6", "model", "[1, 2]"),
            param("i6", "日本", '"はい"', text="はい"),
        ],
        SqlMetricSummary: [
            metric("i1", "accuracy", 0.95, 0.5, 0.96),
            metric("i1", "val.loss", 0.2, 0.2, 0.9),
            metric("i2", "accuracy", 0.85, 0.4, 0.91),
            metric("i3", "accuracy", None, 0.3, 0.7),  # last value is NaN
            metric("i4", "accuracy", 0.92, 0.92, 0.92),
        ],
        SqlDataset: [
            dataset("d1", "digits", "v1", "sha256:aaa"),
            dataset("d2", "digits", "v2", "sha256:bbb"),
            dataset("d3", "iris", "v1", None),
        ],
        SqlIterationDataset: [
            {"iteration_id": i, "dataset_id": d}
            for i, d in (("i1", "d1"), ("i1", "d3"), ("i2", "d2"), ("i3", "d3"))
        ],
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The hand-made iterations in a real database, once per backend."""
    postgres = None
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("query") / "store.db"
        engine = create_engine(f"sqlite:///{path}")
    else:
        postgres = _postgres_uri()
        engine = create_engine(normalize_uri(postgres))
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        for model, rows in _rows().items():
            conn.execute(insert(model.__table__), rows)  # type: ignore[arg-type]
    yield engine
    engine.dispose()
    if postgres is not None:
        _drop_schema(postgres)


def ids(
    engine: Engine,
    text: str = "",
    order: str | Sequence[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[str]:
    """The ids of the iterations matching ``text``, sorted by ``order``, as the store would."""
    stmt = select(iterations.c.id)
    cond = where_clause(parse_filter(text), NOW)
    if cond is not None:
        stmt = stmt.where(cond)
    stmt = order_clauses(parse_order_by(order), NOW).apply(stmt).limit(limit).offset(offset)
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(stmt)]


FILTERS = {
    # metrics: last by default, min/max, NaN (NULL) never matches, missing never matches
    "metrics.accuracy > 0.9": ["i1", "i4"],
    "metrics.accuracy != 0.95": ["i2", "i4"],
    "not metrics.accuracy > 0.9": ["i2", "i3", "i5", "i6"],
    "max(metrics.accuracy) >= 0.91": ["i1", "i2", "i4"],
    "metrics.accuracy.min < 0.45": ["i2", "i3"],
    "metrics.accuracy in (0.85, 0.92)": ["i2", "i4"],
    "metrics.accuracy not in (0.85)": ["i1", "i4"],
    'metrics."val.loss" < 0.3': ["i1"],
    "metrics.missing > 0": [],
    # params: strings, numbers, booleans and null are different types
    'params.model = "rf"': ["i1", "i4"],
    'params.model in ("gb", "xgb")': ["i2", "i3"],
    'params.model not in ("rf")': ["i2", "i3", "i6"],
    'params.model != "rf"': ["i2", "i3", "i6"],
    'not params.model = "rf"': ["i2", "i3", "i5", "i6"],
    "params.n = 5": ["i1"],
    'params.n = "5"': ["i2"],
    "params.n >= 5": ["i1"],
    "params.flag = true": ["i1"],
    "params.flag = false": ["i2"],
    "params.flag = 1": [],
    "params.flag != true": ["i2"],
    "params.opt = null": ["i3"],
    "params.lr = null": [],
    "params.lr != 0.1": ["i2", "i3", "i4"],
    "not params.lr = 0.1": ["i2", "i3", "i4", "i5", "i6"],
    "params.lr < 0.2": ["i1", "i3"],
    "params.`learning rate` = 0.01": ["i1"],
    'params."learning rate" = 0.01': ["i1"],
    'params.日本 = "はい"': ["i6"],
    'params.model like "R%"': ["i1", "i4"],
    'params.model not like "r%"': ["i2", "i3", "i6"],
    # status: crashed is a running iteration whose heartbeat stopped
    'status = "crashed"': ["i4"],
    'status = "running"': ["i3", "i5"],
    'status != "running"': ["i1", "i2", "i4", "i6"],
    'not status = "crashed"': ["i1", "i2", "i3", "i5", "i6"],
    'status in ("crashed", "failed")': ["i2", "i4"],
    'status not in ("running", "crashed")': ["i1", "i2", "i6"],
    'STATUS == "finished"': ["i1"],
    # time: duration is NULL while running; dates are epoch seconds
    "duration > 50": ["i1", "i6"],
    "duration != 60": ["i2", "i6"],
    "duration = null": ["i3", "i4", "i5"],
    "not duration > 50": ["i2", "i3", "i4", "i5"],
    "ended_at = null": ["i3", "i4", "i5"],
    "ended_at != null": ["i1", "i2", "i6"],
    "ended_at not in (160, 230)": ["i6"],
    "ended_at in (null, 160)": ["i1", "i3", "i4", "i5"],
    'started_at > "1970-01-01T00:05:00Z"': ["i4", "i5", "i6"],
    'started_at >= "1970-01-01 00:05:00+00:00"': ["i3", "i4", "i5", "i6"],
    "started_at < 250": ["i1", "i2"],
    # datasets: "the iteration used a dataset such that ..."
    'dataset = "digits"': ["i1", "i2"],
    'dataset.version = "v2"': ["i2"],
    "dataset.digest = null": ["i1", "i3"],
    'not dataset = "iris"': ["i2", "i4", "i5", "i6"],
    'dataset.name like "DIG%"': ["i1", "i2"],
    'dataset.id in ("d3")': ["i1", "i3"],
    # text attributes
    'name like "%run"': ["i6"],
    'name = "Ünïcode run"': ["i6"],
    r'name like "%\%%"': ["i5"],
    'name like "rf%" or name = "gb-2"': ["i1", "i2", "i4"],
    'experiment_id = "e2" and status != "killed"': ["i4", "i5"],
    'id in ("i1", "i3")': ["i1", "i3"],
    'project_id = "p1"': ALL,
    'name < "h"': ["i2", "i5"],
    # the documented example
    'metrics.accuracy > 0.9 and (params.model = "rf" or params.model in ("gb", "xgb")) '
    'and not status = "failed"': ["i1", "i4"],
    "": ALL,
}


@pytest.mark.parametrize("text", list(FILTERS))
def test_filter(db: Engine, text: str) -> None:
    assert sorted(ids(db, text)) == FILTERS[text]


ORDERS: list[tuple[str | list[str] | None, list[str]]] = [
    (None, ["i6", "i5", "i4", "i3", "i2", "i1"]),
    ("started_at", ALL),
    ("metrics.accuracy desc", ["i1", "i4", "i2", "i3", "i5", "i6"]),  # NaN and missing last
    ("metrics.accuracy", ["i2", "i4", "i1", "i3", "i5", "i6"]),
    ("min(metrics.accuracy)", ["i3", "i2", "i1", "i4", "i5", "i6"]),
    ("params.lr", ["i3", "i1", "i2", "i4", "i5", "i6"]),
    ("-params.lr", ["i4", "i2", "i1", "i3", "i5", "i6"]),
    ("params.model", ["i2", "i1", "i4", "i3", "i6", "i5"]),  # strings, then JSON, then missing
    ("params.model desc", ["i3", "i1", "i4", "i2", "i6", "i5"]),
    ("params.n", ["i1", "i2", "i3", "i4", "i5", "i6"]),  # the number before the string
    ("ended_at", ["i1", "i2", "i6", "i3", "i4", "i5"]),
    ("ended_at desc", ["i6", "i2", "i1", "i3", "i4", "i5"]),
    ("duration desc", ["i6", "i1", "i2", "i3", "i4", "i5"]),
    ("status", ["i4", "i2", "i1", "i6", "i3", "i5"]),  # crashed < failed < ... < running
    ("status desc, started_at desc", ["i5", "i3", "i6", "i1", "i2", "i4"]),
    (["params.model", "metrics.accuracy desc"], ["i2", "i1", "i4", "i3", "i6", "i5"]),
]


@pytest.mark.parametrize(("order", "expected"), ORDERS, ids=[str(o) for o, _ in ORDERS])
def test_order(db: Engine, order: str | list[str] | None, expected: list[str]) -> None:
    assert ids(db, "", order) == expected


def test_filter_order_and_pages(db: Engine) -> None:
    text, order = 'status != "failed"', "metrics.accuracy desc"
    assert ids(db, text, order) == ["i1", "i4", "i3", "i5", "i6"]
    pages = [ids(db, text, order, limit=2, offset=n) for n in (0, 2, 4)]
    assert pages == [["i1", "i4"], ["i3", "i5"], ["i6"]]
    # the same metric twice and a filter on it: each term gets its own alias
    assert ids(db, "metrics.accuracy > 0", ["metrics.accuracy", "-metrics.accuracy"]) == [
        "i2",
        "i4",
        "i1",
    ]


def test_order_by_text(db: Engine) -> None:
    # ASCII names only: how PostgreSQL sorts "Ü" depends on the database's collation
    assert ids(db, 'name != "Ünïcode run"', "name") == ["i5", "i2", "i1", "i4", "i3"]
    assert ids(db, 'name != "Ünïcode run"', "-name") == ["i3", "i4", "i1", "i2", "i5"]


def test_where_clause_none_and_direct_misuse() -> None:
    assert where_clause(None, NOW) is None
    with pytest.raises(InvalidInput, match="is a number"):
        where_clause(Compare(M("acc"), "=", "high"), NOW)
    with pytest.raises(InvalidInput, match="order by"):
        order_clauses([OrderTerm(Field("dataset", "name"))])


def test_values_are_bound_parameters_and_sql_is_portable() -> None:
    text = "params.model = 'rf' or name like 'x%' or metrics.acc > 0.123 or dataset = 'dig'"
    plan = order_clauses(parse_order_by("params.lr desc, status"), NOW)
    cond = where_clause(parse_filter(text), NOW)
    assert cond is not None
    stmt = plan.apply(select(iterations).where(cond))
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        compiled = stmt.compile(dialect=dialect)
        sql = str(compiled)
        for value in ("'rf'", "x%", "0.123", "dig", "'model'", "'lr'", "crashed"):
            assert value not in sql
        assert {"rf", "x%", 0.123, "dig", "model", "lr"} <= set(compiled.params.values())
        assert "NULLS" not in sql.upper()


_FIELDS = ["params.lr", "params.model", "params.`a b`", "metrics.accuracy", "max(metrics.accuracy)"]
_FIELDS += ["status", "name", "duration", "ended_at", "started_at", "dataset", "dataset.digest"]
_OPS = ["=", "!=", "<", ">=", "in", "not in", "like", "not like"]
_VALUES = ["1", "-2.5e3", '"rf"', '"x%"', '"running"', '"crashed"', '"2026-01-01"', "true", "null"]


def _comparison(field: str, op: str, a: str, b: str) -> str:
    return f"{field} {op} ({a}, {b})" if op.endswith("in") else f"{field} {op} {a}"


_COMPARISONS = st.builds(
    _comparison, *(st.sampled_from(x) for x in (_FIELDS, _OPS, _VALUES, _VALUES))
)
_QUERIES = st.recursive(
    _COMPARISONS,
    lambda inner: st.one_of(
        st.builds("({}) {} ({})".format, inner, st.sampled_from(["and", "or"]), inner),
        inner.map("not {}".format),
    ),
    max_leaves=6,
)
_ORDERS = st.lists(
    st.builds("{} {}".format, st.sampled_from(_FIELDS[:-2]), st.sampled_from(["asc", "desc"])),
    max_size=3,
)


@settings(max_examples=100, deadline=None)
@given(_QUERIES, _ORDERS)
def test_every_valid_query_runs(db: Engine, text: str, order: list[str]) -> None:
    """Whatever parses also compiles and runs; the rest is InvalidInput, never a crash."""
    try:
        node = parse_filter(text)
    except InvalidInput:
        node = None
    cond = where_clause(node, NOW)
    stmt = select(iterations.c.id)
    if cond is not None:
        stmt = stmt.where(cond)
    with db.connect() as conn:
        found = conn.execute(order_clauses(parse_order_by(order), NOW).apply(stmt)).all()
    assert len(found) == len({row[0] for row in found}) <= len(ALL)

"""Reading iterations: one query picks the page, three bulk queries fill it in.

Filtering and sorting run on the iterations table joined to the per-iteration summary rows
(indexed), never on the metric points, so a page stays cheap at 100,000 iterations.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict, namedtuple
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    func,
    literal,
    not_,
    select,
    union_all,
)

from mlops.entities import Dataset, Iteration, MetricSummary
from mlops.errors import InvalidInput
from mlops.query import MAX_NAMES, OrderTerm, parse_filter, parse_order_by
from mlops.store.sql import filters, rows
from mlops.store.sql.engine import DriverCursor
from mlops.store.sql.filters import Probe, order_clauses, where_clause
from mlops.store.sql.models import (
    DATASETS,
    EXPERIMENTS,
    ITERATION_DATASETS,
    ITERATION_TAGS,
    ITERATIONS,
    METRIC_SUMMARIES,
    PARAMETERS,
    PROJECTS,
)
from mlops.store.sql.param_order import is_big, page_by_parameter

# SQLite allows 32,766 bound parameters per statement; stay well below it.
_CHUNK = 5000


def visible(
    conn: Connection,
    deleted: bool | None,
    experiment_id: str | None = None,
    project_id: str | Collection[str] | None = None,
) -> ColumnElement[bool] | None:
    """Which iterations a read shows: ``False`` live ones only, ``True`` deleted ones only
    (deleted themselves or in a deleted experiment or project), ``None`` all (no condition).
    ``experiment_id`` and ``project_id`` (ids the read is limited to already) keep the
    condition to the deleted containers that matter (see :func:`live`)."""
    if deleted is None:
        return None
    if not isinstance(deleted, bool):
        raise InvalidInput(f"deleted must be True, False or None, got {deleted!r:.100}")
    shown = live(conn, experiment_id, project_id)
    return not_(shown) if deleted else shown


def live(
    conn: Connection,
    experiment_id: str | None = None,
    project_id: str | Collection[str] | None = None,
) -> ColumnElement[bool]:
    """The iterations that are not deleted, nor in a deleted experiment or project.

    Deleted experiments and projects are few (usually none): they are read first (one query
    for both) and named in the condition, so that it stays inside the indexes that end in
    ``deleted_at`` and a count stays a scan of one index. A read limited to an experiment or
    to projects names only the deleted ones among them (none, usually: then the condition is
    the iteration's own ``deleted_at``, and the planner keeps the experiment's or project's
    index)."""
    own = ITERATIONS.c.deleted_at.is_(None)
    gone_experiments = select(EXPERIMENTS.c.id).where(EXPERIMENTS.c.deleted_at.is_not(None))
    gone_projects = select(PROJECTS.c.id).where(PROJECTS.c.deleted_at.is_not(None))
    both = union_all(
        select(literal(0).label("kind"), gone_experiments.limit(_GONE + 1).subquery().c.id),
        select(literal(1).label("kind"), gone_projects.limit(_GONE + 1).subquery().c.id),
    )
    found: tuple[list[str], list[str]] = ([], [])
    for kind, object_id in conn.execute(both).all():
        found[kind].append(object_id)
    experiments, projects = found
    if experiment_id is not None and len(experiments) <= _GONE:
        experiments = [e for e in experiments if e == experiment_id]
    if projects and len(projects) <= _GONE:
        if experiment_id is not None and project_id is None:
            owner = select(EXPERIMENTS.c.project_id).where(EXPERIMENTS.c.id == experiment_id)
            project_id = conn.execute(owner).scalar()
        if project_id is not None:
            among = {project_id} if isinstance(project_id, str) else set(project_id)
            projects = [p for p in projects if p in among]
    conditions = [own]
    for ids, column, gone in (
        (experiments, ITERATIONS.c.experiment_id, gone_experiments),
        (projects, ITERATIONS.c.project_id, gone_projects),
    ):
        if ids:
            conditions.append(column.not_in(gone if len(ids) > _GONE else ids))
    return and_(*conditions) if len(conditions) > 1 else own


#: The order of a fetch by iteration ids: by id first, so the database walks the table's
#: primary key (iteration_id, name) in order. Ordered by name alone, SQLite walks the name
#: index of every iteration in the database instead (10,000 ids of 100,000: 209 ms, not 27).
_IN_KEY_ORDER = "ORDER BY iteration_id"

#: Up to this many deleted experiments are sent as values; past it, as a subquery.
_GONE = 500


def load_iterations(
    conn: Connection,
    ids: Sequence[str],
    now: float,
    parameter_names: Sequence[str] | None = None,
    metric_names: Sequence[str] | None = None,
) -> list[Iteration]:
    """The iterations with these ids, in the order of ``ids`` (unknown ids skipped), with all
    their parameters and metrics or only the named ones."""
    if len(ids) == 1 and parameter_names is None and metric_names is None:
        return _load_one(conn, ids[0], now)
    cur = DriverCursor(conn)
    decoded = cur.postgresql
    found: dict[str, Any] = {}
    params: dict[str, dict[str, Any]] = defaultdict(dict)
    summaries: dict[str, dict[str, MetricSummary]] = defaultdict(dict)
    datasets: dict[str, list[Dataset]] = defaultdict(list)
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        among = f"IN ({cur.marks(len(chunk))})"
        for values in cur.fetch(
            f"SELECT {_ITERATION_ROW.columns} FROM iterations WHERE iterations.id {among}", chunk
        ):
            row = _ITERATION_ROW.row(values, decoded)
            found[row.id] = row
        if not found:
            continue
        named, names = _named(cur, parameter_names)
        texts = cur.fetch(
            "SELECT iteration_id, name, value_json FROM parameters "
            f"WHERE parameters.iteration_id {among}{named} {_IN_KEY_ORDER}, name",
            chunk + names,
        )
        for (iteration_id, name, _), value in zip(
            texts, decoded_parameters([t[2] for t in texts]), strict=True
        ):
            params[iteration_id][name] = value
        named, names = _named(cur, metric_names)
        for iteration_id, name, last, last_step, low, high in cur.fetch(
            "SELECT iteration_id, name, last, last_step, min, max FROM metric_summaries "
            f"WHERE metric_summaries.iteration_id {among}{named} {_IN_KEY_ORDER}, name",
            chunk + names,
        ):
            summaries[iteration_id][name] = MetricSummary(
                math.nan if last is None else last, last_step, low, high
            )
        for values in cur.fetch(
            f"SELECT l.iteration_id, {_DATASET_ROW.columns} FROM iteration_datasets AS l "
            f"JOIN datasets AS d ON d.id = l.dataset_id WHERE l.iteration_id {among} "
            "ORDER BY l.iteration_id, d.name, d.version",
            chunk,
        ):
            datasets[values[0]].append(rows.dataset(_DATASET_ROW.row(values[1:], decoded)))
        for iteration_id, key, value in cur.fetch(
            f"SELECT iteration_id, key, value FROM iteration_tags "
            f"WHERE iteration_tags.iteration_id {among} {_IN_KEY_ORDER}, key",
            chunk,
        ):
            tags[iteration_id][key] = value
    return [
        rows.iteration_of(found[i], params[i], summaries[i], datasets[i], tags[i], now)
        for i in ids
        if i in found
    ]


def _named(cur: DriverCursor, names: Sequence[str] | None) -> tuple[str, list[str]]:
    """The condition on ``name`` of a fetch by iteration ids limited to ``names`` (see
    :func:`_by_key`), and its parameters; nothing for every name."""
    if names is None:
        return "", []
    if not names:
        return " AND 1 = 0", []
    return f" AND (name || '') IN ({cur.marks(len(names))})", list(names)


def decoded_parameters(texts: list[str]) -> list[Any]:
    """Parameter values of their stored JSON texts, decoded in one call of the JSON parser
    (one call per value costs more than the rest of a page of iterations)."""
    try:
        values = json.loads("[" + ",".join(texts) + "]")
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != len(texts):  # a damaged text: one by one
        values = [rows.decode_parameter(text) for text in texts]
    return values


def _one(table: Any, column: Any, *columns: Any) -> Select[Any]:
    query = select(*columns) if columns else select(table)
    return query.where(column == bindparam("id_"))


# One iteration (get, end): built once, so SQLAlchemy neither builds nor keys them each time.
_ONE_ITERATION = _one(ITERATIONS, ITERATIONS.c.id)
_ONE_PARAMETERS = _one(
    PARAMETERS, PARAMETERS.c.iteration_id, PARAMETERS.c.name, PARAMETERS.c.value_json
).order_by(PARAMETERS.c.name)
_S = METRIC_SUMMARIES.c
_ONE_SUMMARIES = _one(
    METRIC_SUMMARIES, _S.iteration_id, _S.name, _S.last, _S.last_step, _S.min, _S.max
).order_by(_S.name)
_ONE_DATASETS = (
    select(ITERATION_DATASETS.c.iteration_id, DATASETS)
    .join(DATASETS, DATASETS.c.id == ITERATION_DATASETS.c.dataset_id)
    .where(ITERATION_DATASETS.c.iteration_id == bindparam("id_"))
    .order_by(DATASETS.c.name, DATASETS.c.version)
)
_ONE_TAGS = _one(ITERATION_TAGS, ITERATION_TAGS.c.iteration_id).order_by(ITERATION_TAGS.c.key)


def _load_one(conn: Connection, iteration_id: str, now: float) -> list[Iteration]:
    """``load_iterations`` of one id, with all its parameters and metrics."""
    key = {"id_": iteration_id}
    found = conn.execute(_ONE_ITERATION, key).first()
    if found is None:
        return []
    params = conn.execute(_ONE_PARAMETERS, key).all()
    summaries = conn.execute(_ONE_SUMMARIES, key).all()
    datasets = [rows.dataset(row) for row in conn.execute(_ONE_DATASETS, key).all()]
    tags = conn.execute(_ONE_TAGS, key).all()
    return [rows.iteration(found, params, summaries, datasets, tags, now)]


class _DriverTable:
    """Every column of a table read through the driver: the SELECT list, and a row class with
    the columns as attributes (what :mod:`mlops.store.sql.rows` reads), JSON columns decoded
    as SQLAlchemy would (SQLite hands back their text; psycopg, the value)."""

    def __init__(self, table: Any, prefix: str = "") -> None:
        names = [c.name for c in table.columns]
        self.columns = ", ".join(prefix + n for n in names)
        self._json = [i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)]
        self._row: Any = namedtuple(f"{table.name}_row", names)  # type: ignore[misc]

    def row(self, values: Sequence[Any], decoded: bool) -> Any:
        """The row of ``values``; ``decoded``: the driver has decoded the JSON columns."""
        if self._json and not decoded:
            values = list(values)
            for i in self._json:
                if values[i] is not None:
                    values[i] = json.loads(values[i])
        return self._row._make(values)


_ITERATION_ROW = _DriverTable(ITERATIONS)
_DATASET_ROW = _DriverTable(DATASETS, "d.")
_Parameter = namedtuple("_Parameter", "name value_json")
_Summary = namedtuple("_Summary", "name last last_step min max")
_Tag = namedtuple("_Tag", "key value")
_DRIVER_ONE = (
    f"SELECT {_ITERATION_ROW.columns} FROM iterations WHERE id = {{p}}",
    "SELECT name, value_json FROM parameters WHERE iteration_id = {p} ORDER BY name",
    "SELECT name, last, last_step, min, max FROM metric_summaries WHERE iteration_id = {p} "
    "ORDER BY name",
    "SELECT key, value FROM iteration_tags WHERE iteration_id = {p} ORDER BY key",
    f"SELECT {_DATASET_ROW.columns} FROM iteration_datasets AS l JOIN datasets AS d "
    "ON d.id = l.dataset_id WHERE l.iteration_id = {p} ORDER BY d.name, d.version",
)


def load_one(cur: DriverCursor, iteration_id: str, now: float) -> Iteration | None:
    """The iteration with this id and all it logged (None when unknown), read through the
    driver: the end of every iteration returns it."""
    one, parameters, summaries, tags, datasets = _DRIVER_ONE
    key = (iteration_id,)
    found = cur.rows(one, key)
    if not found:
        return None
    decoded = cur.postgresql
    return rows.iteration(
        _ITERATION_ROW.row(found[0], decoded),
        [_Parameter._make(r) for r in cur.rows(parameters, key)],
        [_Summary._make(r) for r in cur.rows(summaries, key)],
        [rows.dataset(_DATASET_ROW.row(r, decoded)) for r in cur.rows(datasets, key)],
        [_Tag._make(r) for r in cur.rows(tags, key)],
        now,
    )


def _by_key(name: Any) -> Any:
    """The ``name`` column of a fetch by iteration ids, as the condition on names should see it.

    For ``iteration_id IN (...) AND name IN (...)`` both databases pick a ``(name, value)``
    index over the primary key ``(iteration_id, name)`` (SQLite without statistics rates them
    equal; PostgreSQL's statistics see few names): at 100,000 iterations that walks every
    iteration with the name, 20 times slower than reading the page's ids. ``name || ''`` is
    the same value that no index serves, so both take the primary key and filter the names."""
    return name + ""


def _scoped(
    query: Select[Any],
    experiment_id: str | None,
    project_id: str | frozenset[str] | None,
    filter: str | None,
    now: float,
    shown: ColumnElement[bool] | None,
    probe: Probe | None = None,
) -> Select[Any]:
    if shown is not None:
        query = query.where(shown)
    if experiment_id is not None:
        query = query.where(ITERATIONS.c.experiment_id == experiment_id)
    if isinstance(project_id, frozenset):  # a token limited to projects (mlops.app.scope)
        query = query.where(ITERATIONS.c.project_id.in_(sorted(project_id)))
    elif project_id is not None:
        query = query.where(ITERATIONS.c.project_id == project_id)
    condition = where_clause(parse_filter(filter or ""), now, experiment_id, probe)
    if condition is not None:
        query = query.where(condition)
    return query


def probe(conn: Connection, page: bool = False) -> Probe | None:
    """For a read that can stop early (``page``: a page, else a capped count): on SQLite,
    count a metric condition's matches (up to :data:`~mlops.store.sql.filters.RANGE_LIMIT`, or
    ``PAGE_RANGE_LIMIT`` for a page) so that :func:`~mlops.store.sql.filters.where_clause` picks
    a range only when it is short. PostgreSQL weighs the two forms itself, with its
    statistics: None."""
    if conn.dialect.name != "sqlite":
        return None
    counted: dict[str, int] = {}  # the same condition, asked again by the same read

    def count(query: Select[Any]) -> int:
        compiled = query.compile(conn)
        key = f"{compiled}|{sorted(compiled.params.items())}"
        if key not in counted:
            total = select(func.count()).select_from(query.subquery())
            counted[key] = int(conn.execute(total).scalar() or 0)
        return counted[key]

    return Probe(count, filters.PAGE_RANGE_LIMIT if page else filters.RANGE_LIMIT)


def _one_metric_condition(filter: str | None) -> bool:
    """Whether a filter is a single condition on a metric (``metrics.loss < 0.5``)."""
    node = parse_filter(filter or "")
    field = getattr(node, "field", None)
    return field is not None and field.kind == "metric"


def list_iterations(
    conn: Connection,
    experiment_id: str | None,
    project_id: str | None,
    filter: str | None,
    order_by: str | Sequence[str] | None,
    limit: int,
    offset: int,
    now: float,
    parameter_names: Sequence[str] | None = None,
    metric_names: Sequence[str] | None = None,
    deleted: bool | None = False,
) -> list[Iteration]:
    """One page of iterations matching the filter, in the requested order."""
    parameter_names = _names(parameter_names, "parameter_names")
    metric_names = _names(metric_names, "metric_names")
    ids = page_ids(conn, experiment_id, project_id, filter, order_by, limit, offset, now, deleted)
    return load_iterations(conn, ids, now, parameter_names, metric_names)


def page_ids(
    conn: Connection,
    experiment_id: str | None,
    project_id: str | None,
    filter: str | None,
    order_by: str | Sequence[str] | None,
    limit: int,
    offset: int,
    now: float,
    deleted: bool | None = False,
) -> list[str]:
    """The ids of one page of iterations matching the filter, in the requested order
    (``deleted`` as in :func:`visible`)."""
    terms = parse_order_by(order_by)
    shown = visible(conn, deleted, experiment_id, project_id)
    if terms[0].field.kind == "metric":
        return _page_by_metric(
            conn, experiment_id, project_id, filter, terms, limit, offset, now, shown
        )
    query = _scoped(
        select(ITERATIONS.c.id),
        experiment_id,
        project_id,
        filter,
        now,
        shown,
        probe(conn, page=True),
    )
    if (
        len(terms) == 1
        and terms[0].field.kind == "param"
        and experiment_id is not None
        and conn.dialect.name == "sqlite"
        and is_big(conn, _scoped(select(ITERATIONS.c.id), experiment_id, None, None, now, shown))
    ):  # a big experiment by one parameter: read in index order (param_order)
        return page_by_parameter(conn, terms[0], query, limit, offset)
    query = order_clauses(terms, now).apply(query)
    return list(conn.execute(query.limit(limit).offset(offset)).scalars())


def _names(names: Sequence[str] | None, what: str) -> list[str] | None:
    """The names a search loads (``what`` is the argument's name) as a list, or None."""
    if names is None:
        return None
    if isinstance(names, str):
        raise InvalidInput(f"{what} must be a list of names, not the string {names!r:.100}")
    if len(names) > MAX_NAMES:
        raise InvalidInput(
            f"{what} selects {len(names)} names; at most {MAX_NAMES}: leave it out to load "
            "every one"
        )
    for name in names:
        if not isinstance(name, str):
            raise InvalidInput(f"{what} must hold names (strings), not {type(name).__name__}")
    return list(names)


def _page_by_metric(
    conn: Connection,
    experiment_id: str | None,
    project_id: str | None,
    filter: str | None,
    terms: list[OrderTerm],
    limit: int,
    offset: int,
    now: float,
    shown: ColumnElement[bool] | None,
) -> list[str]:
    """A page ordered by a metric, read from the summaries' index in order.

    Iterations with a value come first, read from ``(experiment_id, name, value)`` in index
    order, so the database never sorts the whole experiment; iterations without a value (or
    with NaN) follow, and are only looked at when the page reaches them.
    """
    first = terms[0]
    rest = order_clauses([t for t in terms[1:] if t.field != first.field], now)
    summary = METRIC_SUMMARIES.alias("order_by_metric")
    value = summary.c[first.field.agg or "last"]
    joined = and_(summary.c.iteration_id == ITERATIONS.c.id, summary.c.name == first.field.name)
    check = probe(conn, page=True)
    valued = (
        _scoped(select(ITERATIONS.c.id), experiment_id, project_id, filter, now, shown, check)
        .join(summary, joined)
        .where(value.is_not(None))
    )
    if experiment_id is not None:  # lets the database pick the per-experiment index
        valued = valued.where(summary.c.experiment_id == experiment_id)
    ordered = rest.apply(valued).order_by(None)
    ordered = ordered.order_by(value.desc() if first.descending else value.asc(), *rest.order_by)
    ids = list(conn.execute(ordered.limit(limit).offset(offset)).scalars())
    if len(ids) == limit:
        return ids
    count = conn.execute(select(func.count()).select_from(valued.subquery())).scalar() or 0
    has_value = select(summary.c.iteration_id).where(joined, value.is_not(None)).exists()
    missing = _scoped(select(ITERATIONS.c.id), experiment_id, project_id, filter, now, shown, check)
    missing = rest.apply(missing.where(~has_value))
    skip = max(offset - count, 0)
    ids += conn.execute(missing.limit(limit - len(ids)).offset(skip)).scalars()
    return ids


def count_iterations(
    conn: Connection,
    experiment_id: str | None,
    project_id: str | None,
    filter: str | None,
    now: float,
    limit: int | None = None,
    deleted: bool | None = False,
) -> int:
    """How many iterations match (at most ``limit`` when given: counting stops there)."""
    shown = visible(conn, deleted, experiment_id, project_id)
    if limit is None:
        query = _scoped(
            select(func.count()).select_from(ITERATIONS), experiment_id, project_id, filter,
            now, shown,
        )  # fmt: skip
        return int(conn.execute(query).scalar() or 0)
    check = probe(conn) if _one_metric_condition(filter) else None
    matching = _scoped(
        select(ITERATIONS.c.id), experiment_id, project_id, filter, now, shown, check
    )
    query = select(func.count()).select_from(matching.limit(limit).subquery())
    return int(conn.execute(query).scalar() or 0)

"""Iterations and metric histories as pandas DataFrames, for analysis in a notebook.

pandas is optional: it is imported when a frame is asked for, never by ``import
mlops.tracking``; without it the error says what to install. The frames are built column by
column from pages of the store (one request per page), not row by row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops.errors import InvalidInput, MissingDependency
from mlops.values import check_id, check_name

if TYPE_CHECKING:
    import pandas

    from mlops.store import Store
    from mlops.store.base import IterationTable

__all__ = ["PAGE_SIZE", "SYSTEM_PREFIX", "history_frame", "iterations_frame"]

#: Iterations read per request; None: the store's own page (5,000 from a database, and 5,000,
#: the largest page of the App's ``POST /iterations/table``, through the App).
PAGE_SIZE: int | None = None
#: Metrics whose name starts with this are the system metrics sampled in the background.
SYSTEM_PREFIX = "system/"

_INSTALL = 'pip install "mlops-library[pandas]"'


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise MissingDependency(
            f"DataFrames need pandas, which is not installed: {_INSTALL} (or pip install pandas)"
        ) from None
    return pandas


def _store() -> Store:
    from mlops.tracking._api import _store as current

    return current()


def _flush_running() -> None:
    """Write what the iterations running in this process logged, so the frame shows it."""
    from mlops.tracking._writer import WRITER

    for running in list(WRITER._active.values()):
        running._flush()


def _check_limit(limit: object) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidInput(f"limit must be a whole number >= 0 or None (every one), got {limit!r}")
    return limit


def _check_switch(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be True or False, got {value!r}")
    return value


def iterations_frame(
    experiment_id: str | None = None,
    project_id: str | None = None,
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
    *,
    system_metrics: bool = False,
) -> pandas.DataFrame:
    """The iterations as a pandas DataFrame, one row per iteration.

    The scope is that of :func:`list_iterations`: the iterations of ``experiment_id``, else of
    ``project_id``, else of every project (the active project is not applied: pass its id).
    ``filter`` and ``order_by`` are the query language of :func:`list_iterations`, e.g.
    ``iterations_frame(exp_id, filter="metrics.accuracy > 0.9", order_by="-metrics.accuracy")``;
    the default order is newest first. ``limit`` caps the rows (None: every iteration).

    Columns, in this order:

    - ``id``, ``name``, ``status`` (text), ``experiment_id``
    - ``started_at``: a pandas datetime in UTC; ``duration``: seconds as a float (NaN while
      running; ``pandas.to_timedelta(df.duration, unit="s")`` makes Timedeltas)
    - ``params.<name>`` for every parameter any of the iterations has, by name: numbers stay
      numbers (``int64``, or ``float64`` where some iteration lacks the parameter), booleans
      ``bool``, texts strings; a parameter holding values of several types (or lists and
      dicts) is an ``object`` column of the values as logged; missing is NaN / None
    - ``metrics.<name>``: the last value of each metric (at its highest step), ``float64``
    - ``tags.<key>``: the iteration's tags, as text

    Metrics whose name starts with ``system/`` (CPU, memory, GPU... sampled while an iteration
    runs) are left out unless ``system_metrics=True``.

    The iterations are read in pages of 5,000, in columns (one query per kind of value, one
    request per page through the App), so 100,000 of them take seconds. Iterations running in
    this process are written first, so the frame shows what they logged.

    Needs pandas: ``pip install "mlops-library[pandas]"``; without it raises
    :class:`~mlops.errors.MissingDependency` (an ``ImportError``) saying so.
    """
    pd = _pandas()
    if experiment_id is not None:
        check_id(experiment_id, "experiment_id")
    if project_id is not None:
        check_id(project_id, "project_id")
    if filter is not None and not isinstance(filter, str):
        raise InvalidInput(f"filter must be a query string, got {filter!r}")
    limit = _check_limit(limit)
    keep_system = _check_switch(system_metrics, "system_metrics")
    _flush_running()
    pages = _store().iteration_tables(
        experiment_id, project_id, filter, order_by, limit, page_size=PAGE_SIZE
    )
    columns = _Columns(keep_system)
    for page in pages:
        columns.add(page)
    return columns.frame(pd)


class _Columns:
    """The frame's columns, filled page by page: lists for the fixed columns, and for the
    parameters, metrics and tags of every page their (frame row, name, value) triples, turned
    into columns at the end with numpy (no per-row dicts)."""

    def __init__(self, keep_system: bool) -> None:
        self.keep_system = keep_system
        self.seen: set[str] = set()
        self.ids: list[str] = []
        self.names: list[str] = []
        self.statuses: list[str] = []
        self.experiments: list[str] = []
        self.started: list[float] = []
        self.ended: list[float | None] = []
        self.triples: dict[str, tuple[list[Any], list[Any], list[Any]]] = {
            kind: ([], [], []) for kind in ("params", "metrics", "tags")
        }

    def add(self, page: IterationTable) -> None:
        import numpy as np

        base = len(self.ids)
        fresh = self.seen.isdisjoint(page.ids)
        where = np.arange(base, base + len(page.ids))
        if not fresh:  # a page boundary shifted by a new iteration: drop what came already
            where = np.array([-1 if i in self.seen else 0 for i in page.ids])
            keep = where == 0
            where[keep] = np.arange(base, base + int(keep.sum()))
        for k in np.flatnonzero(where >= 0):
            self.ids.append(page.ids[k])
            self.names.append(page.names[k])
            self.statuses.append(page.statuses[k])
            self.experiments.append(page.experiment_ids[k])
            self.started.append(page.started_at[k])
            self.ended.append(page.ended_at[k])
        self.seen.update(page.ids)
        columns: list[tuple[str, tuple[list[int], list[str], list[Any]]]] = [
            ("params", page.parameters),
            ("metrics", page.metrics),
            ("tags", page.tags),
        ]
        for kind, (rows, names, values) in columns:
            at = where[np.asarray(rows, dtype=np.intp)]
            wanted = at >= 0
            if kind == "metrics" and not self.keep_system:
                wanted &= np.fromiter(
                    (not n.startswith(SYSTEM_PREFIX) for n in names), bool, len(names)
                )
            stored = self.triples[kind]
            if wanted.all():
                stored[0].append(at)
                stored[1].extend(names)
                stored[2].extend(values)
            else:
                picked = np.flatnonzero(wanted)
                stored[0].append(at[picked])
                stored[1].extend(names[k] for k in picked)
                stored[2].extend(values[k] for k in picked)

    def frame(self, pd: Any) -> pandas.DataFrame:
        import numpy as np

        n = len(self.ids)
        started = np.array(self.started, dtype=np.float64)
        ended = np.array([math.nan if e is None else e for e in self.ended], dtype=np.float64)
        data: dict[str, Any] = {
            "id": _text(pd, self.ids),
            "name": _text(pd, self.names),
            "status": _text(pd, self.statuses),
            "experiment_id": _text(pd, self.experiments),
            "started_at": _times(pd, started),
            "duration": ended - started,
        }
        for kind in ("params", "metrics", "tags"):
            row_parts, names, values = self.triples[kind]
            if not names:
                continue
            rows = np.concatenate(row_parts)
            codes, uniques = pd.factorize(np.asarray(names, dtype=object), sort=True)
            if kind == "metrics":
                table = np.full((n, len(uniques)), np.nan)
                table[rows, codes] = np.asarray(values, dtype=np.float64)
                for j, name in enumerate(uniques):
                    data[f"metrics.{name}"] = table[:, j]
                continue
            order = np.argsort(codes, kind="stable")
            ends = np.cumsum(np.bincount(codes, minlength=len(uniques)))
            objects = np.fromiter(values, dtype=object, count=len(values))[order]
            rows = rows[order]
            begin = 0
            for j, name in enumerate(uniques):
                part = slice(begin, ends[j])
                data[f"{kind}.{name}"] = _values(pd, np, n, rows[part], objects[part])
                begin = ends[j]
        return pd.DataFrame(data, index=pd.RangeIndex(n))


def _text(pd: Any, values: Any) -> Any:
    """A column of texts in pandas' own string type (``str`` in pandas 3, ``object`` before)."""
    return pd.Series(values, dtype=pd.Series(["x"]).dtype)


def _repeated_text(pd: Any, np: Any, texts: list[str], sizes: list[int]) -> Any:
    """A text column holding ``texts[k]`` ``sizes[k]`` times each, in pandas' own string type:
    the few distinct texts converted once, then taken by position (converting a million
    repeated Python strings one by one costs more than reading the series)."""
    distinct = pd.array(texts, dtype=pd.Series(["x"]).dtype)
    return pd.Series(distinct.take(np.repeat(np.arange(len(texts)), sizes)))


def _times(pd: Any, seconds: Any) -> Any:
    """Epoch seconds as pandas datetimes in UTC, to the microsecond, rounded as the dicts'
    ISO times are (``datetime.fromtimestamp``: the fraction of a second, half to even)."""
    import numpy as np

    whole = np.trunc(seconds)
    micros = np.round((seconds - whole) * 1e6)
    return pd.to_datetime(whole * 1e6 + micros, unit="us", utc=True)


def _values(pd: Any, np: Any, n: int, rows: Any, values: Any) -> Any:
    """One parameter (or tag) column: the values' type kept when they all have the same one
    (integers that become float64 where some row lacks the parameter), else ``object``."""
    kinds = set(map(type, values))
    complete = len(rows) == n
    try:
        if kinds <= {int, float}:
            if kinds == {int} and complete:
                column = np.empty(n, dtype=np.int64)
            else:
                column = np.full(n, np.nan)
            column[rows] = values.astype(column.dtype)
            return column
        if kinds == {bool}:
            if complete:
                column = np.empty(n, dtype=bool)
                column[rows] = values.astype(bool)
                return column
            filled = pd.array(np.full(n, None, dtype=object), dtype="boolean")
            filled[rows] = values.astype(bool)
            return filled
    except OverflowError:  # an integer beyond 64 bits: kept as logged, in an object column
        pass
    column = np.full(n, None, dtype=object)
    column[rows] = values
    return _text(pd, column) if kinds == {str} else column


def history_frame(
    iteration_ids: str | Sequence[str],
    metric_names: str | Sequence[str] | None = None,
    *,
    system_metrics: bool = False,
) -> pandas.DataFrame:
    """Metric histories in long form, one row per point, for plotting: columns
    ``iteration_id``, ``metric`` (text), ``step`` (``int64``), ``value`` (``float64``, NaN and
    ±Inf as logged) and ``timestamp`` (a pandas datetime in UTC), by iteration (in the order
    given), metric (in the order given, else by name) and step.

    ``iteration_ids`` is one id or a list; ``metric_names`` one name, a list, or None for every
    metric of each iteration (``system/`` metrics only with ``system_metrics=True``; a metric
    named explicitly is always read). An iteration without a named metric contributes no rows
    for it; a name that none of the iterations has raises ``NotFound`` listing the metrics they
    have, and an unknown iteration id raises ``NotFound``. E.g.::

        df = tracking.history_frame([a, b], "val_loss")
        df.pivot(index="step", columns="iteration_id", values="value").plot()

    Each series is read in one go, in columns (through the App, one request answered with
    packed arrays); named metrics are read without reading the iterations first. Needs
    pandas: ``pip install "mlops-library[pandas]"`` (else
    :class:`~mlops.errors.MissingDependency`, an ``ImportError``).
    """
    pd = _pandas()
    import numpy as np

    from mlops.errors import NotFound
    from mlops.tracking._api import _flush_if_running

    ids = _name_list(iteration_ids, "iteration_ids", check_id)
    names = None if metric_names is None else _name_list(metric_names, "metric_names", check_name)
    keep_system = _check_switch(system_metrics, "system_metrics")
    store = _store()
    parts: list[tuple[str, str, Any, Any, Any]] = []
    have: set[str] = set()
    for iteration_id in dict.fromkeys(ids):
        _flush_if_running(iteration_id)
        if names is None:
            logged = store.get_iteration(iteration_id).metrics
            wanted = sorted(n for n in logged if keep_system or not n.startswith(SYSTEM_PREFIX))
        else:  # named metrics are read straight away (one request each through the App)
            wanted = names
        for name in wanted:
            try:
                series = store.get_metric_columns(iteration_id, name)
            except NotFound:
                if names is None:
                    raise
                store.get_iteration(iteration_id)  # an unknown iteration raises NotFound
                continue  # this iteration has no such metric
            have.add(name)
            parts.append(
                (
                    iteration_id,
                    name,
                    np.frombuffer(series.steps, np.int64),
                    np.frombuffer(series.values, np.float64),
                    np.frombuffer(series.timestamps, np.float64),
                )
            )
    if names is not None:
        unknown = [n for n in names if n not in have]
        if unknown:
            for iteration_id in dict.fromkeys(ids):
                have.update(store.get_iteration(iteration_id).metrics)
            known = ", ".join(sorted(have)) or "none"
            raise NotFound(
                f"no metric {', '.join(map(repr, unknown))} in iterations "
                f"{', '.join(dict.fromkeys(ids))} (their metrics: {known})"
            )
    sizes = [len(p[2]) for p in parts]

    def joined(k: int, dtype: Any) -> Any:
        return np.concatenate([p[k] for p in parts]) if parts else np.array([], dtype=dtype)

    return pd.DataFrame(
        {
            "iteration_id": _repeated_text(pd, np, [p[0] for p in parts], sizes),
            "metric": _repeated_text(pd, np, [p[1] for p in parts], sizes),
            "step": joined(2, np.int64),
            "value": joined(3, np.float64),
            "timestamp": _times(pd, joined(4, np.float64)),
        }
    )


def _name_list(value: object, what: str, check: Any) -> list[str]:
    """One id (or name) or a list of them, checked."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, bytes) or not items:
        raise InvalidInput(
            f"{what} must be one string or a non-empty list of them, got {value!r:.100}"
        )
    for item in items:
        check(item, what.rstrip("s"))
    return list(items)

"""How projects, experiments, iterations and their lists show in Jupyter: compact HTML tables
(``_repr_html_``), with a link to the App's page when the tracking URI is an App.

The tracking functions return these dict and list subclasses: they are plain dicts and lists in
every other way (``==``, ``json.dumps``, ``pickle``, ``copy``) and add no state. Every value is
escaped; long lists show their first :data:`MAX_ROWS` rows and say how many more there are.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = [
    "MAX_ROWS",
    "ExperimentDict",
    "ExperimentList",
    "IterationDict",
    "IterationList",
    "ProjectDict",
    "ProjectList",
    "iteration_html",
]

#: Rows a table shows (a list, or the parameters of one iteration) before "... N more".
MAX_ROWS = 50
#: Metric and parameter columns a list of iterations shows.
MAX_VALUE_COLUMNS = 6
#: Metrics whose name starts with this (sampled CPU, memory, GPU...) are not shown.
SYSTEM_PREFIX = "system/"
#: Characters of one value shown (longer texts end in "…").
MAX_TEXT = 80

# notebooks style tables themselves; this keeps them small everywhere
_STYLE = 'style="border-collapse:collapse;font-size:12px;text-align:left"'


def app_url() -> str | None:
    """The App's base URL when the tracking URI is an App (without any user or password)."""
    from mlops.config import tracking_uri

    try:
        uri = tracking_uri()
    except Exception:  # a bad URI is reported by the calls that use it, not by a repr
        return None
    if not uri.startswith(("http://", "https://")):
        return None
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _link(text: str, kind: str, record_id: object, base: str | None) -> str:
    shown = _cell(text)
    if base is None or not isinstance(record_id, str) or not record_id:
        return shown
    href = html.escape(f"{base}/{kind}/{quote(record_id, safe='')}", quote=True)
    return f'<a href="{href}" target="_blank">{shown}</a>'


def _cell(value: object) -> str:
    """One value as escaped text: numbers compact, long texts cut."""
    if value is None:
        return ""
    if isinstance(value, bool | int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value) if math.isnan(value) or math.isinf(value) else f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    else:
        import json

        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return html.escape(text, quote=True)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], note: str = "") -> str:
    """An HTML table of cells that are already escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    caption = f"<caption>{note}</caption>" if note else ""
    return f"<table {_STYLE}>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _more(total: int, what: str) -> str:
    left = total - MAX_ROWS
    return f"<p><i>… and {left:,} more {what} ({total:,} in all)</i></p>" if left > 0 else ""


def _duration(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    seconds = float(value)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


def _fields(title: str, pairs: Sequence[tuple[str, str]]) -> str:
    rows = [(f"<b>{html.escape(k)}</b>", v) for k, v in pairs]
    return _table([title, ""], rows)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- one record ---------------------------------------------------------------------------
def project_html(project: Mapping[str, Any]) -> str:
    base = app_url()
    pairs = [
        ("title", _link(str(project.get("title", "")), "projects", project.get("id"), base)),
        ("id", _cell(project.get("id"))),
        ("status", _cell(project.get("status"))),
        ("archived", _cell(project.get("archived"))),
        ("description", _cell(project.get("description"))),
        ("created", _cell(project.get("created_at"))),
    ]
    return _fields("project", pairs)


def experiment_html(experiment: Mapping[str, Any]) -> str:
    base = app_url()
    pairs = [
        ("name", _link(str(experiment.get("name", "")), "experiments", experiment.get("id"), base)),
        ("id", _cell(experiment.get("id"))),
        ("project", _link(str(experiment.get("project_id", "")), "projects",
                          experiment.get("project_id"), base)),
        ("description", _cell(experiment.get("description"))),
        ("created", _cell(experiment.get("created_at"))),
    ]  # fmt: skip
    return _fields("experiment", pairs)


def iteration_html(iteration: Mapping[str, Any]) -> str:
    """One iteration: who it is, then its parameters, metrics (last values) and tags."""
    base = app_url()
    pairs = [
        ("name", _link(str(iteration.get("name", "")), "iterations", iteration.get("id"), base)),
        ("id", _cell(iteration.get("id"))),
        ("status", _cell(iteration.get("status"))),
        ("experiment", _link(str(iteration.get("experiment_id", "")), "experiments",
                             iteration.get("experiment_id"), base)),
        ("started", _cell(iteration.get("started_at"))),
        ("duration", _duration(iteration.get("duration_seconds"))),
    ]  # fmt: skip
    error = iteration.get("error")
    if isinstance(error, Mapping):
        pairs.append(("error", _cell(f"{error.get('type', '')}: {error.get('message', '')}")))
    values: list[tuple[str, str, str]] = []
    system = 0
    for kind, key in (("param", "parameters"), ("metric", "metrics"), ("tag", "tags")):
        for name, value in _mapping(iteration.get(key)).items():
            if kind == "metric" and str(name).startswith(SYSTEM_PREFIX):
                system += 1  # sampled CPU, memory, GPU...: in the App's own chart group
                continue
            values.append((kind, _cell(name), _cell(value)))
    parts = [_fields("iteration", pairs)]
    if values:
        parts.append(_table(["", "name", "value"], values[:MAX_ROWS]))
        parts.append(_more(len(values), "values"))
    if system:
        parts.append(f"<p><i>{system:,} system metrics not shown</i></p>")
    return "".join(parts)


# -- lists --------------------------------------------------------------------------------
def projects_html(projects: Sequence[Mapping[str, Any]]) -> str:
    base = app_url()
    rows = [
        (
            _link(str(p.get("title", "")), "projects", p.get("id"), base),
            _cell(p.get("id")),
            _cell(p.get("status")),
            _cell(p.get("description")),
            _cell(p.get("created_at")),
        )
        for p in projects[:MAX_ROWS]
    ]
    header = ["title", "id", "status", "description", "created"]
    return _table(header, rows, f"{len(projects):,} projects") + _more(len(projects), "projects")


def experiments_html(experiments: Sequence[Mapping[str, Any]]) -> str:
    base = app_url()
    rows = [
        (
            _link(str(e.get("name", "")), "experiments", e.get("id"), base),
            _cell(e.get("id")),
            _cell(e.get("project_id")),
            _cell(e.get("description")),
            _cell(e.get("created_at")),
        )
        for e in experiments[:MAX_ROWS]
    ]
    header = ["name", "id", "project", "description", "created"]
    note = f"{len(experiments):,} experiments"
    return _table(header, rows, note) + _more(len(experiments), "experiments")


def _first_names(records: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    """Up to MAX_VALUE_COLUMNS names of ``key`` (parameters or metrics) in the shown rows,
    system metrics left out."""
    names: dict[str, None] = {}
    for record in records:
        found = record.get(key)
        if not isinstance(found, Mapping):
            continue
        for name in found:
            if isinstance(name, str) and not name.startswith(SYSTEM_PREFIX):
                names.setdefault(name)
                if len(names) >= MAX_VALUE_COLUMNS:
                    return list(names)
    return list(names)


def iterations_html(iterations: Sequence[Mapping[str, Any]]) -> str:
    base = app_url()
    shown = iterations[:MAX_ROWS]
    params = _first_names(shown, "parameters")
    metrics = _first_names(shown, "metrics")
    header = ["name", "id", "status", "started", "duration"]
    header += [f"params.{_cell(n)}" for n in params] + [f"metrics.{_cell(n)}" for n in metrics]
    rows = []
    for it in shown:
        p = _mapping(it.get("parameters"))
        m = _mapping(it.get("metrics"))
        rows.append(
            [
                _link(str(it.get("name", "")), "iterations", it.get("id"), base),
                _cell(str(it.get("id", ""))[:8]),
                _cell(it.get("status")),
                _cell(it.get("started_at")),
                _duration(it.get("duration_seconds")),
                *(_cell(p.get(n)) for n in params),
                *(_cell(m.get(n)) for n in metrics),
            ]
        )
    note = f"{len(iterations):,} iterations"
    return _table(header, rows, note) + _more(len(iterations), "iterations")


# -- the dict and list subclasses the tracking functions return -----------------------------
class ProjectDict(dict[str, Any]):
    """A project's dict (a plain ``dict``) that shows as a table in Jupyter."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        return project_html(self)


class ExperimentDict(dict[str, Any]):
    """An experiment's dict (a plain ``dict``) that shows as a table in Jupyter."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        return experiment_html(self)


class IterationDict(dict[str, Any]):
    """An iteration's dict (a plain ``dict``) that shows as a table in Jupyter."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        return iteration_html(self)


class ProjectList(list[dict[str, Any]]):
    """A list of project dicts (a plain ``list``) that shows as one table in Jupyter."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        return projects_html(self)


class ExperimentList(list[dict[str, Any]]):
    """A list of experiment dicts (a plain ``list``) that shows as one table in Jupyter."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        return experiments_html(self)


class IterationList(list[dict[str, Any]]):
    """A list of iteration dicts (a plain ``list``) that shows as one table in Jupyter."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        return iterations_html(self)

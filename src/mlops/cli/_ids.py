"""Ids for people: tables show the first characters of an id, and every command that takes an
id takes any unique prefix of one back (the way git takes a short commit hash).

An exact id always wins, so an id that is also the start of a longer one still names itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mlops.errors import InvalidInput, NotFound

__all__ = [
    "SHORT_ID",
    "resolve_dataset",
    "resolve_experiment",
    "resolve_iteration",
    "resolve_project",
    "short_ids",
]

#: Characters of an id a table shows (more when two ids of the table start alike).
SHORT_ID = 8

#: Prefixes looked up with the query language's ``like`` (others must be exact ids).
_PLAIN = re.compile(r"^[A-Za-z0-9_.:-]+$")

#: Most candidates an ambiguity error names.
_NAMED = 3


def short_ids(ids: Sequence[str]) -> list[str]:
    """The ids cut to :data:`SHORT_ID` characters, or to as many more as it takes for the
    different ids of ``ids`` to stay different."""
    distinct = set(ids)
    length = SHORT_ID
    while len({i[:length] for i in distinct}) < len(distinct):
        length += 1
    return [i[:length] for i in ids]


def _resolve(
    kind: str,
    ref: str,
    exists: Callable[[str], Any],
    candidates: Callable[[str], Iterable[str]],
) -> str:
    """The one id of a ``kind`` that is ``ref`` or starts with it.

    Raises the library's ``NotFound`` when none does and ``InvalidInput`` naming a few of the
    matches when several do.
    """
    try:
        exists(ref)
        return ref
    except NotFound:
        matches = sorted({i for i in candidates(ref) if i.startswith(ref)})
        if not matches:
            raise
    if len(matches) == 1:
        return matches[0]
    named = ", ".join(matches[:_NAMED]) + (", ..." if len(matches) > _NAMED else "")
    raise InvalidInput(
        f"{ref!r} is the start of several {kind} ids ({named}): give more characters"
    )


def resolve_iteration(ref: str) -> str:
    """The id of the iteration whose id is or starts with ``ref``."""
    from mlops import tracking

    def candidates(prefix: str) -> list[str]:
        if not _PLAIN.match(prefix):
            return []
        pattern = prefix.replace("_", "\\_")
        found = tracking.list_iterations(
            filter=f'id like "{pattern}%"', order_by="id", limit=_NAMED + 1, deleted=None
        )
        return [row["id"] for row in found]

    return _resolve("iteration", ref, tracking.get_iteration, candidates)


def resolve_experiment(ref: str) -> str:
    """The id of the experiment (of any project) whose id is or starts with ``ref``."""
    from mlops import tracking

    def candidates(prefix: str) -> list[str]:
        projects = [p["id"] for p in tracking.list_projects()]
        return [
            e["id"] for p in projects for e in tracking.list_experiments(project_id=p, deleted=None)
        ]

    return _resolve("experiment", ref, tracking.get_experiment, candidates)


def resolve_project(ref: str) -> str:
    """The id of the project whose id is or starts with ``ref``."""
    from mlops import tracking

    def candidates(prefix: str) -> list[str]:
        return [p["id"] for p in tracking.list_projects(deleted=None)]

    return _resolve("project", ref, tracking.get_project, candidates)


def resolve_project_named(ref: str, deleted: bool | None = None) -> str:
    """The id of the project titled ``ref`` (a live one first, else the newest deleted one
    when ``deleted`` allows), or whose id is or starts with ``ref``."""
    from mlops import tracking

    titled = [p for p in tracking.list_projects(deleted=deleted) if p["title"] == ref]
    titled.sort(key=lambda p: (p["deleted_at"] is not None, -_stamp(p["deleted_at"])))
    return str(titled[0]["id"]) if titled else resolve_project(ref)


def _stamp(iso: str | None) -> float:
    import datetime as dt

    return 0.0 if iso is None else dt.datetime.fromisoformat(iso).timestamp()


def resolve_dataset(ref: str) -> str:
    """The id of the dataset version whose id is or starts with ``ref``."""
    from mlops import tracking

    def candidates(prefix: str) -> list[str]:
        return [d["id"] for d in tracking.list_datasets(deleted=None)]

    return _resolve("dataset", ref, tracking.get_dataset, candidates)

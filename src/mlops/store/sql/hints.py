"""Tables read through a named index: ``INDEXED BY`` on SQLite, a plain alias elsewhere.

SQLite's planner takes a unique index matched on all its columns over any other index with the
same leading columns, even over one that holds every column the query reads (it then reads the
table's row for each entry). Where a covering index exists for exactly such a lookup, the query
names it. PostgreSQL's planner weighs both itself, so there the alias is a plain one.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Alias

__all__ = ["indexed_alias"]


class _IndexedAlias(Alias):
    """An alias read through :attr:`index` on SQLite."""

    inherit_cache = True
    index = ""


@functools.cache
def _alias_class(index: str) -> type[_IndexedAlias]:
    # one class per index: the class is part of the statement's cache key, the index is not
    name = "IndexedBy_" + "".join(c if c.isalnum() else "_" for c in index)
    return type(name, (_IndexedAlias,), {"index": index, "inherit_cache": True})


def indexed_alias(table: Table, index: str, name: str) -> Alias:
    """``table AS name``, read through the index named ``index`` on SQLite."""
    if index not in {found.name for found in table.indexes}:
        raise ValueError(f"table {table.name} has no index {index!r}")
    return _alias_class(index)._construct(table, name=name)


@compiles(_IndexedAlias)
def _plain(element: _IndexedAlias, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.visit_alias(element, **kw)


@compiles(_IndexedAlias, "sqlite")
def _on_sqlite(element: _IndexedAlias, compiler: SQLCompiler, **kw: Any) -> str:
    text = compiler.visit_alias(element, **kw)
    if kw.get("asfrom") and not kw.get("ashint"):
        text += f" INDEXED BY {compiler.preparer.quote(element.index)}"
    return text

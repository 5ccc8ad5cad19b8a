"""SqlStore: the store on SQLite (embedded, the default) or PostgreSQL (a team's App)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mlops.store.base import Store
from mlops.store.sql.annotate import AnnotationMethods
from mlops.store.sql.audit import AuditMethods
from mlops.store.sql.columns import SeriesReads
from mlops.store.sql.engine import LOCK_DEADLINE, make_engine
from mlops.store.sql.grouping import GroupMethods
from mlops.store.sql.migrate import ensure_schema
from mlops.store.sql.overview import OverviewMethods
from mlops.store.sql.registry_changes import RegistryChanges
from mlops.store.sql.tokens import TokenMethods
from mlops.store.sql.trash import TrashMethods
from mlops.store.sql.views import ViewMethods


class SqlStore(
    GroupMethods,
    ViewMethods,
    TrashMethods,
    SeriesReads,
    AnnotationMethods,
    RegistryChanges,
    OverviewMethods,
    AuditMethods,
    TokenMethods,
    Store,
):
    """A store in one SQL database, reached through SQLAlchemy (see :class:`Store`).

    Opening it creates the schema of a new, empty database and refuses a database whose
    schema is older than this mlops (``SchemaOutdated`` names ``mlops db upgrade``). On
    PostgreSQL, ``statement_timeout`` (seconds) stops a longer statement with ``QueryTimeout``.
    """

    def __init__(self, uri: str, statement_timeout: float | None = None) -> None:
        self.uri = uri
        self._engine = make_engine(uri, statement_timeout)
        ensure_schema(self._engine)

    @contextlib.contextmanager
    def bounded(self, deadline: float) -> Iterator[bool]:
        """SQLite waits for a lock at most until ``deadline`` inside (its busy timeout is set
        to the time left as each transaction begins); PostgreSQL makes no such promise."""
        if self._engine.dialect.name != "sqlite":
            yield False
            return
        token = LOCK_DEADLINE.set(deadline)
        try:
            yield True
        finally:
            LOCK_DEADLINE.reset(token)

    def close(self) -> None:
        self._engine.dispose()

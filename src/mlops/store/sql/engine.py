"""Engines and the one managed transaction helper of the SQL store.

SQLite is set up for many writers on one machine: WAL journal, a long busy timeout, foreign keys
on, and ``BEGIN IMMEDIATE`` for write transactions so that two writers queue on the lock instead
of failing with "database is locked" when a read transaction tries to become a write.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mlops.config import redact_uri
from mlops.errors import (
    AlreadyExists,
    InvalidInput,
    MlopsError,
    QueryTimeout,
    StorageError,
    Unavailable,
)
from mlops.store.sql import sqlite_file

BUSY_TIMEOUT_SECONDS = 120
#: Engines of embedded databases that can only be read, with what a write is told.
_READ_ONLY: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
POOL_TIMEOUT = 10


def normalize_uri(uri: str) -> str:
    """``postgresql://`` uses psycopg 3 (SQLAlchemy would otherwise pick psycopg2)."""
    if uri.startswith("postgresql://"):
        return "postgresql+psycopg://" + uri[len("postgresql://") :]
    return uri


def make_engine(uri: str, statement_timeout: float | None = None) -> Engine:
    """An engine for a ``sqlite:///`` or ``postgresql(+psycopg)://`` URI. On PostgreSQL,
    ``statement_timeout`` (seconds; None or 0: none) stops any statement running longer, and
    the store raises ``QueryTimeout`` for it."""
    uri = normalize_uri(uri)
    url = make_url(uri)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:"):
            raise InvalidInput(
                "an in-memory SQLite store would lose everything at exit: "
                "use sqlite:///path/to/file.db"
            )
        path = Path(database).expanduser()
        read_only = sqlite_file.prepare(path)
        connect_args: dict[str, Any] = {"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
        extra: dict[str, Any] = {}
        if read_only:  # an existing database in a folder we cannot write: serve reads
            ro_uri = sqlite_file.read_only_uri(path)
            extra["creator"] = lambda: sqlite3.connect(
                ro_uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False
            )
        engine = create_engine(
            url.set(database=str(path)),
            connect_args=connect_args,
            pool_size=8,
            max_overflow=8,
            pool_timeout=POOL_TIMEOUT,
            **extra,
        )
        if read_only:
            _READ_ONLY[engine] = sqlite_file.read_only_message(path)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if url.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise InvalidInput(
                "PostgreSQL needs the psycopg driver: pip install 'mlops-library[postgres]'"
            ) from None
        # Set at connect, after the URI's own options (a search_path...). JIT never pays back
        # on our short queries: a filter of 30 conditions on 20,000 iterations spent 9 s
        # compiling and 1.5 s running.
        own = url.query.get("options", "")
        options = [" ".join(own) if isinstance(own, tuple) else own, "-c jit=off"]
        if statement_timeout:
            options.append(f"-c statement_timeout={max(1, round(statement_timeout * 1000))}")
        connect_args = {"options": " ".join(options).strip()}
        # A bounded pool: when it is exhausted for POOL_TIMEOUT seconds the request fails with
        # Unavailable (503 + Retry-After from the App) instead of piling up.
        engine = create_engine(
            url, pool_size=10, max_overflow=10, pool_timeout=POOL_TIMEOUT, pool_pre_ping=True,
            connect_args=connect_args,
        )  # fmt: skip
        if statement_timeout:
            event.listen(engine, "handle_error", _timed_out(statement_timeout))
        return engine
    raise InvalidInput(
        f"store {redact_uri(uri)!r} is not supported: use sqlite:/// or postgresql://"
    )


def _timed_out(seconds: float) -> Callable[[ExceptionContext], None]:
    def handle_error(context: ExceptionContext) -> None:
        # 57014 is query_canceled: by the statement timeout, or by an administrator. A write
        # that timed out (waiting on a lock) stays Unavailable: the client retries it.
        original, conn = context.original_exception, context.connection
        if conn is not None and conn.get_execution_options().get("mlops_write"):
            return
        if getattr(original, "sqlstate", None) == "57014" and "timeout" in str(original):
            raise QueryTimeout(
                f"the database stopped this request after {seconds:g} s, the App's statement "
                "timeout: ask for less at once (narrow the filter, e.g. to one experiment or "
                "fewer conditions), or start the App with a longer --statement-timeout"
            )

    return handle_error


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take over transaction control from the sqlite3 module so BEGIN IMMEDIATE can be used.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    with contextlib.suppress(sqlite3.OperationalError):  # a read-only database keeps its mode
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


#: The ``time.monotonic()`` by which this thread's SQLite transactions stop waiting for a lock
#: (:meth:`SqlStore.bounded <mlops.store.sql.store.SqlStore.bounded>`); None: the connection's
#: :data:`BUSY_TIMEOUT_SECONDS`.
LOCK_DEADLINE: ContextVar[float | None] = ContextVar("mlops_lock_deadline", default=None)


def _busy_timeout(conn: Connection) -> None:
    """The connection's busy timeout set to what :data:`LOCK_DEADLINE` leaves (a statement
    only when it changes)."""
    deadline = LOCK_DEADLINE.get()
    limit = BUSY_TIMEOUT_SECONDS * 1000
    wait = limit if deadline is None else int((deadline - time.monotonic()) * 1000)
    if wait > 1000:
        wait -= wait % 1000  # whole seconds, rounded down: the same value end after end
    wait = min(max(wait, 1), limit)
    info = conn.info
    if info.get("busy_timeout", limit) != wait:
        # on the driver's connection: through SQLAlchemy this cost more than the commit
        conn.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={wait}")  # type: ignore[union-attr]
        info["busy_timeout"] = wait


def _sqlite_on_begin(conn: Connection) -> None:
    _busy_timeout(conn)
    immediate = conn.get_execution_options().get("mlops_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextlib.contextmanager
def transaction(
    engine: Engine,
    write: bool,
    what: str,
    attach: tuple[str, str] | None = None,
    foreign_keys: bool = True,
    snapshot: bool = False,
) -> Iterator[Connection]:
    """One transaction: commit on success, roll back on error, database errors translated.

    ``what`` names the operation for messages ("create project 'x'"). ``attach``: (schema,
    file) of an SQLite database attached to the connection for the transaction (SQLite only:
    ATTACH and DETACH cannot run inside a transaction, so they run around it).
    ``foreign_keys=False`` (SQLite, with ``attach``: the bulk copy of an import, which writes
    only rows whose parents it wrote or read in the same transaction) skips SQLite's lookup of
    the parent row for every child row; the pragma is set around the transaction, like ATTACH.
    ``snapshot=True``: every statement of the transaction sees the database as its first one
    did (PostgreSQL's REPEATABLE READ; an SQLite read transaction always does), for a read
    whose statements must agree (a count, then the rows counted).
    """
    if write and engine in _READ_ONLY:
        raise InvalidInput(f"cannot {what}: {_READ_ONLY[engine]}")
    try:
        with engine.connect() as conn:
            if write:
                conn = conn.execution_options(mlops_write=True)
            elif snapshot and conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            raw = conn.connection.dbapi_connection if attach else None
            if raw is not None and attach is not None:
                raw.execute(f"ATTACH DATABASE ? AS {attach[0]}", (attach[1],))
                if not foreign_keys:
                    raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    yield conn
            finally:
                if raw is not None and attach is not None:
                    if not foreign_keys:
                        raw.execute("PRAGMA foreign_keys=ON")
                    raw.execute(f"DETACH DATABASE {attach[0]}")
    except IntegrityError as exc:
        raise AlreadyExists(
            f"cannot {what}: it conflicts with existing data ({_short(exc)})"
        ) from exc
    except DBAPIError as exc:
        raise translate(exc, what, engine) from exc
    except PoolTimeout as exc:
        raise Unavailable(
            f"cannot {what}: every database connection is busy; retry shortly"
        ) from exc
    except OverflowError as exc:  # the driver cannot bind the value (SQLite: beyond 64 bits)
        raise StorageError(
            f"cannot {what}: the database cannot store one of its values ({exc})"
        ) from exc


#: SQLite result codes (primary, the low byte) of a database that is busy, locked or cannot be
#: opened right now: the same operation may succeed shortly.
_SQLITE_TRANSIENT = {5, 6, 7, 14, 15}  # BUSY, LOCKED, NOMEM, CANTOPEN, PROTOCOL
_SQLITE_DAMAGED = {11, 26}  # CORRUPT, NOTADB
#: PostgreSQL SQLSTATE classes and codes of the same kind: connection exceptions, serialization
#: failures and deadlocks, operator intervention (shutdown, canceled statement), no memory, too
#: many connections, a lock not available.
_PG_TRANSIENT_CLASSES = ("08", "40", "57")
_PG_TRANSIENT = {"53200", "53300", "55P03"}


def translate(exc: DBAPIError, what: str, engine: Engine) -> MlopsError:
    """The mlops error for a database error: :class:`Unavailable` (503, retried) when the
    database is unreachable, locked, busy or overloaded; :class:`StorageError` (500, not
    retried) when it refused the operation for a reason of its own (a damaged file, a limit
    of the engine, a value out of range), with what the database said; :class:`InvalidInput`
    for text it cannot hold (NUL)."""
    where = redact_uri(str(engine.url))
    if _transient(exc):
        return Unavailable(
            f"cannot {what}: the database at {where} is unavailable ({_short(exc)}); check "
            "that it is reachable and not locked by a stuck process"
        )
    if _bad_text(exc):  # PostgreSQL text cannot hold NUL: a value's fault, not the database's
        return InvalidInput(
            f"cannot {what}: a name, id or text value contains a NUL character (\\x00), which "
            "the database cannot keep: remove it"
        )
    hint = ""
    if (getattr(exc.orig, "sqlite_errorcode", None) or 0) & 0xFF in _SQLITE_DAMAGED:
        hint = "; the database file is damaged: restore it from a backup"
    return StorageError(f"cannot {what}: the database at {where} said: {_short(exc)}{hint}")


def _bad_text(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in ("22021", "22P05") or "NUL (0x00)" in str(exc.orig)


def _transient(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return sqlite_code & 0xFF in _SQLITE_TRANSIENT
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate:
        return sqlstate[:2] in _PG_TRANSIENT_CLASSES or sqlstate in _PG_TRANSIENT
    # No code at all: the driver could not talk to the server (refused, reset, timed out).
    return isinstance(exc, OperationalError)


def _short(exc: DBAPIError) -> str:
    return str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__


def driver_rows(conn: Connection, result: CursorResult[Any]) -> list[Any]:
    """All rows of ``result`` as the driver's own tuples (no SQLAlchemy row objects: building
    them costs more than the database's work for a long series), closing it. An error of the
    driver while fetching is raised as SQLAlchemy's, so that :func:`transaction` sorts it
    into a storage error or Unavailable like any other."""
    try:
        return list(result.cursor.fetchall()) if result.cursor is not None else []
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            None, None, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc
    finally:
        result.close()


class DriverCursor:
    """The driver's own cursor on the connection of an open transaction, for the statements
    of the write hot path (an iteration's start, batches and end): SQLAlchemy's execution
    layer (result objects, events, parameter processing) cost more than the database's work
    for these small statements. ``template`` strings use ``{p}`` for a placeholder. An error
    of the driver is raised as SQLAlchemy's, so that :func:`transaction` sorts it into a
    storage error, ``AlreadyExists`` or ``Unavailable`` like any other."""

    __slots__ = ("_cursor", "_dialect", "_error", "_placeholder", "conn")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._dialect = conn.dialect
        self._error: type[Exception] = conn.dialect.loaded_dbapi.Error
        self._placeholder = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self._cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    @property
    def postgresql(self) -> bool:
        """True on PostgreSQL (False on SQLite)."""
        return self._dialect.name == "postgresql"

    def sql(self, template: str) -> str:
        """``template`` with the driver's placeholders."""
        return _driver_sql(template, self._placeholder)

    def marks(self, count: int) -> str:
        """``count`` of the driver's placeholders, comma-separated (an ``IN (...)`` list)."""
        return ", ".join([self._placeholder] * count)

    def rows(self, template: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of a query, as the driver's tuples."""
        return self.fetch(_driver_sql(template, self._placeholder), params)

    def fetch(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of a query written with the driver's own placeholders (see :meth:`marks`)."""
        self._announce(statement, params)
        try:
            cursor = self._cursor
            cursor.execute(statement, params)
            return list(cursor.fetchall())
        except self._error as exc:
            raise self._translated(statement, params, exc) from exc

    def chunks(
        self, template: str, params: Sequence[Any] = (), size: int = 8192
    ) -> Iterator[Sequence[Any]]:
        """The rows of a query as the driver's tuples, ``size`` at a time: a long result
        (a million points of a series) never becomes a million live tuples at once, which
        the cyclic garbage collector would walk again and again while they pile up. On
        PostgreSQL the rows come in the binary protocol: no number is parsed from text (100
        series of 1,000 points: 58 ms instead of 99)."""
        statement = _driver_sql(template, self._placeholder)
        self._announce(statement, params)
        cursor = self._cursor
        try:
            if self.postgresql:
                cursor.execute(statement, params, binary=True)  # type: ignore[call-arg]
            else:
                cursor.execute(statement, params)
            while rows := cursor.fetchmany(size):
                yield rows
        except self._error as exc:
            raise self._translated(statement, params, exc) from exc

    def run(self, template: str, params: Sequence[Any] = ()) -> None:
        """One statement without rows (an insert, an update)."""
        statement = _driver_sql(template, self._placeholder)
        try:
            self._cursor.execute(statement, params)
        except self._error as exc:
            raise self._translated(statement, params, exc) from exc

    def run_many(self, template: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for each row of ``rows`` (the driver's ``executemany``)."""
        statement = _driver_sql(template, self._placeholder)
        try:
            self._cursor.executemany(statement, rows)
        except self._error as exc:
            raise self._translated(statement, rows, exc) from exc

    def _announce(self, statement: str, params: Any) -> None:
        """A query goes to the engine's ``before_cursor_execute`` listeners, when it has any
        (tracing, the tests that explain every read's plan): reads are not hidden from them."""
        listeners = self.conn.dispatch.before_cursor_execute
        if listeners:
            listeners(self.conn, self._cursor, statement, params, None, False)

    def _translated(self, statement: str, params: Any, exc: Exception) -> Exception:
        return DBAPIError.instance(
            statement, params, exc, self._error, dialect=self._dialect, ismulti=None
        )


@functools.lru_cache(maxsize=512)
def _driver_sql(template: str, placeholder: str) -> str:
    return template.format(p=placeholder)

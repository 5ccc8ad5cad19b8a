"""Engines and the one managed transaction helper of the SQL store.

SQLite is set up for many writers on one machine: WAL journal, a long busy timeout, foreign keys
on, and ``BEGIN IMMEDIATE`` for write transactions so that two writers queue on the lock instead
of failing with "database is locked" when a read transaction tries to become a write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mlops.config import redact_uri
from mlops.errors import AlreadyExists, InvalidInput, StorageError, Unavailable

BUSY_TIMEOUT_SECONDS = 120
POOL_TIMEOUT = 10


def normalize_uri(uri: str) -> str:
    """``postgresql://`` uses psycopg 3 (SQLAlchemy would otherwise pick psycopg2)."""
    if uri.startswith("postgresql://"):
        return "postgresql+psycopg://" + uri[len("postgresql://") :]
    return uri


def make_engine(uri: str) -> Engine:
    """An engine for a ``sqlite:///`` or ``postgresql(+psycopg)://`` URI."""
    uri = normalize_uri(uri)
    url = make_url(uri)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:"):
            raise InvalidInput(
                "an in-memory SQLite store would lose everything at exit: "
                "use sqlite:///path/to/file.db"
            )
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url.set(database=str(Path(database).expanduser())),
            connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            pool_size=8,
            max_overflow=8,
            pool_timeout=POOL_TIMEOUT,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if url.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise InvalidInput(
                "PostgreSQL needs the psycopg driver: pip install 'mlops[postgres]'"
            ) from None
        # A bounded pool: when it is exhausted for POOL_TIMEOUT seconds the request fails with
        # Unavailable (503 + Retry-After from the App) instead of piling up.
        return create_engine(
            url, pool_size=10, max_overflow=10, pool_timeout=POOL_TIMEOUT, pool_pre_ping=True
        )
    raise InvalidInput(
        f"store {redact_uri(uri)!r} is not supported: use sqlite:/// or postgresql://"
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take over transaction control from the sqlite3 module so BEGIN IMMEDIATE can be used.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("mlops_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextlib.contextmanager
def transaction(engine: Engine, write: bool, what: str) -> Iterator[Connection]:
    """One transaction: commit on success, roll back on error, database errors translated.

    ``what`` names the operation for messages ("create project 'x'").
    """
    try:
        with engine.connect() as conn:
            if write:
                conn = conn.execution_options(mlops_write=True)
            with conn.begin():
                yield conn
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


def translate(exc: DBAPIError, what: str, engine: Engine) -> Unavailable | StorageError:
    """The mlops error for a database error: :class:`Unavailable` (503, retried) when the
    database is unreachable, locked, busy or overloaded; :class:`StorageError` (500, not
    retried) when it refused the operation for a reason of its own (a damaged file, a limit
    of the engine, a value out of range), with what the database said."""
    where = redact_uri(str(engine.url))
    if _transient(exc):
        return Unavailable(
            f"cannot {what}: the database at {where} is unavailable ({_short(exc)}); check "
            "that it is reachable and not locked by a stuck process"
        )
    hint = ""
    if (getattr(exc.orig, "sqlite_errorcode", None) or 0) & 0xFF in _SQLITE_DAMAGED:
        hint = "; the database file is damaged: restore it from a backup"
    return StorageError(f"cannot {what}: the database at {where} said: {_short(exc)}{hint}")


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

"""Schema versions of the SQL store: Alembic migrations shipped inside the package.

A new, empty database is brought to the current schema on first use (so ``pip install`` and go
works). A database made by an older mlops is refused with the command that fixes it
(``mlops db upgrade``); nothing ever calls ``create_all`` on a live database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from mlops.config import redact_uri
from mlops.errors import SchemaOutdated, Unavailable
from mlops.store.sql.engine import make_engine
from mlops.store.sql.models import SCHEMA_REVISION

_MIGRATIONS = Path(__file__).with_name("migrations")


def current_revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at, or None for a database mlops never touched."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _run_alembic_upgrade(conn: Connection) -> None:
    from alembic import command  # imported only when a migration really runs
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Serialize schema changes between processes that open the same database at once."""
    if engine.dialect.name == "sqlite":
        from filelock import FileLock  # a cross-platform lock (fcntl is POSIX only)

        with FileLock(str(engine.url.database) + ".migrate.lock", thread_local=False):
            yield
    else:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(74737)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(74737)"))
                conn.commit()


def upgrade_engine(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to the newest schema; returns (revision before, revision after)."""
    with _migration_lock(engine):
        with engine.connect() as conn:
            before = current_revision(conn)
        if before != SCHEMA_REVISION:
            with engine.connect() as conn, _references_checked_after(conn), conn.begin():
                _run_alembic_upgrade(conn)
        return before, SCHEMA_REVISION


@contextlib.contextmanager
def _references_checked_after(conn: Connection) -> Iterator[None]:
    """On SQLite, foreign keys are not enforced while migrations run (a table rebuilt as a
    copy is dropped, and dropping a table that others reference would cascade to their rows:
    SQLite can change no constraint in place) and every reference is checked after. The
    pragma only works outside a transaction, so it goes straight to the driver."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise SchemaOutdated(
                f"the upgrade left {len(broken)} rows pointing at missing rows (first: "
                f"{tuple(broken[0])}): restore the backup and report this"
            )
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


@contextlib.contextmanager
def _translated(engine: Engine) -> Iterator[None]:
    try:
        yield
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise Unavailable(
            f"cannot open the database at {redact_uri(str(engine.url))}: {reason}; "
            "check the URI and that the database server is running"
        ) from exc


def upgrade(uri: str) -> tuple[str | None, str]:
    """``mlops db upgrade``: migrate the database at ``uri`` to this version's schema."""
    engine = make_engine(uri)
    try:
        with _translated(engine):
            return upgrade_engine(engine)
    finally:
        engine.dispose()


def ensure_schema(engine: Engine) -> None:
    """Create the schema of a new database; refuse one whose schema is not this version's."""
    with _translated(engine):
        _ensure_schema(engine)


def _ensure_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        revision = current_revision(conn)
        empty = revision is None and not inspect(conn).get_table_names()
    if revision == SCHEMA_REVISION:
        return
    if empty:
        upgrade_engine(engine)
        return
    where = redact_uri(str(engine.url))
    if revision is None:
        raise SchemaOutdated(
            f"the database at {where} has tables but no mlops schema version: "
            "point MLOPS_TRACKING_URI at an mlops database or an empty one"
        )
    raise SchemaOutdated(
        f"the database at {where} is at schema {revision}, this mlops needs {SCHEMA_REVISION}: "
        f"run `mlops db upgrade --store {where}` (back the database up first), "
        "or upgrade mlops if the database is newer"
    )

"""Schema changes happen only through the shipped Alembic migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

import mlops.store.sql.migrate as migrate
from mlops.errors import SchemaOutdated
from mlops.store.sql.engine import make_engine
from mlops.store.sql.models import SCHEMA_REVISION, Base
from mlops.store.sql.store import SqlStore


def test_the_code_expects_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).with_name("migrations")))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_a_migrated_database_matches_the_models(sql_store_uri: str) -> None:
    before, after = migrate.upgrade(sql_store_uri)
    assert (before, after) == (None, SCHEMA_REVISION)
    assert migrate.upgrade(sql_store_uri) == (SCHEMA_REVISION, SCHEMA_REVISION)
    engine = make_engine(sql_store_uri)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_an_outdated_database_is_refused_with_the_fix(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    SqlStore(uri).close()
    engine = make_engine(uri)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    with pytest.raises(SchemaOutdated, match="mlops db upgrade"):
        SqlStore(uri)


def test_a_foreign_database_is_not_touched(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'foreign.db'}"
    engine = make_engine(uri)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id INTEGER)"))
    engine.dispose()
    with pytest.raises(SchemaOutdated, match="no mlops schema"):
        SqlStore(uri)


def test_an_unreachable_database_is_one_clear_error() -> None:
    from mlops.errors import Unavailable

    with pytest.raises(Unavailable, match=r"127\.0\.0\.1:1/"):
        SqlStore("postgresql://nobody@127.0.0.1:1/none")

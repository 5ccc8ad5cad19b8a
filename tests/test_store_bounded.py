"""``Store.bounded``: an embedded SQLite store gives up waiting for a lock by the deadline it is
given, so ``end_iteration`` writes on the user's thread (no hand-off to an end thread); every
other transaction keeps the store's full wait. PostgreSQL makes no such promise. Also: the
settings file is read again when another process changes it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlops import config
from mlops.errors import Unavailable
from mlops.store.sql.engine import BUSY_TIMEOUT_SECONDS
from mlops.store.sql.store import SqlStore


def _busy_timeout(store: SqlStore) -> int:
    with store._engine.connect() as conn:  # the pool's one connection of this thread
        return int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())


@pytest.mark.parametrize("sql_store_uri", ["sqlite"], indirect=True)
def test_a_lock_is_waited_for_until_the_deadline_only_inside_bounded(
    sql_store: SqlStore, sql_store_uri: str
) -> None:
    project = sql_store.create_project("bounded", None, "active", False)
    lock = sqlite3.connect(sql_store_uri.removeprefix("sqlite:///"), isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another process writes, for a long time
    try:
        with sql_store.bounded(time.monotonic() + 0.5) as bounded:
            assert bounded is True
            started = time.monotonic()
            with pytest.raises(Unavailable):
                sql_store.create_experiment(project.id, "waits", None)
            assert time.monotonic() - started < 3
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    sql_store.create_experiment(project.id, "after", None)
    assert _busy_timeout(sql_store) == BUSY_TIMEOUT_SECONDS * 1000  # back to the full wait


@pytest.mark.parametrize("sql_store_uri", ["postgresql"], indirect=True)
def test_postgresql_does_not_promise_a_deadline(sql_store: SqlStore) -> None:
    with sql_store.bounded(time.monotonic() + 1) as bounded:
        assert bounded is False


def test_settings_changed_by_another_process_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    config.write_settings("sqlite:///x.db", active_project_id="first")
    assert config.read_settings("sqlite:///x.db") == {"active_project_id": "first"}
    other = textwrap.dedent(
        """
        from mlops import config
        config.write_settings("sqlite:///x.db", active_project_id="other")
        """
    )
    subprocess.run(
        [sys.executable, "-c", other], check=True, env={**os.environ, "MLOPS_HOME": str(tmp_path)}
    )
    assert config.read_settings("sqlite:///x.db") == {"active_project_id": "other"}

"""Schema changes happen only through the shipped Alembic migrations."""

from __future__ import annotations

import math
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

import mlops.store.sql.migrate as migrate
from mlops.errors import AlreadyExists, SchemaOutdated
from mlops.store.sql.engine import make_engine
from mlops.store.sql.models import SCHEMA_REVISION, Base, in_schema_of
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
            diff = _differences(conn)
    finally:
        engine.dispose()
    assert diff == []


def _differences(conn: Connection) -> list[Any]:
    """What differs between the database and the models, leaving out the indexes its dialect
    does not build (the models' SQLite-only ones on PostgreSQL)."""
    context = MigrationContext.configure(
        conn, opts={"include_object": in_schema_of(conn.dialect.name)}
    )
    return list(compare_metadata(context, Base.metadata))


def _upgrade_to(uri: str, revision: str) -> None:
    """Upgrade to ``revision`` as the migration runner does it (references checked after, on
    SQLite)."""
    engine = make_engine(uri)
    try:
        with engine.connect() as conn, migrate._references_checked_after(conn), conn.begin():
            config = Config()
            config.set_main_option(
                "script_location", str(Path(migrate.__file__).with_name("migrations"))
            )
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _assert_matches_models(uri: str) -> None:
    """The database's tables are exactly the models' (nothing missing, nothing left over)."""
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            assert _differences(conn) == []
    finally:
        engine.dispose()


_OLD_ROWS = [
    "INSERT INTO projects VALUES ('p', 'vision', NULL, 'active', false, 1.0, 1.0)",
    "INSERT INTO experiments VALUES ('e', 'p', 'sweep', NULL, 1.0)",
    "INSERT INTO iterations (id, project_id, experiment_id, name, status, started_at, ended_at, "
    "heartbeat_at, system) VALUES ('i', 'p', 'e', 'run', 'finished', 1.0, 2.0, 2.0, '{}')",
    "INSERT INTO parameters VALUES ('i', 'lr', '0.5', 0.5, NULL)",
    "INSERT INTO metric_points VALUES ('i', 'loss', 0, 3.0, 10.0), ('i', 'loss', 1, 0.5, 11.0), "
    "('i', 'loss', 2, NULL, 12.0), ('i', 'loss', 3, -1e308, 13.0), ('i', 'loss', 4, 5e-324, 14.0)",
    "INSERT INTO metric_summaries VALUES ('i', 'loss', 'e', 5e-324, 4, -1e308, 3.0)",
]


def _old_database(uri: str, revision: str) -> None:
    """A database at ``revision`` holding the rows of ``_OLD_ROWS``."""
    _upgrade_to(uri, revision)
    engine = make_engine(uri)
    with engine.begin() as conn:
        for statement in _OLD_ROWS:
            conn.execute(text(statement))
    engine.dispose()


def test_exact_floats_upgrade_keeps_the_metrics_of_the_previous_schema(sql_store_uri: str) -> None:
    _old_database(sql_store_uri, "0001")
    assert migrate.upgrade(sql_store_uri) == ("0001", SCHEMA_REVISION)

    store = SqlStore(sql_store_uri)
    try:
        history = store.get_metric_history("i", "loss")
        assert [(p.step, p.timestamp) for p in history] == [(s, 10.0 + s) for s in range(5)]
        values = [p.value for p in history]
        assert all(type(v) is float for v in values) and math.isnan(values[2])
        assert values[:2] + values[3:] == [3.0, 0.5, -1e308, 5e-324]
        iteration = store.get_iteration("i")
        summary = iteration.metrics["loss"]
        assert (summary.last, summary.last_step, summary.min, summary.max) == (
            5e-324,
            4,
            -1e308,
            3.0,
        )
        assert iteration.parameters == {"lr": 0.5} and iteration.status == "finished"
        # the upgraded tables keep what the old ones could not
        store.resume("i")
        store.log_batch("i", None, [("loss", 5, -0.0, time.time()), ("zero", 0, -0.0, time.time())])
        assert struct.pack("<d", store.get_metric_history("i", "loss")[-1].value) == struct.pack(
            "<d", -0.0
        )
        zero = store.get_iteration("i").metrics["zero"]
        assert [math.copysign(1.0, v) for v in (zero.last, zero.min, zero.max)] == [-1.0] * 3  # type: ignore[arg-type]
        [best] = store.list_iterations(order_by="metrics.loss desc", filter="metrics.loss > -1")
        assert best.id == "i"
    finally:
        store.close()
    _assert_matches_models(sql_store_uri)


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


def test_the_artifacts_upgrade_keeps_the_data_of_the_previous_schema(sql_store_uri: str) -> None:
    """0003 (artifacts and the model registry) on a database at 0002 with data in it."""
    _old_database(sql_store_uri, "0002")
    assert migrate.upgrade(sql_store_uri) == ("0002", SCHEMA_REVISION)
    store = SqlStore(sql_store_uri)
    try:
        iteration = store.get_iteration("i")
        assert iteration.parameters == {"lr": 0.5} and iteration.metrics["loss"].last_step == 4
        assert len(store.get_metric_history("i", "loss")) == 5
        assert store.list_artifacts("i") == [] and store.list_models() == []
    finally:
        store.close()


_ROWS_AT_0003 = [
    "INSERT INTO iteration_tags VALUES ('i', 'team', 'cv')",
    "INSERT INTO experiments VALUES ('e2', 'p', 'other', 'second', 3.0)",
    "INSERT INTO artifacts VALUES ('i', 'model.pkl', -1, 3, '" + "ab" * 32 + "', "
    "'application/octet-stream', 2.0)",
    "INSERT INTO registered_models VALUES ('clf', NULL, 2.0)",
    "INSERT INTO model_versions VALUES ('clf', 1, 'i', 'model.pkl', NULL, 2.0, 'ada')",
]


def test_the_lifecycle_upgrade_keeps_the_data_of_the_previous_schema(sql_store_uri: str) -> None:
    """0004 (deleted_at, experiment tags, seq in the points' key) on a database at 0003 with
    data in it: every row stays, and the rebuilt tables keep their references (SQLite copies
    ``experiments``, which iterations point at)."""
    _old_database(sql_store_uri, "0003")
    engine = make_engine(sql_store_uri)
    with engine.begin() as conn:
        for statement in _ROWS_AT_0003:
            conn.execute(text(statement))
    engine.dispose()
    assert migrate.upgrade(sql_store_uri) == ("0003", SCHEMA_REVISION)

    store = SqlStore(sql_store_uri)
    try:
        experiments = store.list_experiments("p")
        assert [(e.id, e.name, e.description, e.deleted_at, e.tags) for e in experiments] == [
            ("e2", "other", "second", None, {}),
            ("e", "sweep", None, None, {}),
        ]
        iteration = store.get_iteration("i")
        assert (iteration.experiment_id, iteration.deleted_at) == ("e", None)
        assert iteration.parameters == {"lr": 0.5} and iteration.tags == {"team": "cv"}
        summary = iteration.metrics["loss"]
        assert (summary.last, summary.last_step, summary.min, summary.max) == (
            5e-324, 4, -1e308, 3.0,
        )  # fmt: skip
        history = store.get_metric_history("i", "loss")
        assert [(p.step, p.timestamp) for p in history] == [(s, 10.0 + s) for s in range(5)]
        assert [a.name for a in store.list_artifacts("i")] == ["model.pkl"]
        assert store.get_model_version("clf", 1).iteration_id == "i"
        assert store.count_iterations(project_id="p") == 1
        # the new schema at work on the old rows
        with pytest.raises(AlreadyExists):
            store.create_experiment("p", "sweep", None)
        store.delete_experiment("e")
        assert store.count_iterations(project_id="p") == 0
        assert store.create_experiment("p", "sweep", None).name == "sweep"
        store.resume("i")
        store.log_batch("i", None, [("loss", 4, 7.0, 20.0)], every_value=True)
        assert [p.value for p in store.get_metric_history("i", "loss")][-2:] == [5e-324, 7.0]
    finally:
        store.close()
    engine = make_engine(sql_store_uri)
    try:
        with engine.begin() as conn:  # references are enforced again: cascades work
            conn.execute(text("DELETE FROM model_versions"))
            conn.execute(text("DELETE FROM projects WHERE id = 'p'"))
            for table in ("experiments", "iterations", "metric_points", "experiment_tags"):
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        with engine.connect() as conn:
            assert _differences(conn) == []
    finally:
        engine.dispose()


_ROWS_AT_0004 = [
    "INSERT INTO experiment_tags VALUES ('e', 'team', 'cv')",
    "INSERT INTO artifacts VALUES ('i', 'model.pkl', -1, 3, '" + "ab" * 32 + "', "
    "'application/octet-stream', 2.0)",
    "INSERT INTO registered_models VALUES ('clf', 'a classifier', 2.0)",
    "INSERT INTO model_versions VALUES ('clf', 1, 'i', 'model.pkl', 'first', 2.0, 'ada'), "
    "('clf', 2, 'i', 'model.pkl', NULL, 3.0, 'ada')",
    "INSERT INTO model_aliases VALUES ('clf', 'champion', 2, 'ada', 4.0)",
]


def test_the_registry_tags_upgrade_keeps_the_data_of_the_previous_schema(
    sql_store_uri: str,
) -> None:
    """0005 (tags of models and versions, the highest version given) on a database at 0004
    with a registry in it: every model, version and alias stays, and numbering goes on."""
    _old_database(sql_store_uri, "0003")
    _upgrade_to(sql_store_uri, "0004")
    engine = make_engine(sql_store_uri)
    with engine.begin() as conn:
        for statement in _ROWS_AT_0004:
            conn.execute(text(statement))
    engine.dispose()
    assert migrate.upgrade(sql_store_uri) == ("0004", SCHEMA_REVISION)

    store = SqlStore(sql_store_uri)
    try:
        model = store.get_model("clf")
        assert (model.description, model.latest_version, model.aliases, model.tags) == (
            "a classifier", 2, {"champion": 2}, {},
        )  # fmt: skip
        versions = store.list_model_versions("clf")
        assert [(v.version, v.description, v.tags) for v in versions] == [
            (2, None, {}), (1, "first", {}),
        ]  # fmt: skip
        assert store.get_model_version("clf", "champion").created_at == 3.0
        assert store.get_experiment("e").tags == {"team": "cv"}
        # the new schema at work on the old rows
        store.set_model_tags("clf", {"team": "cv"})
        store.set_model_version_tags("clf", 1, {"data": "v1"})
        store.delete_model_version("clf", 2)
        assert store.register_model("clf", "i", "model.pkl", None, "ada").version == 3
        store.rename_model("clf", "vision")
        assert store.get_model_version("vision", 1).tags == {"data": "v1"}
        assert store.get_model("vision").tags == {"team": "cv"}
    finally:
        store.close()
    _assert_matches_models(sql_store_uri)


def test_the_team_access_upgrade_keeps_the_tokens_of_the_previous_schema(
    sql_store_uri: str,
) -> None:
    """0008 (tokens limited to projects, expiring tokens, the audit trail) on a database at
    0005 with a token in it: the token keeps working, unscoped and never expiring."""
    _old_database(sql_store_uri, "0003")
    _upgrade_to(sql_store_uri, "0005")
    import hashlib

    secret = "mlops_old-token-secret"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    engine = make_engine(sql_store_uri)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO api_tokens VALUES ('t1', 'ci', 'write', :digest, 1.0, NULL, NULL)"),
            {"digest": digest},
        )
    engine.dispose()
    assert migrate.upgrade(sql_store_uri) == ("0005", SCHEMA_REVISION)

    store = SqlStore(sql_store_uri)
    try:
        token = store.check_token(secret)
        assert token is not None and token.name == "ci" and token.allows("write")
        assert (token.projects, token.expires_at) == ((), None)
        assert store.get_project("p").title == "vision"
        assert store.get_iteration("i").parameters == {"lr": 0.5}
        _, scoped = store.create_token("team", "read", ["vision"], time.time() + 60)
        assert scoped.projects == ("p",)
    finally:
        store.close()
    _assert_matches_models(sql_store_uri)


def test_the_notes_upgrade_keeps_the_data_of_the_previous_schema(sql_store_uri: str) -> None:
    """0007 (notes) on a database made by 0005 with data in it: every row stays, and the
    old objects take notes."""
    _old_database(sql_store_uri, "0003")
    _upgrade_to(sql_store_uri, "0004")
    engine = make_engine(sql_store_uri)
    with engine.begin() as conn:
        for statement in _ROWS_AT_0004:
            conn.execute(text(statement))
    engine.dispose()
    _upgrade_to(sql_store_uri, "0005")
    assert migrate.upgrade(sql_store_uri) == ("0005", SCHEMA_REVISION)

    store = SqlStore(sql_store_uri)
    try:
        assert store.get_experiment("e").tags == {"team": "cv"}
        assert store.get_model("clf").latest_version == 2
        iteration = store.get_iteration("i")
        assert store.get_note("iteration", "i").text == ""
        assert store.set_note("iteration", "i", "# kept").text == "# kept"
        assert store.set_note("experiment", "e", "why").text == "why"
        assert store.get_iteration("i") == iteration
    finally:
        store.close()
    _assert_matches_models(sql_store_uri)


def test_the_trash_upgrade_keeps_the_data_of_the_previous_schema(sql_store_uri: str) -> None:
    """0009 (deleted projects and datasets, deleted_by, iteration descriptions, names unique
    among live rows) on a database made by 0008 with data in it: every row stays, nothing
    reads as deleted, and a deleted project's title and dataset's version are free at once."""
    _old_database(sql_store_uri, "0003")
    _upgrade_to(sql_store_uri, "0008")
    engine = make_engine(sql_store_uri)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO datasets (id, name, version, path, description, tags, digest, "
                "size_bytes, file_count, created_at) VALUES ('d', 'mnist', 'v1', '/data', NULL, "
                "'[]', NULL, NULL, NULL, 1.0)"
            )
        )
        conn.execute(text("INSERT INTO iteration_datasets VALUES ('i', 'd')"))
    engine.dispose()
    assert migrate.upgrade(sql_store_uri) == ("0008", SCHEMA_REVISION)

    store = SqlStore(sql_store_uri)
    try:
        project = store.get_project("p")
        assert (project.title, project.deleted_at, project.deleted_by) == ("vision", None, None)
        iteration = store.get_iteration("i")
        assert iteration.parameters == {"lr": 0.5} and iteration.description is None
        assert [d.id for d in iteration.datasets] == ["d"]
        assert store.get_experiment("e").deleted_by is None
        assert [d.id for d in store.list_datasets()] == ["d"]
        with pytest.raises(AlreadyExists):
            store.create_project("vision", None, "active", False)
        store.delete_project("p")
        assert store.create_project("vision", None, "active", False).id != "p"
        store.delete_dataset("d", force=True)
        fresh = store.create_dataset("mnist", "/other", None, (), "v1", None, None, None)
        assert fresh.id != "d"
        assert store.restore_dataset("d", version="v1-old").version == "v1-old"
    finally:
        store.close()
    _assert_matches_models(sql_store_uri)


def _assert_old_rows_kept(store: SqlStore) -> None:
    """The iteration ``_old_database`` wrote reads back whole: its parameter, its subnormal
    final loss and the five points of its history."""
    iteration = store.get_iteration("i")
    assert iteration.parameters == {"lr": 0.5}
    assert iteration.metrics["loss"].last == 5e-324
    assert len(store.get_metric_history("i", "loss")) == 5


def test_the_saved_views_upgrade_keeps_the_data_of_the_previous_schema(
    sql_store_uri: str,
) -> None:
    """0010 (saved views, the series' change marker) on a database made by 0009 with data in
    it: every row stays, the old summaries start with marker 0 and take views and writes."""
    _old_database(sql_store_uri, "0003")
    _upgrade_to(sql_store_uri, "0009")
    assert migrate.upgrade(sql_store_uri) == ("0009", SCHEMA_REVISION)

    store = SqlStore(sql_store_uri)
    try:
        _assert_old_rows_kept(store)
        live = store.get_live_iterations("e", ["i"])[0]
        assert (live.metrics["loss"].last_step, live.metrics["loss"].rewrites) == (4, 0)
        view = store.create_view("e", "old data", {"filter": "params.lr > 0.1"})
        assert store.get_view(view.short_id).state == {"filter": "params.lr > 0.1"}
    finally:
        store.close()
    _assert_matches_models(sql_store_uri)


def test_the_group_indexes_upgrade_keeps_the_data_and_groups_it(sql_store_uri: str) -> None:
    """0011 (the indexes of groupings) on a database made by 0010 with data in it: every row
    stays, the old iteration groups with its metric read from the new index."""
    _old_database(sql_store_uri, "0003")
    _upgrade_to(sql_store_uri, "0010")
    assert migrate.upgrade(sql_store_uri) == ("0010", SCHEMA_REVISION)

    store = SqlStore(sql_store_uri)
    try:
        _assert_old_rows_kept(store)
        found = store.group_iterations("e", "params.lr", metrics=["loss"])
        (group,) = found.groups
        assert (group.key, group.count, group.iteration_ids) == ((0.5,), 1, ("i",))
        assert (group.metrics["loss"].count, group.metrics["loss"].min) == (1, 5e-324)
    finally:
        store.close()
    engine = make_engine(sql_store_uri)
    try:
        with engine.connect() as conn:
            names = {
                index["name"]
                for table in ("iterations", "metric_summaries")
                for index in inspect(conn).get_indexes(table)
            }
    finally:
        engine.dispose()
    assert {"ix_iterations_experiment_id", "ix_metric_summaries_iteration_last"} <= names
    _assert_matches_models(sql_store_uri)


def test_the_parameter_values_index_upgrade_keeps_the_data_and_groups_it(
    sql_store_uri: str,
) -> None:
    """0012 (the covering index of parameters' values, SQLite only) on a database made by 0011
    with data in it: every row stays, and the old iteration groups by its parameter, the key
    read from the new index on SQLite; PostgreSQL is left without it."""
    _old_database(sql_store_uri, "0003")
    _upgrade_to(sql_store_uri, "0011")
    assert migrate.upgrade(sql_store_uri) == ("0011", SCHEMA_REVISION)

    store = SqlStore(sql_store_uri)
    try:
        _assert_old_rows_kept(store)
        found = store.group_iterations("e", "params.lr", metrics=["loss"], ids_per_group=5)
        (group,) = found.groups
        assert (group.key, group.missing, group.count, group.iteration_ids) == (
            (0.5,), (False,), 1, ("i",)
        )  # fmt: skip
        assert group.metrics["loss"].max == 5e-324
    finally:
        store.close()
    engine = make_engine(sql_store_uri)
    try:
        with engine.connect() as conn:
            indexes = {index["name"]: index for index in inspect(conn).get_indexes("parameters")}
            dialect = conn.dialect.name
    finally:
        engine.dispose()
    if dialect == "sqlite":
        covering = indexes["ix_parameters_iteration_value"]
        assert covering["column_names"] == ["iteration_id", "name", "value_json", "value_num"]
    else:
        assert "ix_parameters_iteration_value" not in indexes
    _assert_matches_models(sql_store_uri)

"""Read an MLflow tracking database (SQLite or PostgreSQL) with SQLAlchemy, without MLflow.

The tables read, as MLflow's SQL store keeps them: ``experiments`` (experiment_id, name,
lifecycle_stage, creation_time, artifact_location), ``experiment_tags``, ``runs`` (run_uuid,
name, status, start_time, end_time, lifecycle_stage, artifact_uri, experiment_id), ``params``,
``tags``, ``metrics`` (every value: key, value, timestamp, step, is_nan), and ``datasets``,
``inputs``, ``input_tags`` for dataset inputs (MLflow 2.4 and later; older databases have
none). ``latest_metrics`` is MLflow's summary of ``metrics`` and is not needed.

The database is only read. Artifacts are read from the runs' artifact folders when they are
local paths (``file://`` or a plain path: a server started with ``--default-artifact-root``
pointing at a folder); ``mlflow-artifacts:/`` roots live behind the server, so import through
its URL to copy those.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops.errors import InvalidInput, Unavailable
from mlops.importers._records import (
    DOUBLE_MAX,
    ArtifactsUnreadable,
    MlflowDataset,
    MlflowExperiment,
    MlflowRun,
    RunData,
    local_artifacts,
    local_root,
    metric_value,
    mlflow_status,
)

__all__ = ["DatabaseReader", "is_database_uri"]

_SCHEMES = ("sqlite:", "postgresql:", "postgresql+", "postgres:")


def is_database_uri(source: str) -> bool:
    """Whether a source names a database (``sqlite:///mlflow.db``, ``postgresql://...``)."""
    return source.startswith(_SCHEMES)


def _hide_password(uri: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:
        return uri.split("@")[-1]


class DatabaseReader:
    """An MLflow database (see the module docstring)."""

    def __init__(self, uri: str) -> None:
        from sqlalchemy import create_engine, inspect
        from sqlalchemy.exc import SQLAlchemyError

        from mlops.store.sql.engine import normalize_uri

        self.read_in_thread = False
        self.description = _hide_password(uri)
        #: The database file of an SQLite source (an SQLite store can copy from it in SQL).
        self.sqlite_file: str | None = None
        if uri.startswith("sqlite:///"):
            path = Path(uri[len("sqlite:///") :]).expanduser()
            if not path.is_file():
                raise InvalidInput(f"MLflow database {str(path)!r} not found: check the path")
            self.sqlite_file = str(path.absolute())
            uri = f"sqlite:///file:{path.absolute()}?mode=ro&uri=true"
        elif uri.startswith("postgres://"):
            uri = "postgresql://" + uri[len("postgres://") :]
        try:
            # read in a thread ahead of the writer (one thread at a time: see mlflow._read_ahead)
            extra = (
                {"connect_args": {"check_same_thread": False}} if uri.startswith("sqlite") else {}
            )
            self._engine = create_engine(normalize_uri(uri), **extra)
            tables = inspect(self._engine).get_table_names()
            self._columns = {
                t: {c["name"] for c in inspect(self._engine).get_columns(t)}
                for t in ("runs", "inputs")
                if t in tables
            }
        except ImportError as exc:
            raise InvalidInput(
                f"cannot read {self.description}: {exc} (PostgreSQL needs "
                "pip install 'mlops-library[postgres]')"
            ) from None
        except SQLAlchemyError as exc:
            raise Unavailable(
                f"cannot read the MLflow database {self.description}: {exc}"
            ) from None
        missing = {"experiments", "runs", "metrics", "params", "tags"} - set(tables)
        if missing:
            raise InvalidInput(
                f"{self.description} is not an MLflow tracking database (no table "
                f"{', '.join(sorted(missing))})"
            )
        self._has_inputs = {"datasets", "inputs", "input_tags"} <= set(tables)
        # The driver's own connection: rows come back as plain tuples, which matters at
        # millions of metric values (SQLAlchemy's row objects cost more than the query).
        self._conn = self._engine.raw_connection()
        if self._engine.dialect.name == "sqlite":  # the read goes all over a large file
            self._conn.cursor().execute("PRAGMA cache_size = -65536")
        self._mark = "?" if self._engine.dialect.paramstyle == "qmark" else "%s"
        # The values of one step in the order they were logged: SQLite's index on (run_uuid,
        # key, step) gives them in insertion order; elsewhere, by time.
        self._ties = "" if self._engine.dialect.name == "sqlite" else ", timestamp"

    def _rows(self, sql: str, *params: Any) -> list[Any]:
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql.replace("?", self._mark), params)
            return list(cursor.fetchall())
        except Exception as exc:
            raise Unavailable(
                f"cannot read the MLflow database {self.description}: {exc}"
            ) from None
        finally:
            cursor.close()

    def experiments(self) -> list[MlflowExperiment]:
        tags: dict[str, dict[str, str]] = {}
        for key, value, experiment_id in self._rows(
            "SELECT key, value, experiment_id FROM experiment_tags"
        ):
            tags.setdefault(str(experiment_id), {})[key] = value or ""
        rows = self._rows(
            "SELECT experiment_id, name, lifecycle_stage, creation_time, artifact_location "
            "FROM experiments ORDER BY experiment_id"
        )
        return [
            MlflowExperiment(
                id=str(eid),
                name=name,
                deleted=stage == "deleted",
                tags=tags.get(str(eid), {}),
                created_ms=created,
                artifact_location=location,
            )
            for eid, name, stage, created, location in rows
        ]

    def runs(self, experiment: MlflowExperiment) -> list[MlflowRun]:
        name = "name" if "name" in self._columns.get("runs", set()) else "NULL"
        rows = self._rows(
            f"SELECT run_uuid, {name}, status, start_time, end_time, lifecycle_stage, "
            "artifact_uri FROM runs WHERE experiment_id = ? ORDER BY start_time, run_uuid",
            int(experiment.id),
        )
        return [
            MlflowRun(
                id=run_id,
                experiment_id=experiment.id,
                name=run_name or None,
                status=mlflow_status(status),
                start_ms=start,
                end_ms=end,
                deleted=stage == "deleted",
                artifact_uri=artifact_uri,
            )
            for run_id, run_name, status, start, end, stage, artifact_uri in rows
        ]

    def metric_stats(
        self, run_ids: list[str], repeats: bool = False
    ) -> dict[str, tuple[bool, int, int | None, int | None]]:
        """Of an SQLite source: per run, whether its metric rows can be copied in SQL as they
        are, their number, first and last time (see ``bulk.mlflow_metric_stats``);
        ``repeats=True``: only the runs with several values at one step."""
        from mlops.store.sql.bulk import mlflow_metric_stats, repeated_steps

        cursor = self._conn.cursor()
        try:
            if repeats:
                return {
                    run_id: (False, 0, None, None) for run_id in repeated_steps(cursor, run_ids)
                }
            return mlflow_metric_stats(cursor, run_ids)
        except Exception as exc:
            raise Unavailable(
                f"cannot read the MLflow database {self.description}: {exc}"
            ) from None
        finally:
            cursor.close()

    def run_data(self, run: MlflowRun, metrics: bool = True) -> RunData:
        """The run's data; ``metrics=False``: without the metric values (copied otherwise)."""
        data = RunData(
            params=dict(self._rows("SELECT key, value FROM params WHERE run_uuid = ?", run.id)),
            tags={
                k: v or ""
                for k, v in self._rows("SELECT key, value FROM tags WHERE run_uuid = ?", run.id)
            },
        )
        if not metrics:
            if self._has_inputs:
                data.datasets = self._datasets(run.id)
            return data
        # Converted by the database (NaN and +/-Inf are NULL here, seconds from ms): the
        # rows come back as log_batch takes them, and only the rare odd value is fixed below.
        rows = self._rows(
            "SELECT key, step, CASE WHEN is_nan OR value >= ? OR value <= ? THEN NULL "
            "ELSE value END, CAST(timestamp AS DOUBLE PRECISION) / 1000 FROM metrics "
            f"WHERE run_uuid = ? ORDER BY key, step{self._ties}",
            DOUBLE_MAX, -DOUBLE_MAX, run.id,
        )  # fmt: skip
        if any(row[2] is None for row in rows):
            rows = self._odd_values(run.id, rows)
        data.metrics = rows
        if self._has_inputs:
            data.datasets = self._datasets(run.id)
        return data

    def _odd_values(self, run_id: str, rows: list[Any]) -> list[Any]:
        """The rows with NaN and +/-Inf restored (MLflow keeps NaN as is_nan, Inf as the
        largest double)."""
        odd: dict[tuple[str, int, float], list[float]] = {}
        for key, step, value, ms, is_nan in self._rows(
            "SELECT key, step, value, timestamp, is_nan FROM metrics WHERE run_uuid = ? AND "
            f"(is_nan OR value >= ? OR value <= ?) ORDER BY key, step{self._ties}",
            run_id, DOUBLE_MAX, -DOUBLE_MAX,
        ):  # fmt: skip
            try:
                restored = metric_value(value, bool(is_nan))
            except ValueError as exc:
                raise ValueError(f"metric {key!r:.80} at step {step}: {exc}") from None
            odd.setdefault((key, step, ms / 1000), []).append(restored)
        fixed = []
        for key, step, value, ts in rows:
            if value is None:
                value = odd[(key, step, ts)].pop(0)
            fixed.append((key, step, value, ts))
        return fixed

    def _datasets(self, run_id: str) -> list[MlflowDataset]:
        rows = self._rows(
            "SELECT i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, "
            "d.dataset_schema, d.dataset_profile FROM inputs i JOIN datasets d "
            "ON d.dataset_uuid = i.source_id WHERE i.destination_type = 'RUN' "
            "AND i.destination_id = ? AND i.source_type = 'DATASET'",
            run_id,
        )
        found = []
        for input_id, name, digest, source_type, source, schema, profile in rows:
            tags = dict(
                self._rows("SELECT name, value FROM input_tags WHERE input_uuid = ?", input_id)
            )
            found.append(
                MlflowDataset(
                    name, digest or "", source_type or "", source or "", schema, profile, tags
                )
            )
        return found

    def artifacts(self, run: MlflowRun) -> Iterator[tuple[str, Path]]:
        root = local_root(run.artifact_uri)
        if root is None:
            raise ArtifactsUnreadable(
                f"its artifacts are at {run.artifact_uri}, which is not a local folder: import "
                "through the MLflow server's URL to copy them"
            )
        if not root.is_dir():
            return iter(())
        return local_artifacts(root)

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()

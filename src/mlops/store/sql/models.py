"""SQLAlchemy tables of the SQL store. Only Alembic migrations change the schema of a database.

Reads stay fast at 100,000 iterations because each iteration's parameters and metric summaries
(last/min/max) live in their own indexed rows: listing, filtering and sorting never touch the
metric points. NaN cannot be stored in SQLite's REAL, so a NULL metric value means NaN.
Metric values are :class:`ExactDouble`: every other double (-0.0, subnormals, the largest ones,
±Inf) comes back bit for bit on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import TypeCompiler

#: The Alembic revision this code expects; a test checks it equals the migrations' head.
SCHEMA_REVISION = "0012"

#: Indexes built on SQLite only (each declared with ``ddl_if(dialect="sqlite")``, its reason
#: beside it): the migrations create them there alone, and comparing another database with
#: the models leaves them out (:func:`in_schema_of`).
SQLITE_ONLY_INDEXES = frozenset({"ix_parameters_iteration_value"})

NAME = String(250)
ID = String(36)


class ExactDouble(Double[float]):
    """A double kept bit for bit. PostgreSQL's ``double precision`` keeps every bit; in SQLite
    the column is declared ``BLOB`` (no type affinity), because a ``REAL`` column stores integral
    values as integers and so gives -0.0 back as 0.0. Only floats (and NULL) are written to it,
    so comparisons, ``min``/``max``, indexes and ordering work as on ``REAL``."""


@compiles(ExactDouble, "sqlite")
def _exact_double_on_sqlite(type_: ExactDouble, compiler: TypeCompiler, **kw: Any) -> str:
    return "BLOB"


_naming = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_naming)


#: Names are unique among live rows only: a deleted project, experiment or dataset version
#: frees its name at once.
_LIVE = text("deleted_at IS NULL")


class SqlProject(Base):
    """A project; ``deleted_at`` (and who: ``deleted_by``) is set while it is deleted, which
    hides its experiments and iterations too."""

    __tablename__ = "projects"
    __table_args__ = (
        Index(
            "uq_projects_title_live",
            "title",
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    title: Mapped[str] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(64))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    deleted_at: Mapped[float | None] = mapped_column(Double)
    deleted_by: Mapped[str | None] = mapped_column(NAME)


class SqlExperiment(Base):
    """An experiment; ``deleted_at`` is set while it is (softly) deleted."""

    __tablename__ = "experiments"
    __table_args__ = (
        Index(
            "uq_experiments_project_name_live",
            "project_id",
            "name",
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    deleted_at: Mapped[float | None] = mapped_column(Double)
    deleted_by: Mapped[str | None] = mapped_column(NAME)


class SqlExperimentTag(Base):
    """A free-form text label of an experiment."""

    __tablename__ = "experiment_tags"

    experiment_id: Mapped[str] = mapped_column(
        ID, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(NAME, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SqlDataset(Base):
    """A dataset version; ``(name, version)`` is unique among live (not deleted) versions."""

    __tablename__ = "datasets"
    __table_args__ = (
        Index(
            "uq_datasets_name_version_live",
            "name",
            "version",
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    version: Mapped[str] = mapped_column(NAME)
    path: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    digest: Mapped[str | None] = mapped_column(String(71))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    file_count: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Double)
    deleted_at: Mapped[float | None] = mapped_column(Double)
    deleted_by: Mapped[str | None] = mapped_column(NAME)


class SqlIteration(Base):
    __tablename__ = "iterations"
    __table_args__ = (
        # deleted_at last: lists and counts of live iterations read only the index
        Index("ix_iterations_experiment_started", "experiment_id", "started_at", "deleted_at"),
        Index("ix_iterations_project_started", "project_id", "started_at", "deleted_at"),
        Index("ix_iterations_started", "started_at", "deleted_at"),
        # a grouping reads an experiment's live iterations in id order from this index alone,
        # so its lookups in the tables keyed by iteration id walk their indexes in order
        Index("ix_iterations_experiment_id", "experiment_id", "id", "deleted_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, ForeignKey("projects.id", ondelete="CASCADE"))
    experiment_id: Mapped[str] = mapped_column(ID, ForeignKey("experiments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(NAME)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[float] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double)
    heartbeat_at: Mapped[float | None] = mapped_column(Double)
    model_path: Mapped[str | None] = mapped_column(Text)
    model_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    error_type: Mapped[str | None] = mapped_column(String(250))
    error_message: Mapped[str | None] = mapped_column(Text)
    system: Mapped[dict[str, Any]] = mapped_column(JSON)
    deleted_at: Mapped[float | None] = mapped_column(Double)
    deleted_by: Mapped[str | None] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(Text)


class SqlParameter(Base):
    """One parameter of an iteration. ``value_json`` keeps the exact value and its type;
    ``value_num`` and ``value_str`` are its indexed forms for filtering and sorting."""

    __tablename__ = "parameters"
    __table_args__ = (
        Index("ix_parameters_name_num", "name", "value_num"),
        Index("ix_parameters_name_str", "name", "value_str"),
        # a grouping key's value (and its number, for the order) per iteration without reading
        # the row. SQLite only: a PostgreSQL b-tree entry holds at most ~2.7 kB and value_json
        # may be 65,536 characters, and PostgreSQL hashes the key's rows read by name instead
        Index(
            "ix_parameters_iteration_value", "iteration_id", "name", "value_json", "value_num"
        ).ddl_if(dialect="sqlite"),
    )

    iteration_id: Mapped[str] = mapped_column(
        ID, ForeignKey("iterations.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    value_num: Mapped[float | None] = mapped_column(Double)
    value_str: Mapped[str | None] = mapped_column(Text)


class SqlMetricSummary(Base):
    """Last (the latest value at the highest step), min and max of one metric of an iteration.

    ``experiment_id`` repeats the iteration's experiment so that "the best 100 iterations of an
    experiment by a metric" reads one index in order instead of sorting the whole experiment.
    """

    __tablename__ = "metric_summaries"
    __table_args__ = (
        Index("ix_metric_summaries_experiment_last", "experiment_id", "name", "last"),
        Index("ix_metric_summaries_experiment_min", "experiment_id", "name", "min"),
        Index("ix_metric_summaries_experiment_max", "experiment_id", "name", "max"),
        Index("ix_metric_summaries_name_last", "name", "last"),
        # a metric's final value per iteration without reading the row (groupings)
        Index("ix_metric_summaries_iteration_last", "iteration_id", "name", "last"),
    )

    iteration_id: Mapped[str] = mapped_column(
        ID, ForeignKey("iterations.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    experiment_id: Mapped[str] = mapped_column(ID)
    last: Mapped[float | None] = mapped_column(ExactDouble)
    last_step: Mapped[int] = mapped_column(BigInteger)
    min: Mapped[float | None] = mapped_column(ExactDouble)
    max: Mapped[float | None] = mapped_column(ExactDouble)
    #: The series' change marker: how many batches wrote a step at or before its last step
    #: (an earlier point replaced); a live page refetches the series when it changes.
    rewrites: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class SqlMetricPoint(Base):
    """One point of a metric. ``seq`` orders several values at one step (MLflow keeps every
    value it is sent); mlops' own writes keep one value per step, at ``seq`` 0."""

    __tablename__ = "metric_points"
    __table_args__ = ({"sqlite_with_rowid": False},)

    iteration_id: Mapped[str] = mapped_column(
        ID, ForeignKey("iterations.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[float | None] = mapped_column(ExactDouble)
    timestamp: Mapped[float] = mapped_column(Double)


class SqlIterationDataset(Base):
    __tablename__ = "iteration_datasets"
    __table_args__ = (Index("ix_iteration_datasets_dataset", "dataset_id"),)

    iteration_id: Mapped[str] = mapped_column(
        ID, ForeignKey("iterations.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[str] = mapped_column(
        ID, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )


class SqlIterationTag(Base):
    """A free-form text label of an iteration (``{"team": "vision", "gpu": "a100"}``)."""

    __tablename__ = "iteration_tags"
    __table_args__ = (Index("ix_iteration_tags_key_value", "key", "value"),)

    iteration_id: Mapped[str] = mapped_column(
        ID, ForeignKey("iterations.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(NAME, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SqlApiToken(Base):
    """An access token of the App. Only its sha256 is kept; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Double)
    revoked_at: Mapped[float | None] = mapped_column(Double)
    last_used_at: Mapped[float | None] = mapped_column(Double)
    #: The ids of the projects the token may see, as a JSON list; NULL: every project.
    projects: Mapped[str | None] = mapped_column(Text)
    #: When the token stops working (epoch seconds); NULL: never.
    expires_at: Mapped[float | None] = mapped_column(Double)


class SqlAuditEvent(Base):
    """One change made to the data: who (a token's name, or ``local:<os user>``), what, on
    which object, when. Written inside the change's own transaction."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[float] = mapped_column(Double, index=True)
    actor: Mapped[str] = mapped_column(String(250), index=True)
    action: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(250))
    detail: Mapped[str | None] = mapped_column(Text)


class SqlArtifact(Base):
    """A file an iteration logged. The bytes live in the artifact store under ``sha256``;
    ``step`` is -1 for a plain file and the step of an image series' image otherwise."""

    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_sha256", "sha256"),)

    iteration_id: Mapped[str] = mapped_column(
        ID, ForeignKey("iterations.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Double)


class SqlRegisteredModel(Base):
    """A named model of the registry; its versions point at iterations' artifacts."""

    __tablename__ = "registered_models"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    #: The highest version number ever given (a deleted version's number is not given again).
    last_version: Mapped[int | None] = mapped_column(BigInteger)


class SqlModelVersion(Base):
    """Version ``version`` (1, 2, ...) of a registered model: an iteration's artifact."""

    __tablename__ = "model_versions"
    __table_args__ = (Index("ix_model_versions_iteration", "iteration_id"),)

    name: Mapped[str] = mapped_column(
        NAME, ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    iteration_id: Mapped[str] = mapped_column(ID, ForeignKey("iterations.id"))
    artifact: Mapped[str] = mapped_column(String(1024))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str] = mapped_column(NAME)


class SqlModelAlias(Base):
    """A movable name for one version of a model (``production`` -> 3), with who set it."""

    __tablename__ = "model_aliases"

    name: Mapped[str] = mapped_column(
        NAME, ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(NAME, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    set_by: Mapped[str] = mapped_column(NAME)
    set_at: Mapped[float] = mapped_column(Double)


class SqlRegisteredModelTag(Base):
    """A free-form text label of a registered model (what MLflow's registry tags hold)."""

    __tablename__ = "registered_model_tags"

    name: Mapped[str] = mapped_column(
        NAME, ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(NAME, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SqlModelVersionTag(Base):
    """A free-form text label of one model version."""

    __tablename__ = "model_version_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            ondelete="CASCADE",
        ),
    )

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(NAME, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# The tables, typed as Core tables for the queries of the store.
class SqlNote(Base):
    """The Markdown note of one project, experiment or iteration (``kind`` names which)."""

    __tablename__ = "notes"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ID, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Double)


class SqlSavedView(Base):
    """A saved view of an experiment page: its address parameters (``state``, JSON), a name
    unique in the experiment, and ``short_id`` for its short URL (``/v/{short_id}``)."""

    __tablename__ = "saved_views"
    __table_args__ = (
        UniqueConstraint("experiment_id", "name", name="uq_saved_views_experiment_name"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    short_id: Mapped[str] = mapped_column(String(16), unique=True)
    experiment_id: Mapped[str] = mapped_column(ID, ForeignKey("experiments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(NAME)
    state: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(NAME)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)


PROJECTS = cast(Table, SqlProject.__table__)
EXPERIMENTS = cast(Table, SqlExperiment.__table__)
EXPERIMENT_TAGS = cast(Table, SqlExperimentTag.__table__)
DATASETS = cast(Table, SqlDataset.__table__)
ITERATIONS = cast(Table, SqlIteration.__table__)
PARAMETERS = cast(Table, SqlParameter.__table__)
METRIC_SUMMARIES = cast(Table, SqlMetricSummary.__table__)
METRIC_POINTS = cast(Table, SqlMetricPoint.__table__)
ITERATION_DATASETS = cast(Table, SqlIterationDataset.__table__)
ITERATION_TAGS = cast(Table, SqlIterationTag.__table__)
API_TOKENS = cast(Table, SqlApiToken.__table__)
AUDIT_EVENTS = cast(Table, SqlAuditEvent.__table__)
ARTIFACTS = cast(Table, SqlArtifact.__table__)
REGISTERED_MODELS = cast(Table, SqlRegisteredModel.__table__)
MODEL_VERSIONS = cast(Table, SqlModelVersion.__table__)
MODEL_ALIASES = cast(Table, SqlModelAlias.__table__)
MODEL_TAGS = cast(Table, SqlRegisteredModelTag.__table__)
MODEL_VERSION_TAGS = cast(Table, SqlModelVersionTag.__table__)
NOTES = cast(Table, SqlNote.__table__)
SAVED_VIEWS = cast(Table, SqlSavedView.__table__)


def in_schema_of(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """An Alembic ``include_object`` hook for a database of ``dialect`` (``"sqlite"``,
    ``"postgresql"``): it leaves out of a comparison with the models the indexes that dialect
    does not build (:data:`SQLITE_ONLY_INDEXES`), and keeps everything else."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        return dialect == "sqlite" or type_ != "index" or name not in SQLITE_ONLY_INDEXES

    return include

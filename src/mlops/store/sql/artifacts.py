"""The artifact methods of the SQL store: which files an iteration logged (names, digests).

The bytes live in an :class:`~mlops.artifacts.ArtifactStore`; these rows say which iteration
logged which bytes under which name. A row is keyed by (iteration, name, step), so recording the
same file twice (a retry) keeps one row and logging a name again replaces what it points to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, delete, or_, select

from mlops.artifacts.names import check_digest, check_name
from mlops.entities import Artifact
from mlops.errors import InvalidInput, NotFound
from mlops.store.sql.batch import _sql
from mlops.store.sql.catalog import CatalogMethods
from mlops.store.sql.models import ARTIFACTS, ITERATIONS, MODEL_VERSIONS

#: ``step`` of a plain file (not an image of a series) in the table.
NO_STEP = -1
_UPSERT = (
    "INSERT INTO artifacts (iteration_id, name, step, size_bytes, sha256, media_type, created_at) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (iteration_id, name, step) DO UPDATE "
    "SET size_bytes = excluded.size_bytes, sha256 = excluded.sha256, "
    "media_type = excluded.media_type, created_at = excluded.created_at"
)


class ArtifactMethods(CatalogMethods):
    """Artifact rows of iterations."""

    def log_artifacts(self, iteration_id: str, artifacts: Sequence[Artifact]) -> None:
        for artifact in artifacts:
            _check(iteration_id, artifact)
        with self._write("record artifacts") as conn:
            _check_iteration(conn, iteration_id)
            if not artifacts:
                return
            names = set(conn.execute(_names(iteration_id)).scalars())
            _check_layout(names, [a.name for a in artifacts])
            conn.exec_driver_sql(_sql(conn, _UPSERT), [_row(a) for a in artifacts])

    def list_artifacts(self, iteration_id: str, prefix: str | None = None) -> list[Artifact]:
        query = select(ARTIFACTS).where(ARTIFACTS.c.iteration_id == iteration_id)
        with self._read("list artifacts") as conn:
            _check_iteration(conn, iteration_id)
            found = conn.execute(query.order_by(ARTIFACTS.c.name, ARTIFACTS.c.step)).all()
        rows = [_artifact(r) for r in found]
        if prefix is None:
            return rows
        prefix = check_name(prefix, "artifact name")
        return [a for a in rows if a.name == prefix or a.name.startswith(prefix + "/")]

    def delete_artifacts(self, iteration_id: str, name: str) -> int:
        name = check_name(name, "artifact name")
        with self._write(f"delete artifact {name!r}") as conn:
            _check_iteration(conn, iteration_id)
            where = (ARTIFACTS.c.iteration_id == iteration_id) & _named(ARTIFACTS.c.name, name)
            found = conn.execute(select(ARTIFACTS.c.name).where(where).limit(1)).scalar()
            if found is None:
                raise NotFound(
                    f"iteration {iteration_id!r} has no artifact file or folder {name!r} "
                    "(see tracking.list_artifacts)"
                )
            _check_unregistered(conn, iteration_id, name)
            self._audit(conn, "delete", "artifact", iteration_id, {"name": name})
            return conn.execute(delete(ARTIFACTS).where(where)).rowcount or 0

    def artifact_digests(self) -> set[str]:
        with self._read("list artifact digests") as conn:
            return set(conn.execute(select(ARTIFACTS.c.sha256).distinct()).scalars())


def _row(a: Artifact) -> tuple[Any, ...]:
    step = NO_STEP if a.step is None else a.step
    return (a.iteration_id, a.name, step, a.size_bytes, a.sha256, a.media_type, a.created_at)


def _artifact(r: Any) -> Artifact:
    step = None if r.step == NO_STEP else r.step
    return Artifact(
        r.iteration_id, r.name, r.size_bytes, r.sha256, r.media_type, r.created_at, step
    )


def _named(column: Any, name: str) -> ColumnElement[bool]:
    """The file ``name`` (every step of an image series) or the files in the folder ``name``."""
    return or_(column == name, column.startswith(name + "/", autoescape=True))


def _check_unregistered(conn: Connection, iteration_id: str, name: str) -> None:
    """A model version points at an artifact by name: it must stay while it is registered."""
    versions = select(MODEL_VERSIONS.c.name, MODEL_VERSIONS.c.version, MODEL_VERSIONS.c.artifact)
    query = versions.where(MODEL_VERSIONS.c.iteration_id == iteration_id)
    for model, version, artifact in conn.execute(query.order_by(MODEL_VERSIONS.c.name)).all():
        if name == artifact or artifact.startswith(name + "/") or name.startswith(artifact + "/"):
            raise InvalidInput(
                f"artifact {name!r} of iteration {iteration_id!r} is (part of) version {version} "
                f"of the registered model {model!r} ({artifact!r}), which must keep its files: "
                "register a new version from another iteration instead"
            )


def _names(iteration_id: str) -> Select[tuple[str]]:
    return select(ARTIFACTS.c.name).where(ARTIFACTS.c.iteration_id == iteration_id).distinct()


def _check(iteration_id: str, artifact: Artifact) -> None:
    if artifact.iteration_id != iteration_id:
        raise InvalidInput(
            f"artifact {artifact.name!r} belongs to iteration {artifact.iteration_id!r}, "
            f"not {iteration_id!r}"
        )
    check_name(artifact.name)
    check_digest(artifact.sha256)
    if artifact.step is not None and not 0 <= artifact.step < 2**63:
        raise InvalidInput(f"step {artifact.step} of artifact {artifact.name!r} is out of range")
    if not 0 <= artifact.size_bytes < 2**63:
        raise InvalidInput(f"size_bytes {artifact.size_bytes} of {artifact.name!r} is out of range")
    if not artifact.media_type or len(artifact.media_type) > 128:
        raise InvalidInput(f"media type {artifact.media_type!r} of {artifact.name!r} is not valid")


def _check_iteration(conn: Connection, iteration_id: str) -> None:
    found = conn.execute(select(ITERATIONS.c.id).where(ITERATIONS.c.id == iteration_id)).scalar()
    if found is None:
        raise NotFound(
            f"iteration {iteration_id!r} not found: list iterations with "
            "tracking.list_iterations() or `mlops iterations list`"
        )


def _check_layout(stored: set[str], new: Iterable[str]) -> None:
    """A name is a file or a folder of files, never both (``model`` and ``model/a.pkl``)."""
    names = stored | set(new)
    folders = {n.rsplit("/", i)[0] for n in names for i in range(1, n.count("/") + 1)}
    clash = sorted(names & folders)
    if clash:
        raise InvalidInput(
            f"artifact {clash[0]!r} would be both a file and a folder of other files: "
            "log the file under another name (e.g. with an extension)"
        )

"""The model registry of the SQL store: named models, numbered versions, movable aliases.

A version points at an iteration's artifact (a file, or a folder such as ``model/``) and never
changes; an alias (``production``, ``staging``) moves from version to version and records who
moved it and when.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from mlops.entities import ModelVersion, RegisteredModel
from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store.sql.artifacts import ArtifactMethods
from mlops.store.sql.batch import _sql
from mlops.store.sql.models import (
    ARTIFACTS,
    MODEL_ALIASES,
    MODEL_TAGS,
    MODEL_VERSION_TAGS,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
)
from mlops.values import check_name

_SET_ALIAS = (
    "INSERT INTO model_aliases (name, alias, version, set_by, set_at) VALUES "
    "({p}, {p}, {p}, {p}, {p}) ON CONFLICT (name, alias) DO UPDATE SET "
    "version = excluded.version, set_by = excluded.set_by, set_at = excluded.set_at"
)


def check_model_name(name: object) -> str:
    """A model name: a name without ``/`` (it is part of the model's address)."""
    name = check_name(name, "model name")
    if "/" in name:
        raise InvalidInput(f"model name {name!r} contains '/': use '-' or '.' instead")
    return name


def check_alias(alias: object) -> str:
    """An alias: a name that is not a number (so ``"3"`` always means version 3)."""
    alias = check_name(alias, "model alias")
    if "/" in alias:
        raise InvalidInput(f"model alias {alias!r} contains '/': use '-' or '.' instead")
    if alias.strip().isdigit():
        raise InvalidInput(
            f"model alias {alias!r} is a number, which would read as a version: pick a word "
            "such as 'production' or 'staging'"
        )
    return alias


class RegistryMethods(ArtifactMethods):
    """Registered models, their versions and aliases."""

    def register_model(
        self,
        name: str,
        iteration_id: str,
        artifact: str,
        description: str | None,
        created_by: str,
    ) -> ModelVersion:
        name = check_model_name(name)
        stored = self.list_artifacts(iteration_id, prefix=artifact)
        if not stored:
            names = sorted({a.name for a in self.list_artifacts(iteration_id)})
            raise NotFound(
                f"iteration {iteration_id!r} has no artifact {artifact!r} to register as model "
                f"{name!r} (its artifacts: {', '.join(names[:10]) or 'none'}); log it first, "
                "e.g. with it.log_path_to_model(path) or it.log_artifact(path, 'model')"
            )
        now = time.time()
        for _ in range(5):  # two registrations at once: the second takes the next number
            try:
                with self._write(f"register model {name!r}") as conn:
                    known = conn.execute(
                        select(REGISTERED_MODELS.c.name).where(REGISTERED_MODELS.c.name == name)
                    ).scalar()
                    if known is None:
                        conn.execute(
                            insert(REGISTERED_MODELS).values(
                                name=name, description=None, created_at=now
                            )
                        )
                    latest = conn.execute(
                        select(func.max(MODEL_VERSIONS.c.version)).where(
                            MODEL_VERSIONS.c.name == name
                        )
                    ).scalar()
                    given = conn.execute(
                        select(REGISTERED_MODELS.c.last_version).where(
                            REGISTERED_MODELS.c.name == name
                        )
                    ).scalar()
                    number = max(latest or 0, given or 0) + 1
                    conn.execute(
                        update(REGISTERED_MODELS)
                        .where(REGISTERED_MODELS.c.name == name)
                        .values(last_version=number)
                    )
                    values: dict[str, Any] = dict(
                        name=name, version=number, iteration_id=iteration_id,
                        artifact=artifact, description=description, created_at=now,
                        created_by=created_by,
                    )  # fmt: skip
                    conn.execute(insert(MODEL_VERSIONS).values(**values))
                    self._audit(conn, "register", "model_version", f"{name}/{number}")
                return ModelVersion(**values)
            except AlreadyExists:
                continue
        raise AlreadyExists(f"model {name!r} is being registered by others too often: retry")

    def list_models(self) -> list[RegisteredModel]:
        with self._read("list models") as conn:
            names = list(
                conn.execute(select(REGISTERED_MODELS.c.name).order_by(REGISTERED_MODELS.c.name))
                .scalars()
                .all()
            )
            return [_model(conn, n) for n in names]

    def get_model(self, name: str) -> RegisteredModel:
        with self._read("get model") as conn:
            return _model(conn, name)

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        with self._read("list model versions") as conn:
            _model(conn, name)
            found = conn.execute(
                select(MODEL_VERSIONS)
                .where(MODEL_VERSIONS.c.name == name)
                .order_by(MODEL_VERSIONS.c.version.desc())
            ).all()
            aliases = _aliases(conn, name)
            tags = _version_tags(conn, name)
        return [_version(r, aliases, tags) for r in found]

    def get_model_version(self, name: str, version_or_alias: str | int) -> ModelVersion:
        with self._read("get model version") as conn:
            version = _resolve(conn, name, version_or_alias)
            row = conn.execute(
                select(MODEL_VERSIONS).where(
                    MODEL_VERSIONS.c.name == name, MODEL_VERSIONS.c.version == version
                )
            ).first()
            if row is None:
                raise NotFound(
                    f"model {name!r} has no version {version} (`mlops models show {name}` "
                    "lists them)"
                )
            return _version(row, _aliases(conn, name), _version_tags(conn, name, version))

    def set_model_alias(self, name: str, alias: str, version: int, set_by: str) -> ModelVersion:
        alias = check_alias(alias)
        with self._write(f"set alias {alias!r} of model {name!r}") as conn:
            self._audit(conn, "set", "model_alias", f"{name}@{alias}", {"version": version})
            _model(conn, name)
            exists = conn.execute(
                select(MODEL_VERSIONS.c.version).where(
                    MODEL_VERSIONS.c.name == name, MODEL_VERSIONS.c.version == version
                )
            ).scalar()
            if exists is None:
                raise NotFound(f"model {name!r} has no version {version}")
            conn.exec_driver_sql(
                _sql(conn, _SET_ALIAS), (name, alias, version, set_by, time.time())
            )
        return self.get_model_version(name, version)

    def model_versions_of(self, iteration_id: str) -> list[ModelVersion]:
        """The model versions made from one iteration (for its page), by name and version."""
        with self._read("list model versions of an iteration") as conn:
            found = conn.execute(
                select(MODEL_VERSIONS)
                .where(MODEL_VERSIONS.c.iteration_id == iteration_id)
                .order_by(MODEL_VERSIONS.c.name, MODEL_VERSIONS.c.version)
            ).all()
            names = {r.name for r in found}
            aliases = {name: _aliases(conn, name) for name in names}
            tags = {name: _version_tags(conn, name) for name in names}
        return [_version(r, aliases[r.name], tags[r.name]) for r in found]

    def model_digests(self) -> set[str]:
        """The sha256 of every artifact a model version points at (kept by ``mlops gc``)."""
        joined = ARTIFACTS.join(
            MODEL_VERSIONS, MODEL_VERSIONS.c.iteration_id == ARTIFACTS.c.iteration_id
        )
        with self._read("list model digests") as conn:
            return set(conn.execute(select(ARTIFACTS.c.sha256).select_from(joined)).scalars())


def _model(conn: Connection, name: str) -> RegisteredModel:
    row = conn.execute(select(REGISTERED_MODELS).where(REGISTERED_MODELS.c.name == name)).first()
    if row is None:
        raise NotFound(
            f"no model is registered as {name!r}: `mlops models list` shows the registered ones"
        )
    latest = conn.execute(
        select(func.max(MODEL_VERSIONS.c.version)).where(MODEL_VERSIONS.c.name == name)
    ).scalar()
    aliases = {alias: version for alias, (version, _, _) in _aliases(conn, name).items()}
    found = conn.execute(select(MODEL_TAGS).where(MODEL_TAGS.c.name == name)).all()
    tags = {r.key: r.value for r in found}
    return RegisteredModel(row.name, row.description, row.created_at, latest, aliases, tags)


def _aliases(conn: Connection, name: str) -> dict[str, tuple[int, str, float]]:
    found = conn.execute(select(MODEL_ALIASES).where(MODEL_ALIASES.c.name == name)).all()
    return {r.alias: (r.version, r.set_by, r.set_at) for r in found}


def _version_tags(
    conn: Connection, name: str, version: int | None = None
) -> dict[int, dict[str, str]]:
    """The tags of a model's versions (of one version only with ``version``), by version."""
    query = select(MODEL_VERSION_TAGS).where(MODEL_VERSION_TAGS.c.name == name)
    if version is not None:
        query = query.where(MODEL_VERSION_TAGS.c.version == version)
    tags: dict[int, dict[str, str]] = {}
    for r in conn.execute(query):
        tags.setdefault(int(r.version), {})[r.key] = r.value
    return tags


def _version(
    row: Any, aliases: dict[str, tuple[int, str, float]], tags: dict[int, dict[str, str]]
) -> ModelVersion:
    mine = {a: (by, at) for a, (v, by, at) in aliases.items() if v == row.version}
    return ModelVersion(
        row.name, row.version, row.iteration_id, row.artifact, row.description,
        row.created_at, row.created_by, mine, dict(tags.get(int(row.version), {})),
    )  # fmt: skip


def _resolve(conn: Connection, name: str, version_or_alias: str | int) -> int:
    """The version number a version (``3``, ``"3"``) or an alias (``"production"``) means."""
    if isinstance(version_or_alias, bool):
        raise InvalidInput(f"{version_or_alias!r} is neither a version number nor an alias")
    if isinstance(version_or_alias, int):
        return version_or_alias
    if isinstance(version_or_alias, str) and version_or_alias.strip().isdigit():
        return int(version_or_alias)
    alias = check_name(version_or_alias, "model version or alias")
    _model(conn, name)
    found = conn.execute(
        select(MODEL_ALIASES.c.version).where(
            MODEL_ALIASES.c.name == name, MODEL_ALIASES.c.alias == alias
        )
    ).scalar()
    if found is None:
        known = sorted(_aliases(conn, name))
        raise NotFound(
            f"model {name!r} has no alias {alias!r} (its aliases: {', '.join(known) or 'none'}); "
            "set one with tracking.set_model_alias(name, alias, version)"
        )
    return int(found)

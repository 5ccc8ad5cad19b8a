"""Changing the registry of the SQL store: empty models, descriptions, tags, renames, deletes.

A model deleted takes its versions, aliases and tags with it (as MLflow does); the iterations'
artifacts the versions pointed at stay. A version deleted takes its aliases and tags.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from mlops.entities import ModelVersion, RegisteredModel
from mlops.errors import AlreadyExists, NotFound
from mlops.store import rules
from mlops.store.sql.models import (
    MODEL_ALIASES,
    MODEL_TAGS,
    MODEL_VERSION_TAGS,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
)
from mlops.store.sql.registry import RegistryMethods, _model, check_alias, check_model_name
from mlops.values import check_optional_text


def _retag(
    conn: Connection,
    table: Table,
    owner: dict[str, Any],
    tags: Mapping[str, str] | None,
    remove: Sequence[str],
) -> None:
    """Set ``tags`` and remove the keys in ``remove`` of the rows matching ``owner``."""
    where = [table.c[k] == v for k, v in owner.items()]
    keys = [*(tags or {}), *remove]
    if keys:
        conn.execute(delete(table).where(*where, table.c.key.in_(keys)))
    if tags:
        conn.execute(insert(table), [{**owner, "key": k, "value": v} for k, v in tags.items()])


def _has_version(conn: Connection, name: str, version: int) -> None:
    _model(conn, name)
    found = conn.execute(
        select(MODEL_VERSIONS.c.version).where(
            MODEL_VERSIONS.c.name == name, MODEL_VERSIONS.c.version == version
        )
    ).scalar()
    if found is None:
        raise NotFound(
            f"model {name!r} has no version {version} (`mlops models show {name}` lists them)"
        )


class RegistryChanges(RegistryMethods):
    """The registry methods that change models and versions after registration."""

    def create_model(
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        created_by: str = "",
    ) -> RegisteredModel:
        name = check_model_name(name)
        check_optional_text(description, "description")
        rules.check_tag_change(tags, ())
        with self._write(f"create model {name!r}") as conn:
            self._audit(conn, "create", "model", name)
            known = conn.execute(
                select(REGISTERED_MODELS.c.name).where(REGISTERED_MODELS.c.name == name)
            ).scalar()
            if known is not None:
                raise AlreadyExists(
                    f"a model is already registered as {name!r}: register a version of it, "
                    "or pick another name"
                )
            conn.execute(
                insert(REGISTERED_MODELS).values(
                    name=name, description=description, created_at=time.time()
                )
            )
            _retag(conn, MODEL_TAGS, {"name": name}, tags, ())
            return _model(conn, name)

    def update_model(self, name: str, description: str | None) -> RegisteredModel:
        check_optional_text(description, "description")
        with self._write(f"describe model {name!r}") as conn:
            self._audit(conn, "update", "model", name, {"description": description})
            _model(conn, name)
            conn.execute(
                update(REGISTERED_MODELS)
                .where(REGISTERED_MODELS.c.name == name)
                .values(description=description)
            )
            return _model(conn, name)

    def rename_model(self, name: str, new_name: str) -> RegisteredModel:
        new_name = check_model_name(new_name)
        with self._write(f"rename model {name!r} to {new_name!r}") as conn:
            self._audit(conn, "rename", "model", name, {"to": new_name})
            old = _model(conn, name)
            if new_name == name:
                return old
            taken = conn.execute(
                select(REGISTERED_MODELS.c.name).where(REGISTERED_MODELS.c.name == new_name)
            ).scalar()
            if taken is not None:
                raise AlreadyExists(
                    f"a model is already registered as {new_name!r}: pick another name"
                )
            conn.execute(
                insert(REGISTERED_MODELS).values(
                    name=new_name,
                    description=old.description,
                    created_at=old.created_at,
                    last_version=conn.execute(
                        select(REGISTERED_MODELS.c.last_version).where(
                            REGISTERED_MODELS.c.name == name
                        )
                    ).scalar(),
                )
            )
            # versions before their tags (the tags point at the versions)
            versions = [dict(r._mapping) for r in conn.execute(
                select(MODEL_VERSIONS).where(MODEL_VERSIONS.c.name == name)
            )]  # fmt: skip
            version_tags = [dict(r._mapping) for r in conn.execute(
                select(MODEL_VERSION_TAGS).where(MODEL_VERSION_TAGS.c.name == name)
            )]  # fmt: skip
            conn.execute(delete(MODEL_VERSION_TAGS).where(MODEL_VERSION_TAGS.c.name == name))
            if versions:
                conn.execute(insert(MODEL_VERSIONS), [{**v, "name": new_name} for v in versions])
            if version_tags:
                rows = [{**t, "name": new_name} for t in version_tags]
                conn.execute(insert(MODEL_VERSION_TAGS), rows)
            for table in (MODEL_ALIASES, MODEL_TAGS):
                conn.execute(update(table).where(table.c.name == name).values(name=new_name))
            conn.execute(delete(MODEL_VERSIONS).where(MODEL_VERSIONS.c.name == name))
            conn.execute(delete(REGISTERED_MODELS).where(REGISTERED_MODELS.c.name == name))
            return _model(conn, new_name)

    def delete_model(self, name: str) -> None:
        with self._write(f"delete model {name!r}") as conn:
            self._audit(conn, "delete", "model", name)
            _model(conn, name)
            for table in (MODEL_VERSION_TAGS, MODEL_ALIASES, MODEL_TAGS, MODEL_VERSIONS):
                conn.execute(delete(table).where(table.c.name == name))
            conn.execute(delete(REGISTERED_MODELS).where(REGISTERED_MODELS.c.name == name))

    def set_model_tags(
        self, name: str, tags: Mapping[str, str] | None = None, delete: Sequence[str] = ()
    ) -> RegisteredModel:
        rules.check_tag_change(tags, delete)
        with self._write(f"tag model {name!r}") as conn:
            self._audit(conn, "tag", "model", name, {"set": tags, "delete": delete})
            _model(conn, name)
            _retag(conn, MODEL_TAGS, {"name": name}, tags, delete)
            return _model(conn, name)

    def set_model_version_tags(
        self,
        name: str,
        version: int,
        tags: Mapping[str, str] | None = None,
        delete: Sequence[str] = (),
    ) -> ModelVersion:
        rules.check_tag_change(tags, delete)
        with self._write(f"tag version {version} of model {name!r}") as conn:
            self._audit(
                conn, "tag", "model_version", f"{name}/{version}", {"set": tags, "delete": delete}
            )
            _has_version(conn, name, version)
            owner = {"name": name, "version": version}
            _retag(conn, MODEL_VERSION_TAGS, owner, tags, delete)
        return self.get_model_version(name, version)

    def update_model_version(
        self, name: str, version: int, description: str | None
    ) -> ModelVersion:
        check_optional_text(description, "description")
        with self._write(f"describe version {version} of model {name!r}") as conn:
            self._audit(
                conn, "update", "model_version", f"{name}/{version}", {"description": description}
            )
            _has_version(conn, name, version)
            conn.execute(
                update(MODEL_VERSIONS)
                .where(MODEL_VERSIONS.c.name == name, MODEL_VERSIONS.c.version == version)
                .values(description=description)
            )
        return self.get_model_version(name, version)

    def delete_model_version(self, name: str, version: int) -> None:
        with self._write(f"delete version {version} of model {name!r}") as conn:
            self._audit(conn, "delete", "model_version", f"{name}/{version}")
            _has_version(conn, name, version)
            for table in (MODEL_VERSION_TAGS, MODEL_ALIASES, MODEL_VERSIONS):
                conn.execute(delete(table).where(table.c.name == name, table.c.version == version))

    def delete_model_alias(self, name: str, alias: str) -> None:
        alias = check_alias(alias)
        with self._write(f"delete alias {alias!r} of model {name!r}") as conn:
            self._audit(conn, "delete", "model_alias", f"{name}@{alias}")
            _model(conn, name)
            gone = conn.execute(
                delete(MODEL_ALIASES).where(
                    MODEL_ALIASES.c.name == name, MODEL_ALIASES.c.alias == alias
                )
            )
            if not gone.rowcount:
                raise NotFound(f"model {name!r} has no alias {alias!r}")

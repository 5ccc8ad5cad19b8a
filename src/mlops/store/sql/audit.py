"""The audit trail: who changed what, on which object, when (the ``audit_events`` table).

Recording is one call inside the change's own transaction, so a change and its record are
written (or rolled back) together::

    with self._write("rename experiment") as conn:
        ...                                       # the change
        self._audit(conn, "rename", "experiment", experiment_id, {"to": name})

``action`` is a verb (create, update, delete, restore, purge, rename, move, note, tag, end,
resume, register, revoke), ``kind`` what was changed (project, experiment, iteration, dataset,
model, model_version, model_alias, artifact, token), ``detail`` anything JSON (or None). Who:
:data:`ACTOR` when set (the App sets it to the request's token name), else ``local:<OS user>``
(an embedded store, an App without ``--auth``). Metric points, parameters and heartbeats are
not recorded row by row; the iteration's creation and end are.
"""

from __future__ import annotations

import functools
import getpass
import json
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from mlops.entities import iso
from mlops.store.sql.engine import DriverCursor, transaction
from mlops.store.sql.models import AUDIT_EVENTS

__all__ = ["ACTOR", "AuditEvent", "AuditMethods", "actor"]

#: Who makes the changes of the current request or thread; None: the local OS user.
ACTOR: ContextVar[str | None] = ContextVar("mlops_audit_actor", default=None)


@functools.cache
def _local_actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "unknown"
    return f"local:{user}"


def actor() -> str:
    """Who the audit trail names for a change made now."""
    return ACTOR.get() or _local_actor()


# one statement object: SQLAlchemy compiles it once (a fresh .values() each time would not be
# cached, and an iteration's start and end are on the W1 hot path)
_INSERT_EVENT = insert(AUDIT_EVENTS)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One recorded change."""

    id: int
    at: float
    actor: str
    action: str
    kind: str
    object_id: str | None
    detail: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "at": iso(self.at), "actor": self.actor, "action": self.action,
            "kind": self.kind, "object_id": self.object_id, "detail": self.detail,
        }  # fmt: skip


def record(
    conn: Connection, action: str, kind: str, object_id: str | None, detail: Any = None
) -> None:
    """Write one audit event in ``conn``'s transaction."""
    conn.execute(
        _INSERT_EVENT,
        {
            "at": time.time(), "actor": actor()[:250], "action": action, "kind": kind,
            "object_id": None if object_id is None else str(object_id)[:250],
            "detail": None if detail is None else json.dumps(detail, default=list),
        },
    )  # fmt: skip


_INSERT_EVENT_SQL = (
    "INSERT INTO audit_events (at, actor, action, kind, object_id, detail) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
)


def record_driver(
    cur: DriverCursor, action: str, kind: str, object_id: str | None, detail: Any = None
) -> None:
    """:func:`record` through the driver's cursor (an iteration's start and end: the hot
    path)."""
    cur.run(
        _INSERT_EVENT_SQL,
        (
            time.time(), actor()[:250], action, kind,
            None if object_id is None else str(object_id)[:250],
            None if detail is None else json.dumps(detail, default=list),
        ),
    )  # fmt: skip


class AuditMethods:
    """Reading the audit trail (``mlops audit``, the Activity page)."""

    _engine: Any

    def list_audit_events(
        self, since: float | None = None, who: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]:
        """The newest recorded changes first, at most ``limit``; ``since`` (epoch seconds)
        and ``who`` (an actor, exactly) narrow them."""
        query = select(AUDIT_EVENTS).order_by(AUDIT_EVENTS.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(AUDIT_EVENTS.c.at >= since)
        if who is not None:
            query = query.where(AUDIT_EVENTS.c.actor == who)
        with transaction(self._engine, write=False, what="read the audit trail") as conn:
            return [
                AuditEvent(
                    r.id,
                    r.at,
                    r.actor,
                    r.action,
                    r.kind,
                    r.object_id,
                    None if r.detail is None else json.loads(r.detail),
                )
                for r in conn.execute(query)
            ]

"""Access tokens of the App, kept in the App's database as sha256 hashes."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert, or_, select, update

from mlops.entities import SCOPES, ApiToken
from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store.sql.engine import transaction
from mlops.store.sql.models import API_TOKENS as TOKENS
from mlops.store.sql.models import PROJECTS
from mlops.values import check_name

PREFIX = "mlops_"
_TOUCH_EVERY = 60.0  # seconds between two writes of a token's last_used_at


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token(row: Any) -> ApiToken:
    projects = tuple(json.loads(row.projects)) if row.projects else ()
    return ApiToken(
        row.id, row.name, row.scope, row.created_at, row.revoked_at, row.last_used_at,
        projects, row.expires_at,
    )  # fmt: skip


class TokenMethods:
    """Token management of the SQL store (used by ``mlops tokens`` and the App's auth)."""

    _engine: Engine

    if TYPE_CHECKING:  # the audit trail of CatalogMethods; declared, never defined here, so
        # that no order of SqlStore's bases can replace the real one with a no-op

        def _audit(
            self, conn: Any, action: str, kind: str, object_id: str | None, detail: Any = None
        ) -> None: ...

    def create_token(
        self,
        name: str,
        scope: str,
        projects: Sequence[str] = (),
        expires_at: float | None = None,
    ) -> tuple[str, ApiToken]:
        """A new token: (the secret, shown only now; its record). ``projects`` (ids or titles)
        limits what it sees to those projects (empty: every project); ``expires_at`` is when
        it stops working (None: never)."""
        check_name(name, "token name")
        if scope not in SCOPES:
            raise InvalidInput(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
        now = time.time()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("the token's expiry is in the past: give a later date or 90d")
        secret = PREFIX + secrets.token_urlsafe(32)
        values: dict[str, Any] = dict(
            id=secrets.token_hex(8), name=name, scope=scope, token_hash=_hash(secret),
            created_at=now, revoked_at=None, last_used_at=None, projects=None,
            expires_at=expires_at,
        )  # fmt: skip
        with transaction(self._engine, write=True, what=f"create token {name!r}") as conn:
            if projects:
                values["projects"] = json.dumps(_project_ids(conn, projects))
            taken = conn.execute(select(TOKENS.c.id).where(TOKENS.c.name == name)).scalar()
            if taken is not None:
                raise AlreadyExists(
                    f"a token named {name!r} already exists (id {taken}): revoke it with "
                    f"`mlops tokens revoke {name}` or pick another name"
                )
            conn.execute(insert(TOKENS).values(**values))
            self._audit(conn, "create", "token", name, {"scope": scope, "projects": projects})
        return secret, _token(type("Row", (), values))

    def list_tokens(self) -> list[ApiToken]:
        """Every token, newest first (revoked ones too)."""
        query = select(TOKENS).order_by(TOKENS.c.created_at.desc())
        with transaction(self._engine, write=False, what="list tokens") as conn:
            return [_token(r) for r in conn.execute(query)]

    def revoke_token(self, name_or_id: str) -> ApiToken:
        """Revoke a token by name or id; it is refused from the next request on."""
        where = or_(TOKENS.c.name == name_or_id, TOKENS.c.id == name_or_id)
        with transaction(self._engine, write=True, what="revoke token") as conn:
            row = conn.execute(select(TOKENS).where(where)).first()
            if row is None:
                raise NotFound(f"no token named {name_or_id!r}: see `mlops tokens list`")
            if row.revoked_at is None:
                conn.execute(
                    update(TOKENS).where(TOKENS.c.id == row.id).values(revoked_at=time.time())
                )
                self._audit(conn, "revoke", "token", row.name)
            return _token(conn.execute(select(TOKENS).where(TOKENS.c.id == row.id)).one())

    def check_token(self, secret: str) -> ApiToken | None:
        """The token record for a secret, or None when unknown. Never cached, so a revoked
        token is refused at once, in every App process."""
        digest = _hash(secret)
        with transaction(self._engine, write=False, what="check token") as conn:
            row = conn.execute(select(TOKENS).where(TOKENS.c.token_hash == digest)).first()
        if row is None:
            return None
        now = time.time()
        if row.revoked_at is None and (row.last_used_at or 0) < now - _TOUCH_EVERY:
            with transaction(self._engine, write=True, what="record token use") as conn:
                conn.execute(update(TOKENS).where(TOKENS.c.id == row.id).values(last_used_at=now))
        return _token(row)


def _project_ids(conn: Any, names_or_ids: Sequence[str]) -> list[str]:
    """The ids of the projects named (by id or title), in the order given, each once."""
    ids: list[str] = []
    for wanted in names_or_ids:
        found = conn.execute(
            select(PROJECTS.c.id).where(or_(PROJECTS.c.id == wanted, PROJECTS.c.title == wanted))
        ).scalar()
        if found is None:
            raise NotFound(f"no project with id or title {wanted!r}: see `mlops projects`")
        if found not in ids:
            ids.append(found)
    return ids


_UNITS = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def expiry_time(text: str, now: float | None = None, option: str = "--expires") -> float:
    """When a token given ``--expires TEXT`` stops working: ``30m``, ``12h``, ``90d``, ``2w``
    from now, or a date (``2027-03-01``, midnight UTC) or an ISO time."""
    import datetime as dt
    import re

    now = time.time() if now is None else now
    value = text.strip().lower()
    match = re.fullmatch(r"(\d+)\s*([mhdw])", value)
    if match:
        amount = int(match.group(1))
        if amount <= 0:
            raise InvalidInput(f"{option} {text!r}: give a positive duration such as 90d")
        return now + amount * _UNITS[match.group(2)]
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not a duration or a date: use 30m, 12h, 90d, 2w or 2027-03-01"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    at = when.timestamp()
    if at <= now:
        raise InvalidInput(f"--expires {text!r} is in the past: give a later date or 90d")
    return at

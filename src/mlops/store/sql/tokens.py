"""Access tokens of the App, kept in the App's database as sha256 hashes."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from sqlalchemy import Engine, insert, or_, select, update

from mlops.entities import SCOPES, ApiToken
from mlops.errors import AlreadyExists, InvalidInput, NotFound
from mlops.store.sql.engine import transaction
from mlops.store.sql.models import API_TOKENS as TOKENS
from mlops.values import check_name

PREFIX = "mlops_"
_TOUCH_EVERY = 60.0  # seconds between two writes of a token's last_used_at


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token(row: Any) -> ApiToken:
    return ApiToken(row.id, row.name, row.scope, row.created_at, row.revoked_at, row.last_used_at)


class TokenMethods:
    """Token management of the SQL store (used by ``mlops tokens`` and the App's auth)."""

    _engine: Engine

    def create_token(self, name: str, scope: str) -> tuple[str, ApiToken]:
        """A new token: (the secret, shown only now; its record)."""
        check_name(name, "token name")
        if scope not in SCOPES:
            raise InvalidInput(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
        secret = PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        values: dict[str, Any] = dict(
            id=secrets.token_hex(8), name=name, scope=scope, token_hash=_hash(secret),
            created_at=now, revoked_at=None, last_used_at=None,
        )  # fmt: skip
        with transaction(self._engine, write=True, what=f"create token {name!r}") as conn:
            taken = conn.execute(select(TOKENS.c.id).where(TOKENS.c.name == name)).scalar()
            if taken is not None:
                raise AlreadyExists(
                    f"a token named {name!r} already exists (id {taken}): revoke it with "
                    f"`mlops tokens revoke {name}` or pick another name"
                )
            conn.execute(insert(TOKENS).values(**values))
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

"""Token management and the audit trail through the App (mixed into
:class:`~mlops.store.http.HttpStore`).

The App's ``/tokens`` routes need an ``admin`` token when it runs with ``--auth``; the answers
carry a token's record, and its secret once, in the answer to its creation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops.entities import ApiToken
from mlops.store.http_client import part
from mlops.store.http_codec import _ts, _ts_required
from mlops.store.http_reads import AppCalls

if TYPE_CHECKING:
    from mlops.store.sql.audit import AuditEvent


def token_from(data: Mapping[str, Any]) -> ApiToken:
    """A token's record as the App answers it."""
    return ApiToken(
        id=data["id"],
        name=data["name"],
        scope=data["scope"],
        created_at=_ts_required(data["created_at"]),
        revoked_at=_ts(data.get("revoked_at")),
        last_used_at=_ts(data.get("last_used_at")),
        projects=tuple(data.get("projects") or ()),
        expires_at=_ts(data.get("expires_at")),
    )


class AppTokens(AppCalls):
    """Create, list and revoke the App's tokens, and read its audit trail, over its REST API."""

    def create_token(
        self,
        name: str,
        scope: str,
        projects: Sequence[str] = (),
        expires_at: float | None = None,
    ) -> tuple[str, ApiToken]:
        expires = None
        if expires_at is not None:
            expires = dt.datetime.fromtimestamp(expires_at, dt.UTC).isoformat()
        body = {"name": name, "scope": scope, "projects": list(projects), "expires": expires}
        answer = self._call("POST", "/tokens", body, repeatable=False)
        return answer["secret"], token_from(answer["token"])

    def list_tokens(self) -> list[ApiToken]:
        return [token_from(t) for t in self._call("GET", "/tokens")["tokens"]]

    def revoke_token(self, name_or_id: str) -> ApiToken:
        return token_from(self._call("DELETE", f"/tokens/{part(name_or_id)}"))

    def list_audit_events(
        self, since: float | None = None, who: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]:
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if who is not None:
            params["who"] = who
        from mlops.store.sql.audit import AuditEvent  # the SQL layer, only when asked

        events = self._call("GET", "/audit", params=params)["events"]
        return [
            AuditEvent(
                id=e["id"], at=_ts_required(e["at"]), actor=e["actor"], action=e["action"],
                kind=e["kind"], object_id=e["object_id"], detail=e["detail"],
            )
            for e in events
        ]  # fmt: skip

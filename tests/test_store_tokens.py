"""The App's tokens managed through the store, on every backend (SQLite, PostgreSQL, a real
App over HTTP, whose ``/tokens`` routes the HttpStore calls), by the same tests."""

from __future__ import annotations

import time

import pytest

from mlops.errors import AlreadyExists, NotFound
from mlops.store.base import Store


def test_a_token_is_created_listed_and_revoked(store: Store) -> None:
    project = store.create_project("vision-tokens", None, "active", False)
    expires = time.time() + 3600
    secret, token = store.create_token("ci-bot", "write", [project.title], expires)
    assert secret and secret not in repr(token)
    assert (token.name, token.scope, token.projects) == ("ci-bot", "write", (project.id,))
    assert token.expires_at == pytest.approx(expires, abs=0.001)
    assert token.revoked_at is None

    listed = {t.name: t for t in store.list_tokens()}
    assert listed["ci-bot"].id == token.id and listed["ci-bot"].projects == (project.id,)

    with pytest.raises(AlreadyExists, match="ci-bot"):
        store.create_token("ci-bot", "read")

    revoked = store.revoke_token("ci-bot")
    assert revoked.id == token.id and revoked.revoked_at is not None
    assert {t.name: t for t in store.list_tokens()}["ci-bot"].revoked_at is not None
    with pytest.raises(NotFound):
        store.revoke_token("no-such-token")


def test_the_audit_trail_is_read_by_time_and_by_who(store: Store) -> None:
    before = time.time() - 1
    project = store.create_project("vision-audit", None, "active", False)
    store.rename_project(project.id, "vision-audited")
    events = store.list_audit_events(since=before)
    mine = [e for e in events if e.object_id == project.id]
    assert [e.action for e in mine] == ["rename", "create"]  # newest first
    assert mine[0].detail == {"from": "vision-audit", "to": "vision-audited"}
    assert mine[0].at >= before and mine[0].actor
    assert store.list_audit_events(since=before, who="nobody-at-all") == []
    assert len(store.list_audit_events(since=before, limit=1)) == 1

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

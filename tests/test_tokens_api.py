"""Expiring tokens, and admins managing tokens through the API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from mlops.app import AppSettings, create_app
from mlops.errors import InvalidInput
from mlops.store.sql.models import API_TOKENS
from mlops.store.sql.store import SqlStore
from mlops.store.sql.tokens import expiry_time
from mlops.wire import API_PREFIX


@pytest.fixture
def app_and_store(tmp_path: Path) -> Iterator[tuple[TestClient, SqlStore, str]]:
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    store = SqlStore(uri)
    store.create_project("vision", None, "active", False)
    admin, _ = store.create_token("root", "admin")
    app = create_app(AppSettings(uri, auth=True))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, store, admin
    store.close()


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_expiry_times_read_durations_and_dates() -> None:
    now = time.time()
    assert expiry_time("30m", now) == now + 1800
    assert expiry_time("12h", now) == now + 12 * 3600
    assert expiry_time("90d", now) == now + 90 * 86400
    assert expiry_time("2999-01-01", now) > now
    for bad in ("soon", "0d", "2000-01-01"):
        with pytest.raises(InvalidInput, match="--expires"):
            expiry_time(bad, now)


def test_an_expired_token_gets_a_401_saying_it_expired(
    app_and_store: tuple[TestClient, SqlStore, str],
) -> None:
    client, store, _ = app_and_store
    secret, token = store.create_token("temp", "read", expires_at=time.time() + 3600)
    assert client.get(f"{API_PREFIX}/projects", headers=_bearer(secret)).status_code == 200
    with store._engine.begin() as conn:  # its hour has passed
        conn.execute(update(API_TOKENS).where(API_TOKENS.c.id == token.id).values(expires_at=1.0))
    answer = client.get(f"{API_PREFIX}/projects", headers=_bearer(secret))
    assert answer.status_code == 401
    assert "'temp' expired on 1970-01-01" in answer.json()["error"]["message"]
    login = client.post("/login", json={"token": secret})
    assert login.status_code == 401 and "expired" in login.json()["error"]["message"]


def test_admins_create_list_and_revoke_tokens_through_the_api(
    app_and_store: tuple[TestClient, SqlStore, str],
) -> None:
    client, _, admin = app_and_store
    body = {"name": "team", "scope": "read", "projects": ["vision"], "expires": "90d"}
    created = client.post(f"{API_PREFIX}/tokens", json=body, headers=_bearer(admin))
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("mlops_") and created.json()["token"]["expires_at"]
    assert client.get(f"{API_PREFIX}/projects", headers=_bearer(secret)).status_code == 200
    listed = client.get(f"{API_PREFIX}/tokens", headers=_bearer(admin)).json()["tokens"]
    team = next(t for t in listed if t["name"] == "team")
    assert team["scope"] == "read" and len(team["projects"]) == 1 and team["last_used_at"]
    assert secret not in str(listed)
    # a read token manages nothing
    assert client.get(f"{API_PREFIX}/tokens", headers=_bearer(secret)).status_code == 403
    revoked = client.delete(f"{API_PREFIX}/tokens/team", headers=_bearer(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    answer = client.get(f"{API_PREFIX}/projects", headers=_bearer(secret))
    assert answer.status_code == 401 and "revoked" in answer.json()["error"]["message"]
    bad = client.post(
        f"{API_PREFIX}/tokens", json={"name": "x", "expires": "soon"}, headers=_bearer(admin)
    )
    assert bad.status_code == 422 and "--expires 'soon'" in bad.json()["error"]["message"]

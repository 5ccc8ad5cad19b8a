"""The audit trail: every change names who made it, what, on which object, and when."""

from __future__ import annotations

import getpass
import json
import time
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient

from mlops.app import AppSettings, create_app
from mlops.cli import main
from mlops.store.sql.store import SqlStore
from mlops.wire import API_PREFIX


def test_changes_of_an_embedded_store_name_the_local_user(sql_store_uri: str) -> None:
    store = SqlStore(sql_store_uri)
    try:
        project = store.create_project("vision", None, "active", False)
        experiment = store.create_experiment(project.id, "sweep", None)
        store.create_iteration("it-1", "run", experiment.id, None, time.time(), {})
        for step in range(5):  # metric logging is not audited row by row
            store.log_batch("it-1", parameters={"lr": step}, metrics=[("loss", step, 1.0, 1.0)])
        store.end_iteration("it-1", "finished", time.time())
        store.rename_experiment(experiment.id, "sweep-2")
        store.set_iteration_tags("it-1", {"best": "yes"})
        store.delete_iteration("it-1")
        store.restore_iteration("it-1")
        events = store.list_audit_events()
        assert [(e.action, e.kind) for e in reversed(events)] == [
            ("create", "project"), ("create", "experiment"), ("create", "iteration"),
            ("end", "iteration"), ("rename", "experiment"), ("tag", "iteration"),
            ("delete", "iteration"), ("restore", "iteration"),
        ]  # fmt: skip
        assert {e.actor for e in events} == {f"local:{getpass.getuser()}"}
        assert events[-1].object_id == project.id and events[-1].detail == {"title": "vision"}
        assert events[3].detail == {"from": "sweep", "to": "sweep-2"}
        assert store.list_audit_events(who="someone") == []
        assert len(store.list_audit_events(since=time.time() + 60)) == 0
    finally:
        store.close()


def test_notes_moves_renames_and_purges_are_audited(sql_store_uri: str) -> None:
    store = SqlStore(sql_store_uri)
    try:
        project = store.create_project("vision", None, "active", False)
        first = store.create_experiment(project.id, "a", None)
        second = store.create_experiment(project.id, "b", None)
        store.create_iteration("it-1", "run", first.id, None, time.time(), {})
        since = time.time()
        store.rename_project(project.id, "vision-2")
        store.update_experiment(first.id, "why")
        store.move_iteration("it-1", second.id)
        store.set_note("iteration", "it-1", "diverged")
        store.delete_iteration("it-1")
        store.purge_iterations(["it-1"])
        store.delete_experiment(first.id)
        store.purge_experiment(first.id)
        events = list(reversed(store.list_audit_events(since=since)))
        assert [(e.action, e.kind, e.object_id) for e in events] == [
            ("rename", "project", project.id), ("update", "experiment", first.id),
            ("move", "iteration", "it-1"), ("note", "iteration", "it-1"),
            ("delete", "iteration", "it-1"), ("purge", "iteration", "it-1"),
            ("delete", "experiment", first.id), ("purge", "experiment", first.id),
        ]  # fmt: skip
        assert events[2].detail == {"from": first.id, "to": second.id}
    finally:
        store.close()


def test_changes_through_the_app_name_the_token(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    store = SqlStore(uri)
    writer, _ = store.create_token("alice", "write")
    admin, _ = store.create_token("root", "admin")
    app = create_app(AppSettings(uri, auth=True))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        created = client.post(
            f"{API_PREFIX}/projects",
            json={"title": "vision"},
            headers={"Authorization": f"Bearer {writer}"},
        )
        assert created.status_code == 201
        made = client.post(
            f"{API_PREFIX}/tokens",
            json={"name": "bob", "scope": "read"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert made.status_code == 201
    events = store.list_audit_events()
    store.close()
    assert [(e.actor, e.action, e.kind, e.object_id) for e in events[:2]] == [
        ("root", "create", "token", "bob"),
        ("alice", "create", "project", created.json()["id"]),
    ]
    runner = CliRunner()
    answer = runner.invoke(main, ["audit", "--store", uri, "--who", "alice", "--json"])
    assert answer.exit_code == 0, answer.output
    listed = json.loads(answer.output)
    assert [(e["actor"], e["kind"]) for e in listed] == [("alice", "project")]
    answer = runner.invoke(main, ["audit", "--store", uri, "--since", "7d"])
    assert answer.exit_code == 0 and "root" in answer.output and "alice" in answer.output
    answer = runner.invoke(main, ["audit", "--store", uri, "--since", "soon"])
    assert answer.exit_code != 0 and "--since" in answer.output

"""The trash from the command line and the library: delete and restore projects, experiments,
iterations and datasets (under a new name too), describe iterations, purge projects and
datasets."""

from __future__ import annotations

from click.testing import CliRunner, Result

from mlops import tracking
from mlops.cli import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _run_in(active: dict[str, str]) -> str:
    it = tracking.start_iteration("run", description="first try")
    it.log_metric("loss", 0.5)
    it.end_iteration()
    return it.id


def test_a_project_is_deleted_restored_under_a_new_title_and_purged(
    active: dict[str, str],
) -> None:
    iteration_id = _run_in(active)
    deleted = run("projects", "delete", "demo")
    assert deleted.exit_code == 0, deleted.output
    assert "deleted project 'demo'" in deleted.stdout
    assert tracking.list_projects() == []
    assert tracking.list_iterations() == []
    assert next(p["deleted_by"] for p in tracking.list_projects(deleted=True)).startswith("local:")

    tracking.create_project("demo")
    taken = run("projects", "restore", active["project_id"][:8])
    assert taken.exit_code != 0
    assert "--name" in taken.output and "demo" in taken.output
    renamed = run("projects", "restore", active["project_id"], "--name", "demo-old")
    assert renamed.exit_code == 0, renamed.output
    assert tracking.get_project(active["project_id"])["title"] == "demo-old"
    assert [i["id"] for i in tracking.list_iterations(project_id=active["project_id"])] == [
        iteration_id
    ]

    run("projects", "delete", "demo-old")
    dry = run("purge", "--project", "demo-old")
    assert dry.exit_code == 0, dry.output
    assert "would purge project 'demo-old'" in dry.stdout and "1 iteration(s)" in dry.stdout
    done = run("purge", "--project", "demo-old", "--yes")
    assert done.exit_code == 0, done.output
    assert "1 iteration(s)" in done.stdout
    assert [p["title"] for p in tracking.list_projects(deleted=None)] == ["demo"]


def test_experiments_and_iterations_restore_under_a_new_name(active: dict[str, str]) -> None:
    iteration_id = _run_in(active)
    assert run("experiments", "delete", active["experiment_id"]).exit_code == 0
    tracking.create_experiment("sweep")
    taken = run("experiments", "restore", active["experiment_id"])
    assert taken.exit_code != 0 and "name=" in taken.output
    back = run("experiments", "restore", active["experiment_id"], "--name", "sweep-1")
    assert back.exit_code == 0, back.output
    assert tracking.get_experiment(active["experiment_id"])["name"] == "sweep-1"

    assert run("iterations", "delete", iteration_id[:8]).exit_code == 0
    assert tracking.get_iteration(iteration_id)["deleted_by"].startswith("local:")
    again = run("iterations", "restore", iteration_id[:8], "--name", "run-2")
    assert again.exit_code == 0, again.output
    assert tracking.get_iteration(iteration_id)["name"] == "run-2"


def test_an_iteration_is_described_at_start_and_later(active: dict[str, str]) -> None:
    iteration_id = _run_in(active)
    assert tracking.get_iteration(iteration_id)["description"] == "first try"
    result = run("iterations", "describe", iteration_id[:8], "lr 0.1, no warmup")
    assert result.exit_code == 0, result.output
    assert tracking.get_iteration(iteration_id)["description"] == "lr 0.1, no warmup"
    assert tracking.update_iteration(iteration_id, description="")["description"] is None
    it = tracking.start_iteration("other")
    it.set_description("live one")
    assert tracking.get_iteration(it.id)["description"] == "live one"
    it.end_iteration()


def test_a_dataset_in_use_needs_force_and_restores_under_a_new_version(
    active: dict[str, str],
) -> None:
    it = tracking.start_iteration("run")
    dataset = tracking.create_dataset("mnist", "s3://bucket/mnist", version="v1")
    it.log_dataset(dataset["id"])
    it.end_iteration()
    refused = run("datasets", "delete", dataset["id"])
    assert refused.exit_code != 0 and "--force" in refused.output and it.id in refused.output
    assert run("datasets", "delete", dataset["id"], "--force").exit_code == 0
    assert tracking.list_datasets() == []
    tracking.create_dataset("mnist", "s3://bucket/mnist-2", version="v1")
    taken = run("datasets", "restore", dataset["id"])
    assert taken.exit_code != 0 and "version=" in taken.output
    back = run("datasets", "restore", dataset["id"], "--version", "v1-old")
    assert back.exit_code == 0, back.output
    assert sorted(d["version"] for d in tracking.list_datasets("mnist")) == ["v1", "v1-old"]

    run("datasets", "delete", dataset["id"], "--force")
    assert "would purge dataset" in run("purge", "--dataset", dataset["id"]).stdout
    assert run("purge", "--dataset", dataset["id"], "--yes").exit_code == 0
    assert [d["version"] for d in tracking.list_datasets("mnist", deleted=None)] == ["v1"]
    assert run("purge").exit_code != 0  # one of --older-than, --project, --dataset

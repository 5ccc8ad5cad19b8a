"""MLflow's experiment endpoints (``/mlflow/experiments/...``) on the store's experiments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from mlops.app.deps import CanRead, CanWrite, StoreDep
from mlops.app.mlflow._args import (
    JsonBody,
    ViewDep,
    integer,
    pairs,
    query,
    required,
    required_text,
    string_list,
    text,
    value_text,
    view_type,
)
from mlops.app.mlflow.errors import MlflowError, invalid, not_found
from mlops.app.mlflow.mapping import (
    DEFAULT_EXPERIMENT,
    DEFAULT_ID,
    PROJECT_TAG,
    MlflowView,
    experiment_json,
    project_named,
)
from mlops.app.mlflow.search import experiment_filter, experiment_order, page_offset, page_token
from mlops.app.responses import PlainRoute
from mlops.errors import AlreadyExists
from mlops.store.base import Store

router = APIRouter(route_class=PlainRoute, include_in_schema=False)

MAX_RESULTS = 50_000
DEFAULT_RESULTS = 1000
MAX_TAG_KEY = 250
MAX_TAG_VALUE = 20_000


def _experiment(store: Store, view: MlflowView, mlflow_id: Any) -> str:
    return view.experiment_in(store, mlflow_id)


@router.post("/experiments/create", dependencies=[CanWrite])
def create_experiment(body: JsonBody, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """Create an experiment in the MLflow project (or the project its ``mlops.project`` tag
    names, made when missing)."""
    name = required_text(body, "name")
    if len(name) > 250:
        raise invalid(f"Experiment name '{name[:40]}...' is longer than 250 characters")
    tags = pairs(body, "tags", MAX_TAG_VALUE, "Tag")
    project = tags.get(PROJECT_TAG)
    project_id = project_named(store, project) if project else view.project_id(store)
    try:
        experiment = store.create_experiment(project_id, name, None)
    except AlreadyExists:
        raise MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"Experiment(name={name}) already exists."
        ) from None
    if tags:
        store.set_experiment_tags(experiment.id, tags)
    return {"experiment_id": view.experiment_out(experiment.id)}


@router.get("/experiments/get", dependencies=[CanRead])
def get_experiment(request: Request, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """One experiment by id (``"0"``: the Default experiment)."""
    experiment_id = _experiment(store, view, required(query(request), "experiment_id"))
    return {"experiment": experiment_json(store.get_experiment(experiment_id), view)}


@router.get("/experiments/get-by-name", dependencies=[CanRead])
def get_experiment_by_name(request: Request, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """The live experiment of that name in the MLflow project."""
    name = required_text(query(request), "experiment_name")
    found = store.find_experiment(view.project_id(store), name)
    if found is None:
        raise not_found(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(found, view)}


def _search(args: dict[str, Any], store: Store, view: MlflowView) -> dict[str, Any]:
    limit = integer(args, "max_results", DEFAULT_RESULTS, 1, MAX_RESULTS)
    offset = page_offset(args.get("page_token"))
    matches = experiment_filter(text(args, "filter"))
    order = experiment_order(string_list(args, "order_by"))
    deleted = view_type(args, "view_type")
    found = [experiment_json(e, view) for e in store.list_experiments(None, deleted=deleted)]
    found = [e for e in found if matches(e)]
    order(found)
    answer: dict[str, Any] = {"experiments": found[offset : offset + limit]}
    if offset + limit < len(found):
        answer["next_page_token"] = page_token(offset + limit)
    return answer


@router.post("/experiments/search", dependencies=[CanRead])
def search_experiments(body: JsonBody, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """Experiments of every project, filtered, ordered and paged as MLflow does."""
    return _search(body, store, view)


@router.get("/experiments/search", dependencies=[CanRead])
def search_experiments_get(request: Request, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """The same search, its arguments in the query string."""
    return _search(query(request, lists=("order_by",)), store, view)


@router.post("/experiments/update", dependencies=[CanWrite])
def update_experiment(body: JsonBody, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """Rename an experiment."""
    experiment_id = _experiment(store, view, required(body, "experiment_id"))
    new_name = required_text(body, "new_name")
    try:
        store.rename_experiment(experiment_id, new_name)
    except AlreadyExists:
        raise MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"Experiment(name={new_name}) already exists."
        ) from None
    return {}


@router.post("/experiments/delete", dependencies=[CanWrite])
def delete_experiment(body: JsonBody, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """Delete an experiment (and so hide its runs) until it is restored."""
    raw = required(body, "experiment_id")
    experiment_id = _experiment(store, view, raw)
    if experiment_id == view.default_id(store):
        raise invalid(
            f"Cannot delete the default experiment '{DEFAULT_ID}' ({DEFAULT_EXPERIMENT}). "
            "This is a reserved experiment."
        )
    store.delete_experiment(experiment_id)
    return {}


@router.post("/experiments/restore", dependencies=[CanWrite])
def restore_experiment(body: JsonBody, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """Bring a deleted experiment and its runs back."""
    store.restore_experiment(_experiment(store, view, required(body, "experiment_id")))
    return {}


@router.post("/experiments/set-experiment-tag", dependencies=[CanWrite])
def set_experiment_tag(body: JsonBody, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """Set one tag of an experiment."""
    experiment_id = _experiment(store, view, required(body, "experiment_id"))
    key = required_text(body, "key")
    if len(key) > MAX_TAG_KEY:
        raise invalid(f"Tag key '{key[:40]}...' is longer than {MAX_TAG_KEY} characters")
    value = value_text(body.get("value"), "value", MAX_TAG_VALUE, "Tag")
    store.set_experiment_tags(experiment_id, {key: value})
    return {}


@router.post("/experiments/delete-experiment-tag", dependencies=[CanWrite])
def delete_experiment_tag(body: JsonBody, store: StoreDep, view: ViewDep) -> dict[str, Any]:
    """Remove one tag of an experiment."""
    experiment_id = _experiment(store, view, required(body, "experiment_id"))
    store.set_experiment_tags(experiment_id, delete=[required_text(body, "key")])
    return {}

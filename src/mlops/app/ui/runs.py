"""Run pages: an experiment's iterations table, one iteration, and the comparison of several."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from fastapi import APIRouter, Request

from mlops.app.ui import table, workspace
from mlops.app.ui.groups import group_context
from mlops.app.ui.markdown import render_note
from mlops.app.ui.pages import store_of
from mlops.app.ui.previews import artifact_tree, preview, shared_images
from mlops.app.ui.render import PAGE_SIZE, Page, page_route, path_part, query_int, query_list
from mlops.app.ui.views import workspace_views
from mlops.entities import Artifact, is_system_metric, iso, training_first
from mlops.errors import InvalidInput

router = APIRouter(include_in_schema=False)
#: How many iterations the compare page takes.
COMPARE_MIN, COMPARE_MAX = 2, 50
#: Files of one iteration previewed on its page at most (each preview may read the file).
MAX_PREVIEWS = 30
#: Threads for reads a page makes side by side (the store's pool has 8 connections).
#: Counting the iterations of an experiment stops here (the page then says "10,000+").
COUNT_LIMIT = 10_000
_READS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mlops-page-read")


def _crumbs(project: Any, experiment: Any = None) -> list[tuple[str, str | None]]:
    crumbs: list[tuple[str, str | None]] = [
        ("Projects", "/projects"),
        (project.title, "/projects/" + path_part(project.id)),
    ]
    if experiment is not None:
        crumbs.append((experiment.name, "/experiments/" + path_part(experiment.id)))
    return crumbs


def _named(sorted_name: list[str] | None, kind: str) -> list[str]:
    """The name of the sorted column when it is a ``kind`` ("metrics" or "params") column."""
    return [sorted_name[1]] if sorted_name is not None and sorted_name[0] == kind else []


@page_route(router, "/experiments/{experiment_id}")
def experiment(request: Request) -> Page:
    """An experiment's iterations, 50 a page: ``?metrics=a,b&params=x,y`` pick the columns,
    ``?order_by=metrics.acc desc`` sorts, ``?filter=`` filters (both in the store), ``?page=``;
    ``?deleted=1`` shows its deleted iterations instead (to restore them)."""
    store = store_of(request)
    found = store.get_experiment(request.path_params["experiment_id"])
    project = store.get_project(found.project_id)
    filter_text = request.query_params.get("filter", "").strip()
    order_by = request.query_params.get("order_by", "").strip()
    page = query_int(request, "page", 1)
    deleted = request.query_params.get("deleted", "") in ("1", "true")
    # Three independent reads at once (each on its own pooled connection): the page costs
    # the slowest of them, not their sum, when a filter makes counting as slow as listing.
    # Counting stops past COUNT_LIMIT: "10,000+" is as useful as an exact 100,000 and cheap.
    # It runs beside the listing on its own pooled connection: the page costs the slower one.
    count_read = _READS.submit(
        store.count_iterations, found.id, None, filter_text or None, COUNT_LIMIT + 1, deleted
    )
    metric_names, param_names = store.iteration_columns(found.id)
    metrics = query_list(request, "metrics", set(metric_names))
    params = query_list(request, "params", set(param_names))
    explicit = metrics is not None or params is not None
    state = table.TableState(
        experiment_id=found.id,
        # System metrics (system/cpu_percent, ...) are columns only when picked.
        metrics=(metrics or [])
        if explicit
        else table.default_columns([n for n in metric_names if not is_system_metric(n)]),
        params=(params or []) if explicit else table.default_columns(param_names),
        explicit=explicit,
        filter=filter_text,
        order_by=order_by,
        page=page,
        deleted=deleted,
    )
    error, status, total, shown, sort = None, 200, 0, [], None
    try:
        sort = table.current_sort(order_by)
        # Only the chosen columns (and the one sorted by) are loaded from the database.
        sorted_name = sort[0].split(".", 1) if sort is not None and "." in sort[0] else None
        wanted_metrics = [*state.metrics, *_named(sorted_name, "metrics")]
        wanted_params = [*state.params, *_named(sorted_name, "params")]
        shown = store.list_iterations(
            experiment_id=found.id,
            filter=filter_text or None,
            order_by=order_by or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            parameter_names=wanted_params,
            metric_names=wanted_metrics,
            deleted=deleted,
        )
        total = count_read.result()
    except InvalidInput as exc:
        error, status = exc.to_dict(), exc.status
    finally:
        count_read.cancel()
        wait([count_read])
    capped = total > COUNT_LIMIT
    total = min(total, COUNT_LIMIT)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if capped:  # the last page is not known: offer "next" while pages come back full
        pages = max(pages, page + 1 if len(shown) == PAGE_SIZE else page)
    note = store.get_note("experiment", found.id)
    grouping = group_context(
        request, store, found.id, filter_text, state.metrics, param_names, shown
    )
    data = {
        "experiment": found.to_dict(),
        "project": project.to_dict(),
        "columns": table.columns(state, sort),
        "chosen": {"metrics": state.metrics, "params": state.params, "explicit": explicit},
        "available": {
            "metrics": training_first({*metric_names, *state.metrics}),
            "params": sorted({*param_names, *state.params}),
        },
        "filter": state.filter,
        "order_by": state.order_by,
        "page": state.page,
        "deleted": deleted,
        "pages": pages,
        "page_size": PAGE_SIZE,
        "total": total,
        "total_capped": capped,
        "iterations": table.rows(shown, state),
        "error": error,
        "note": note.to_dict(),
        **workspace_views(store, found.id, request),
        **grouping,
    }
    data["workspace"] = workspace.chart_state(
        request, training_first({*metric_names, *state.metrics}), sorted(param_names)
    )
    base = "/experiments/" + path_part(found.id)
    view = {
        "title": found.name,
        "crumbs": [*_crumbs(project), (found.name, None)],
        "nav": "projects",
        "prev_url": base + state.query(page=state.page - 1) if state.page > 1 else None,
        "next_url": base + state.query(page=state.page + 1) if state.page < pages else None,
        "first_url": base + state.query(page=1),
        "clear_url": base + state.query(filter="", page=1),
        "live_url": base + state.query(deleted="", page=1),
        "deleted_url": base + state.query(deleted="1", page=1),
        "base_url": base,
        "compare_min": COMPARE_MIN,
        "compare_max": COMPARE_MAX,
        "note_html": render_note(note.text),
        # iterations started after this (the server's clock) are new to the page (arrivals.js)
        "opened_at": iso(time.time()),
    }
    return Page("experiment.html", data, view, status)


@page_route(router, "/iterations/{iteration_id}")
def iteration(request: Request) -> Page:
    """One iteration: parameters, metric summaries and charts (the browser fetches the
    downsampled series; the system metrics in a group of their own, below the others),
    datasets, model file, system info, error, tags."""
    store = store_of(request)
    found = store.get_iteration(request.path_params["iteration_id"])
    found_experiment = store.get_experiment(found.experiment_id)
    project = store.get_project(found.project_id)
    files = store.list_artifacts(found.id)
    artifacts = request.app.state.artifacts
    tree = artifact_tree(files)
    first: dict[str, Artifact] = {}  # name -> its first file (an image series: its first step)
    for file in files:
        first.setdefault(file.name, file)
    shown = 0
    for row in tree:
        if row["kind"] in ("file", "series") and shown < MAX_PREVIEWS:
            row["preview"] = preview(first[row["name"]], artifacts)
            shown += row["preview"] is not None
    note = store.get_note("iteration", found.id)
    data = {
        "iteration": found.to_dict(),
        "experiment": found_experiment.to_dict(),
        "project": project.to_dict(),
        "metric_names": sorted(n for n in found.metrics if not is_system_metric(n)),
        "system_metric_names": sorted(n for n in found.metrics if is_system_metric(n)),
        "artifacts": tree,
        "model_versions": [v.to_dict() for v in store.model_versions_of(found.id)],
        "note": note.to_dict(),
    }
    view = {
        "title": found.name,
        "crumbs": [*_crumbs(project, found_experiment), (found.name, None)],
        "nav": "projects",
        "note_html": render_note(note.text),
    }
    return Page("iteration.html", data, view)


@page_route(router, "/compare")
def compare(request: Request) -> Page:
    """2 to 50 iterations side by side (``?ids=a,b,c``): parameters (differences marked),
    dataset versions, same-named images side by side, and (drawn by the browser) metric
    curves and parallel coordinates."""
    ids = query_list(request, "ids") or []
    if not COMPARE_MIN <= len(ids) <= COMPARE_MAX:
        raise InvalidInput(
            f"compare takes {COMPARE_MIN} to {COMPARE_MAX} iterations (?ids=a,b,c), "
            f"got {len(ids)}: select them with the checkboxes of an experiment's table"
        )
    store = store_of(request)
    found = [store.get_iteration(i) for i in ids]
    iterations = [i.to_dict() for i in found]
    metric_names = training_first({m for i in found for m in i.metrics})
    param_names = sorted({p for i in found for p in i.parameters})
    datasets = _dataset_rows(iterations)
    files = list(_READS.map(store.list_artifacts, [i.id for i in found]))
    images = shared_images([(i.id, i.name, f) for i, f in zip(found, files, strict=True)])
    data = {
        "iterations": [_summary(i) for i in iterations],
        "metric_names": metric_names,
        "params": [_param_row(name, iterations) for name in param_names],
        "datasets": datasets,
        "same_datasets": all(row["same"] for row in datasets),
        "images": images,
    }
    crumbs = _compare_crumbs(store, found)
    view = {"title": "Compare iterations", "crumbs": crumbs, "nav": "projects"}
    return Page("compare.html", data, view)


def _compare_crumbs(store: Any, found: list[Any]) -> list[tuple[str, str | None]]:
    """Back to the project (and the experiment, when all the iterations are of one)."""
    experiment_ids = {i.experiment_id for i in found}
    project_ids = {i.project_id for i in found}
    if len(project_ids) != 1:
        return [("Projects", "/projects"), ("Compare", None)]
    project = store.get_project(found[0].project_id)
    experiment = store.get_experiment(found[0].experiment_id) if len(experiment_ids) == 1 else None
    return [*_crumbs(project, experiment), ("Compare", None)]


def _summary(it: dict[str, Any]) -> dict[str, Any]:
    return {
        key: it[key]
        for key in ("id", "name", "status", "experiment_id", "project_id", "started_at",
                    "duration_seconds", "metrics")
    }  # fmt: skip


def _param_row(name: str, iterations: list[dict[str, Any]]) -> dict[str, Any]:
    missing = object()
    values = [it["parameters"].get(name, missing) for it in iterations]
    present = [v for v in values if v is not missing]
    numeric = bool(present) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )
    distinct = {repr(v) for v in values}
    varies = len({repr(v) for v in present}) > 1
    return {
        "name": name,
        "values": [None if v is missing else v for v in values],
        "present": [v is not missing for v in values],
        "differs": len(distinct) > 1,
        "numeric": numeric,
        # the parallel coordinates' axis: none for a value all share (where it is set),
        # numbers on a scale, anything else (text, booleans, lists) as categories
        "axis": None if not varies else "numeric" if numeric else "categorical",
        "shared": None if varies or not present else present[0],
        "set_in": len(present),
    }


def _dataset_rows(iterations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per dataset name: the version each iteration used and whether all used the same one."""
    names = sorted({d["name"] for it in iterations for d in it["datasets"]})
    out = []
    for name in names:
        used = []
        for it in iterations:
            versions = [d for d in it["datasets"] if d["name"] == name]
            used.append(
                [{"id": d["id"], "version": d["version"], "digest": d["digest"]} for d in versions]
            )
        keys = {tuple(sorted(d["digest"] or d["id"] for d in u)) for u in used}
        out.append({"name": name, "used": used, "same": len(keys) == 1})
    return out

"""MLflow's REST API, served by the App: set ``MLFLOW_TRACKING_URI`` to the App's URL and
MLflow clients (the fluent API, ``MlflowClient``, autologging, Lightning's ``MLFlowLogger``,
transformers' ``report_to="mlflow"``, Optuna's ``MLflowCallback``) log into mlops unchanged.

A translation, never a second data model: each route parses MLflow's shape, calls the Store
and renders MLflow's shape (:mod:`.mapping`). The tracking routes are under
``/api/2.0/mlflow/`` and the same under ``/ajax-api/2.0/mlflow/``; every error, raised by a
route or by the App's guard, is MLflow's ``{"error_code", "message"}`` (:mod:`.errors`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mlops.app.mlflow import (
    artifacts,
    experiments,
    logged_models,
    metrics,
    model_changes,
    models,
    runs,
)
from mlops.app.mlflow.errors import MlflowError
from mlops.app.mlflow.mapping import mlflow_project
from mlops.app.routing import PrefixGroup, flat_routes

__all__ = ["PREFIXES", "MlflowError", "mlflow_project", "routes"]

#: Where MLflow clients (``/api``) and MLflow's web UI (``/ajax-api``) call the tracking API.
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")

#: The tracking API's routers, the busiest first (they are matched in this order).
_TRACKING = (runs.router, metrics.router, experiments.router)
#: MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/...``), logged models and registry.
_FILES_AND_MODELS = (
    artifacts.router,
    logged_models.router,
    model_changes.router,
    models.router,
)

info = APIRouter(include_in_schema=False)


def routes() -> PrefixGroup:
    """Every MLflow route, behind one test of the path's prefix (:mod:`mlops.app.routing`)."""
    found = flat_routes(_TRACKING, PREFIXES[0]) + flat_routes(_TRACKING, PREFIXES[1])
    for root in ("/api/2.0", "/ajax-api/2.0"):
        found += flat_routes(_FILES_AND_MODELS, root)
    found += flat_routes([info])
    return PrefixGroup((*PREFIXES, "/api/3.0/mlflow", "/ajax-api/3.0/mlflow"), found)


#: What ``/api/3.0/mlflow/server-info`` tells MLflow clients about this server.
SERVER_INFO: dict[str, Any] = {
    "store_type": "SqlStore",
    "workspaces_enabled": False,
    "trace_archival_enabled": False,
    "multipart_uploads_enabled": False,
    "multipart_downloads_enabled": False,
    "presigned_upload_run_id_supported": False,
    "presigned_upload_model_id_supported": False,
    "features_enabled": {"gateway": False},
}


@info.get("/api/3.0/mlflow/server-info")
@info.get("/ajax-api/3.0/mlflow/server-info")
async def server_info() -> dict[str, Any]:
    """How this server is set up, as MLflow clients ask before some calls (no token needed)."""
    return SERVER_INFO

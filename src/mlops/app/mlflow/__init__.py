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

from mlops.app.mlflow import artifacts, experiments, metrics, models, runs
from mlops.app.mlflow.errors import MlflowError
from mlops.app.mlflow.mapping import mlflow_project

__all__ = ["PREFIXES", "MlflowError", "mlflow_project", "router"]

#: Where MLflow clients (``/api``) and MLflow's web UI (``/ajax-api``) call the tracking API.
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")

router = APIRouter(include_in_schema=False)
for _prefix in PREFIXES:
    router.include_router(experiments.router, prefix=_prefix)
    router.include_router(runs.router, prefix=_prefix)
    router.include_router(metrics.router, prefix=_prefix)
# MLflow's artifact proxy (/api/2.0/mlflow-artifacts/...), logged models and the registry
for _prefix in ("/api/2.0", "/ajax-api/2.0"):
    router.include_router(artifacts.router, prefix=_prefix)
    router.include_router(models.router, prefix=_prefix)

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


@router.get("/api/3.0/mlflow/server-info")
@router.get("/ajax-api/3.0/mlflow/server-info")
async def server_info() -> dict[str, Any]:
    """How this server is set up, as MLflow clients ask before some calls (no token needed)."""
    return SERVER_INFO

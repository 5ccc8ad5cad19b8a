"""Bring existing history into mlops: MLflow (an ``mlruns/`` folder, a database, a server)
and TensorBoard logs. Each importer reads the foreign source itself and writes through a
:class:`~mlops.store.Store`; importing again copies nothing twice, and what could not be
copied is listed in the returned :class:`ImportReport`.

::

    from mlops.importers import import_mlflow
    from mlops.store import open_store

    report = import_mlflow("sqlite:///mlflow.db", open_store("sqlite:///mlops.db"))
    print(report.runs_copied, report.problems)

The command line is ``mlops import mlflow SOURCE`` and ``mlops import tensorboard LOGDIR``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops.importers.mlflow import ImportReport, import_mlflow
    from mlops.importers.tensorboard import import_tensorboard

__all__ = ["ImportReport", "import_mlflow", "import_tensorboard"]


def __getattr__(name: str) -> Any:
    if name in ("ImportReport", "import_mlflow"):
        from mlops.importers import mlflow

        return getattr(mlflow, name)
    if name == "import_tensorboard":
        from mlops.importers import tensorboard

        return tensorboard.import_tensorboard
    raise AttributeError(name)

"""The iteration of a non-zero rank of a distributed job: checked like a real one, never stored."""

from __future__ import annotations

import collections
import time
from typing import Any

from mlops.entities import iso
from mlops.store import MetricRow
from mlops.tracking._iteration import Iteration
from mlops.values import check_id


class DisabledIteration(Iteration):
    """What ``start_iteration`` returns on a non-zero rank of a distributed job, so that one job
    makes one iteration (set ``MLOPS_ALL_RANKS=1`` to track every rank).

    It checks every call exactly as a real iteration does (a string metric or a bad name raises
    ``InvalidInput``, logging after the end raises ``IterationEnded``), has the same attributes
    and dict keys (``id`` is None, ``status`` is ``"disabled"``, plus ``rank``), and its dict
    shows what was logged; nothing is written anywhere. ``log_dataset`` checks the id's form,
    not that the dataset exists (that would need the store).
    """

    def __init__(
        self,
        name: str,
        rank: int,
        project_id: str | None = None,
        experiment_id: str | None = None,
        description: str | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "id": None, "name": name, "project_id": project_id, "experiment_id": experiment_id,
            "status": "disabled", "started_at": iso(time.time()), "ended_at": None,
            "heartbeat_at": None, "duration_seconds": None, "parameters": {}, "metrics": {},
            "metric_summaries": {}, "path_to_model": None, "model": None, "datasets": [],
            "system": {}, "error": None, "tags": {}, "deleted_at": None, "deleted_by": None,
            "description": description or None, "rank": rank,
        }  # fmt: skip
        self._setup(None, data)
        self.rank = rank
        # Points are checked, then dropped: a disabled iteration keeps only the last values.
        self._points: collections.deque[MetricRow] = collections.deque(maxlen=0)

    def _batch_full(self) -> None:
        pass

    def _find_dataset(self, dataset_id: str) -> dict[str, Any]:
        return {"id": check_id(dataset_id, "dataset_id")}

    def _flush(self, heartbeat: bool = False, eager: bool = True) -> None:
        with self._pending_lock:
            self._params, self._tags, self._datasets = {}, {}, []

    def _end(
        self,
        status: str,
        error: dict[str, str] | None,
        deadline: float | None = None,
        at_exit: bool = False,
    ) -> dict[str, Any]:
        self._ended = True
        self._flush()
        return dict(self)

"""What an iteration has accepted and not yet written, and how it is written.

A ``log_*`` call only appends to the iteration's in-memory buffer; the background writer moves
the buffer into the iteration's :class:`Outbox` and writes the outbox to the store in batches of
at most ``BATCH_SIZE`` points, oldest first. A batch that fails stays at the head of the outbox
and is sent again on the next try, so a store that fails now and then neither loses nor
duplicates a point (a point is keyed by (iteration, metric, step); sending a batch twice
stores it once, and batches are sent in the order the points were logged).

While the store cannot be written (a full disk, a database that stays locked, an App that is
down), the points are kept in memory, up to ``MLOPS_MAX_BUFFERED_POINTS`` per iteration
(default 5,000,000; a waiting point takes about 32 bytes, so about 160 MB at the default); the
points logged past that bound are counted, not kept, and the count is reported. Log calls never
wait for a failing store; a script that logs faster than a working store writes waits for it at
the bound (as long as the store makes progress) rather than drop points. The bound may be
overshot by one batch (``BATCH_SIZE`` points) between two checks, and by the points logged in
the last second that the writer has not taken yet.
"""

from __future__ import annotations

import array
import collections
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import AlreadyExists, InvalidInput, IterationEnded, MlopsError, NotFound
from mlops.store import MetricRow

#: Points per store call; a full batch also wakes the background writer early.
BATCH_SIZE = 10_000

DEFAULT_MAX_BUFFERED_POINTS = 5_000_000

#: Errors a retry cannot cure: the data they refused is reported as lost, not retried.
PERMANENT_ERRORS = (InvalidInput, NotFound, IterationEnded, AlreadyExists)


def max_buffered_points() -> int:
    """The bound on unwritten points kept per iteration (``MLOPS_MAX_BUFFERED_POINTS``)."""
    raw = os.environ.get("MLOPS_MAX_BUFFERED_POINTS", "").strip()
    if not raw:
        return DEFAULT_MAX_BUFFERED_POINTS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value < BATCH_SIZE:
        raise InvalidInput(
            f"MLOPS_MAX_BUFFERED_POINTS={raw!r} is not a number of points: set it to a whole "
            f"number >= {BATCH_SIZE} (default {DEFAULT_MAX_BUFFERED_POINTS})"
        )
    return value


#: Points an iteration holds in memory, by default, before a log call waits for a writer that
#: is making progress (``MLOPS_BUFFER_POINTS``): about 15 MiB of buffered points.
DEFAULT_BUFFER_POINTS = 100_000


def buffer_points() -> int:
    """The back-pressure bound (``MLOPS_BUFFER_POINTS``): past this many unwritten points of
    an iteration, a log call waits while the store is being written (not while it fails)."""
    raw = os.environ.get("MLOPS_BUFFER_POINTS", "").strip()
    if not raw:
        return DEFAULT_BUFFER_POINTS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value < 2 * BATCH_SIZE:
        raise InvalidInput(
            f"MLOPS_BUFFER_POINTS={raw!r} is not a number of points: set it to a whole "
            f"number >= {2 * BATCH_SIZE} (default {DEFAULT_BUFFER_POINTS})"
        )
    return value


@dataclass(slots=True)
class Packed:
    """A batch of points waiting for the store, in arrays rather than one tuple per point."""

    names: list[str]
    steps: array.array[int]
    values: array.array[float]
    stamps: array.array[float]

    @classmethod
    def of(cls, rows: list[MetricRow]) -> Packed:
        return cls(
            [row[0] for row in rows],
            array.array("q", [row[1] for row in rows]),
            array.array("d", [row[2] for row in rows]),
            array.array("d", [row[3] for row in rows]),
        )

    def __len__(self) -> int:
        return len(self.names)

    def rows(self) -> list[MetricRow]:
        return list(zip(self.names, self.steps, self.values, self.stamps, strict=True))


@dataclass
class Outbox:
    """Parameters, tags, dataset links and metric points accepted but not yet written.

    Only the thread holding the iteration's flush lock changes it.
    """

    max_points: int
    chunks: collections.deque[list[MetricRow] | Packed] = field(default_factory=collections.deque)
    points: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    #: Points logged past ``max_points`` while the store could not keep up: not kept.
    not_kept: int = 0
    #: Data the store refused for good (``PERMANENT_ERRORS``): points, parameters, tags, links.
    lost: dict[str, int] = field(
        default_factory=lambda: {"points": 0, "parameters": 0, "tags": 0, "datasets": 0}
    )
    #: The last write error, None once a write succeeded.
    error: MlopsError | None = None

    def add(
        self,
        rows: list[MetricRow],
        parameters: dict[str, Any],
        tags: dict[str, str],
        datasets: list[str],
    ) -> None:
        """Append newly logged data (newer values of a name replace older unsent ones)."""
        room = self.max_points - self.points
        if len(rows) > room:
            self.not_kept += len(rows) - max(room, 0)
            rows = rows[: max(room, 0)]
        for start in range(0, len(rows), BATCH_SIZE):
            chunk = rows[start : start + BATCH_SIZE]
            last = self.chunks[-1] if self.chunks else None
            if isinstance(last, list) and len(last) + len(chunk) <= BATCH_SIZE:
                last.extend(chunk)
            else:
                self.chunks.append(chunk)
        self.points += len(rows)
        self.parameters.update(parameters)
        self.tags.update(tags)
        self.datasets.extend(d for d in datasets if d not in self.datasets)

    def empty(self) -> bool:
        return not (self.points or self.parameters or self.tags or self.datasets)

    def head(self) -> list[MetricRow]:
        """The oldest batch of points (empty when there is none)."""
        if not self.chunks:
            return []
        chunk = self.chunks[0]
        return chunk if isinstance(chunk, list) else chunk.rows()

    def pack(self) -> None:
        """Keep the waiting batches compact (32 bytes a point instead of about 200)."""
        for index, chunk in enumerate(self.chunks):
            if isinstance(chunk, list):
                self.chunks[index] = Packed.of(chunk)

    def send(self, write: Callable[..., Any], keep_last: bool = False) -> bool:
        """Write the outbox with ``write(parameters=, metrics=, dataset_ids=, tags=)``, batch by
        batch, oldest first. Stops at the first error that a retry may cure and returns False
        (the failed batch stays first). With ``keep_last`` the last batch (and whatever is not
        a point) is left for the caller to send with the end of the iteration."""
        while self.chunks or (not keep_last and not self.empty()):
            if keep_last and len(self.chunks) <= 1:
                return True
            if not self._write(write, self.head()):
                self.pack()
                return False
        return True

    def _write(self, write: Callable[..., Any], chunk: list[MetricRow]) -> bool:
        parameters, tags, datasets = self.parameters, self.tags, self.datasets
        try:
            write(
                parameters=parameters or None,
                metrics=chunk or None,
                dataset_ids=datasets or None,
                tags=tags or None,
            )
        except PERMANENT_ERRORS as exc:
            self.error = exc
            self.lost["points"] += len(chunk)
            self.lost["parameters"] += len(parameters)
            self.lost["tags"] += len(tags)
            self.lost["datasets"] += len(datasets)
        except MlopsError as exc:
            self.error = exc
            return False
        else:
            self.error = None
        self.take_sent(chunk)
        return True

    def take_sent(self, chunk: list[MetricRow]) -> None:
        """Forget a batch (the first one) and the records sent with it."""
        if chunk:
            self.chunks.popleft()
            self.points -= len(chunk)
        self.parameters, self.tags, self.datasets = {}, {}, []

    def summary(self) -> str:
        """What is not written, in words: "1,000 metric points, 2 parameters, ..."."""
        parts = [
            f"{self.points:,} metric points",
            f"{len(self.parameters)} parameters",
            f"{len(self.tags)} tags",
            f"{len(self.datasets)} dataset links",
        ]
        text = ", ".join(parts)
        if self.not_kept:
            text += (
                f" (and {self.not_kept:,} more points that were not kept: "
                f"MLOPS_MAX_BUFFERED_POINTS={self.max_points:,})"
            )
        lost = self.lost
        if any(lost.values()):
            text += (
                f"; refused by the store for good: {lost['points']:,} metric points, "
                f"{lost['parameters']} parameters, {lost['tags']} tags, "
                f"{lost['datasets']} dataset links"
            )
        return text

    def unwritten(self, not_kept: int = 0) -> dict[str, Any]:
        """The counts of what is not written (plus ``not_kept`` points dropped since the
        last move into the outbox) and the last error."""
        return {
            "metric_points": self.points,
            "parameters": len(self.parameters),
            "tags": len(self.tags),
            "dataset_links": len(self.datasets),
            "points_not_kept": self.not_kept + not_kept,
            "refused": dict(self.lost),
            "error": None if self.error is None else str(self.error),
        }

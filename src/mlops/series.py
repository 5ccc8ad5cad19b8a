"""A metric's series in columns, and its two encodings on the wire.

:class:`MetricColumns` keeps a whole series as three packed arrays (``array('q')`` of steps,
``array('d')`` of values and of timestamps): a million points are 24 MB and no Python object
each. It still reads as the documented list of points: iterating it (or indexing it) gives the
``{"step", "value", "timestamp"}`` dicts of :func:`mlops.tracking.get_metric_history`.

On the wire (``GET /api/v1/history/columns``) a series is one JSON object
``{"steps": [...], "values": [...], "timestamps": [...]}`` (values NaN and ±Inf as
``"NaN"``/``"Infinity"``/``"-Infinity"``, or as literals for a client that sends the
floats header; timestamps in epoch seconds), or, for a client whose ``Accept`` names
:data:`SERIES_MEDIA_TYPE`, the binary form of :meth:`MetricColumns.to_bytes`: a 16-byte header
(``b"MLSR"``, version ``1``, three zero bytes, the number of points as a little-endian
``uint64``) then the steps (``int64``), the values and the timestamps (``float64``), each
little-endian. Every bit of every value comes back (NaN payloads, -0.0, subnormals).
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, TypeAlias, cast, overload

from mlops.entities import MetricPoint, iso
from mlops.errors import InvalidInput

__all__ = ["SERIES_MEDIA_TYPE", "MetricColumns"]

#: The media type of the binary form of a series (ask for it with ``Accept``).
SERIES_MEDIA_TYPE = "application/x-mlops-series"

_MAGIC = b"MLSR"
_VERSION = 1
_HEADER = struct.Struct("<4sB3xQ")
_LITTLE = sys.byteorder == "little"


def _doubles(values: Sequence[float | None]) -> array[float]:
    """``values`` packed; None (SQLite's stored NaN) becomes NaN."""
    try:
        return array("d", cast("Sequence[float]", values))
    except TypeError:
        return array("d", [math.nan if v is None else v for v in values])


def _extend_doubles(
    column: array[float], rows: Sequence[Sequence[Any]], pick: itemgetter[int]
) -> None:
    """``column`` extended with one field of each row; None (SQLite's stored NaN) is NaN."""
    size = len(column)
    try:
        column.extend(map(pick, rows))
    except TypeError:  # a None: the chunk again, the slow way
        del column[size:]
        column.extend([math.nan if v is None else v for v in map(pick, rows)])


_Picks: TypeAlias = "tuple[itemgetter[Any], itemgetter[Any], itemgetter[Any]]"
#: Where the step, value and timestamp of a row are: ``(step, value, timestamp)`` rows, and
#: ``(key, step, value, timestamp)`` rows of several series.
_PLAIN: _Picks = (itemgetter(0), itemgetter(1), itemgetter(2))
_KEYED: _Picks = (itemgetter(1), itemgetter(2), itemgetter(3))


class MetricColumns(Sequence[dict[str, Any]]):
    """Every point of one metric of one iteration, in columns, by step (several points at one
    step in the order they were logged).

    ``steps`` (``array('q')``), ``values`` and ``timestamps`` (``array('d')``, epoch seconds)
    are the columns; ``numpy.frombuffer(columns.values)`` views one without a copy. As a
    sequence it holds the points as :func:`~mlops.tracking.get_metric_history` returns them,
    ``{"step": int, "value": float, "timestamp": ISO 8601 text}``, each built when read.
    """

    __slots__ = ("steps", "timestamps", "values")

    def __init__(
        self,
        steps: array[int] | None = None,
        values: array[float] | None = None,
        timestamps: array[float] | None = None,
    ) -> None:
        self.steps: array[int] = array("q") if steps is None else steps
        self.values: array[float] = array("d") if values is None else values
        self.timestamps: array[float] = array("d") if timestamps is None else timestamps
        if not len(self.steps) == len(self.values) == len(self.timestamps):
            raise InvalidInput(
                f"a series needs as many steps, values and timestamps, got {len(self.steps)}, "
                f"{len(self.values)} and {len(self.timestamps)}"
            )

    @classmethod
    def of_rows(cls, rows: Sequence[Sequence[Any]]) -> MetricColumns:
        """Columns of ``(step, value, timestamp)`` rows as a database cursor gives them (a
        NULL value is NaN)."""
        if not rows:
            return cls()
        steps, values, timestamps = zip(*rows, strict=True)
        return cls(array("q", steps), _doubles(values), _doubles(timestamps))

    @classmethod
    def of_chunks(cls, chunks: Iterable[Sequence[Sequence[Any]]]) -> MetricColumns:
        """Columns of ``(step, value, timestamp)`` rows that come in chunks (a cursor's
        ``fetchmany``; a NULL value is NaN): each chunk is packed and dropped before the next
        one is fetched."""
        columns = cls()
        for rows in chunks:
            columns._extend(rows, _PLAIN)
        return columns

    @classmethod
    def of_keyed_chunks(cls, chunks: Iterable[Sequence[Sequence[Any]]]) -> dict[Any, MetricColumns]:
        """The series of ``(key, step, value, timestamp)`` rows that come in chunks, each
        key's rows one after the other (ordered by key first, as a read of many iterations'
        series is): key -> its columns, in the order the keys came (a NULL value is NaN)."""
        found: dict[Any, MetricColumns] = {}
        for rows in chunks:
            start, end = 0, len(rows)
            while start < end:
                key = rows[start][0]
                if rows[end - 1][0] == key:  # the rest of the chunk is this key's
                    stop = end
                else:  # the key's rows are a run: find where it stops in log(n) looks
                    stop = bisect_left(rows, True, start, end, key=lambda row: row[0] != key)
                columns = found.get(key)
                if columns is None:
                    columns = found[key] = cls()
                columns._extend(rows[start:stop], _KEYED)
                start = stop
        return found

    def _extend(self, rows: Sequence[Sequence[Any]], picks: _Picks) -> None:
        """Rows appended, their step, value and timestamp picked by ``picks`` (map and
        itemgetter pack a column in C without a tuple per column: zip(*rows) is slower on
        rows scattered in memory as a cursor makes them)."""
        step, value, timestamp = picks
        self.steps.extend(map(step, rows))
        _extend_doubles(self.values, rows, value)
        _extend_doubles(self.timestamps, rows, timestamp)

    @classmethod
    def of_points(cls, points: Sequence[MetricPoint]) -> MetricColumns:
        """Columns of :class:`~mlops.entities.MetricPoint` objects."""
        return cls(
            array("q", [p.step for p in points]),
            array("d", [p.value for p in points]),
            array("d", [p.timestamp for p in points]),
        )

    # -- the sequence of documented dicts ---------------------------------------------------
    def __len__(self) -> int:
        return len(self.steps)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return {
            "step": self.steps[index],
            "value": self.values[index],
            "timestamp": iso(self.timestamps[index]),
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for step, value, timestamp in zip(self.steps, self.values, self.timestamps, strict=True):
            yield {"step": step, "value": value, "timestamp": iso(timestamp)}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MetricColumns):
            return self.to_bytes() == other.to_bytes()
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<MetricColumns of {len(self)} points>"

    def points(self) -> list[MetricPoint]:
        """The points as :class:`~mlops.entities.MetricPoint` objects."""
        return list(map(MetricPoint, self.steps, self.values, self.timestamps))

    # -- the wire ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, list[Any]]:
        """``{"steps", "values", "timestamps"}`` as lists (the App's JSON encoder writes
        non-finite values as it writes every float)."""
        return {
            "steps": self.steps.tolist(),
            "values": self.values.tolist(),
            "timestamps": self.timestamps.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricColumns:
        """The series of :meth:`to_json` (values may be ``"NaN"``/``"Infinity"`` strings)."""
        try:
            steps, values, timestamps = data["steps"], data["values"], data["timestamps"]
            return cls(array("q", steps), _decoded(values), array("d", timestamps))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidInput(f"not a series in columns ({exc}): {str(data)[:100]}") from None

    def to_bytes(self) -> bytes:
        """The binary form (:data:`SERIES_MEDIA_TYPE`): header, then steps, values and
        timestamps, little-endian."""
        columns: list[Any] = [self.steps, self.values, self.timestamps]
        if not _LITTLE:
            columns = [array(c.typecode, c) for c in columns]
            for c in columns:
                c.byteswap()
        header = _HEADER.pack(_MAGIC, _VERSION, len(self))
        return b"".join([header, *(c.tobytes() for c in columns)])

    @classmethod
    def from_bytes(cls, data: bytes) -> MetricColumns:
        """The series of :meth:`to_bytes`; ``InvalidInput`` for anything else."""
        if len(data) < _HEADER.size:
            raise InvalidInput(f"a binary series is at least {_HEADER.size} bytes, got {len(data)}")
        magic, version, n = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise InvalidInput(
                f"not a binary series of version {_VERSION} (it starts with {data[:8]!r})"
            )
        if len(data) != _HEADER.size + 24 * n:
            raise InvalidInput(
                f"a binary series of {n} points is {_HEADER.size + 24 * n} bytes, got {len(data)}"
            )
        view = memoryview(data)
        start = _HEADER.size
        columns: list[Any] = []
        for typecode in "qdd":
            column: array[Any] = array(typecode)
            column.frombytes(view[start : start + 8 * n])
            if not _LITTLE:
                column.byteswap()
            columns.append(column)
            start += 8 * n
        return cls(*columns)


def _decoded(values: Sequence[Any]) -> array[float]:
    try:
        return array("d", values)
    except TypeError:
        return array("d", [float(v) if isinstance(v, str) else v for v in values])

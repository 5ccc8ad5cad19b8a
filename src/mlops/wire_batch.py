"""The binary form of a batch's metric points on the wire, both ways.

A batch of the training path (``POST /iterations/{id}/batch``, and the last batch inside
``POST /iterations/{id}/end``) may carry 10,000 points. As JSON rows they cost the client an
encode and the App a decode plus a validation of every row, more than the database's insert.
With ``Content-Type:`` :data:`BATCH_MEDIA_TYPE` the same request is::

    header   24 bytes: b"MLBT", version 1 (uint8), 3 zero bytes, the number of points n
             (uint64), the length of the body (uint32), the length of the names (uint32)
    body     the request's JSON body as usual, its batch's "metrics" an empty list
    names    a JSON array of the distinct metric names
    steps    n int64
    values   n float64 (NaN and infinities as they are: every bit comes through)
    times    n float64, the points' timestamps in epoch seconds
    metrics  n uint32, each point's metric as an index into names

all little-endian. Everything else about the request (its path, token, answer, the rules a
point must keep) is the JSON request's; the App checks the points as it checks JSON rows.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from mlops.errors import InvalidInput, TooLarge
from mlops.wire import MAX_BATCH_POINTS, decode_float

__all__ = ["BATCH_MEDIA_TYPE", "MetricBlock", "decode_batch", "encode_batch"]

#: The media type of a batch whose points travel as columns (send it as ``Content-Type``).
BATCH_MEDIA_TYPE = "application/x-mlops-batch"

_MAGIC = b"MLBT"
_VERSION = 1
_HEADER = struct.Struct("<4sB3xQII")
#: Bytes of one point: step, value and timestamp (8 each) and the name's index (4).
_POINT = 28
_LITTLE = sys.byteorder == "little"
_NAME, _STEP, _VALUE, _TIME = (itemgetter(i) for i in range(4))
_U32 = "I"  # 4 bytes wherever CPython runs


def _packed(code: str, items: Any) -> array[Any]:
    column = array(code, items)
    if not _LITTLE:
        column.byteswap()
    return column


def _values(rows: Sequence[Sequence[Any]]) -> array[float]:
    """The rows' values packed; a non-finite value may come as its wire string ("NaN")."""
    try:
        return _packed("d", map(_VALUE, rows))
    except TypeError:
        return _packed("d", [_float(row[2]) for row in rows])


def _float(value: Any) -> float:
    number = decode_float(value)
    return math.nan if number is None else float(number)


def encode_batch(body: bytes, rows: Sequence[Sequence[Any]]) -> bytes | None:
    """The binary request of the JSON ``body`` (its batch's ``metrics`` left empty: pass them
    as ``rows`` of ``(name, step, value, timestamp)``); None when the rows cannot be packed (a
    step beyond int64, a value that is not a number): the JSON request says what is wrong."""
    try:
        named = list(map(_NAME, rows))
        names = {name: i for i, name in enumerate(dict.fromkeys(named))}
        index = _packed(_U32, map(names.__getitem__, named))
        columns = [
            _packed("q", map(_STEP, rows)),
            _values(rows),
            _packed("d", map(_TIME, rows)),
            index,
        ]
        table = json.dumps(list(names), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, OverflowError, IndexError):  # UnicodeEncodeError too
        return None
    header = _HEADER.pack(_MAGIC, _VERSION, len(rows), len(body), len(table))
    return b"".join([header, body, table, *(column.tobytes() for column in columns)])


@dataclass(frozen=True)
class MetricBlock:
    """The points of a binary batch, in columns (see the module's text for the layout)."""

    names: list[str]
    steps: array[int]
    values: array[float]
    timestamps: array[float]
    index: array[int]

    def rows(self) -> list[tuple[str, int, float, float]]:
        """The points as the store takes them: ``(name, step, value, timestamp)`` rows."""
        name_of = self.names.__getitem__
        return list(
            zip(map(name_of, self.index), self.steps, self.values, self.timestamps, strict=True)
        )


def _column(code: str, data: memoryview, start: int, count: int) -> array[Any]:
    column = array(code)
    column.frombytes(data[start : start + count * column.itemsize])
    if not _LITTLE:
        column.byteswap()
    return column


def decode_batch(data: bytes) -> tuple[bytes, MetricBlock]:
    """(the JSON body, its points) of a binary batch; :class:`InvalidInput` naming what is
    wrong with it, :class:`TooLarge` past :data:`~mlops.wire.MAX_BATCH_POINTS` points."""
    what = f"a {BATCH_MEDIA_TYPE} body"
    if len(data) < _HEADER.size:
        raise InvalidInput(
            f"{what} starts with a {_HEADER.size}-byte header, this one has {len(data)} bytes: "
            "send the batch as JSON, or as mlops.wire_batch.encode_batch makes it"
        )
    magic, version, count, body_size, names_size = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
        raise InvalidInput(
            f"{what} starts with {_MAGIC!r} and version {_VERSION}, this one with {magic!r} "
            f"and version {version}: send the batch as JSON, or as encode_batch makes it"
        )
    if count > MAX_BATCH_POINTS:
        raise TooLarge(
            f"a batch carries at most {MAX_BATCH_POINTS:,} metric points, this one "
            f"{count:,}: split it (the mlops client does this by itself)"
        )
    expected = _HEADER.size + body_size + names_size + count * _POINT
    if len(data) != expected:
        raise InvalidInput(
            f"{what} of {count:,} points with a {body_size:,}-byte body and {names_size:,} "
            f"bytes of names is {expected:,} bytes long, this one {len(data):,}: it was cut "
            "short or padded; send it again whole"
        )
    view = memoryview(data)
    start = _HEADER.size
    body = bytes(view[start : start + body_size])
    start += body_size
    names = _names(bytes(view[start : start + names_size]), what)
    start += names_size
    steps = _column("q", view, start, count)
    values = _column("d", view, start + 8 * count, count)
    timestamps = _column("d", view, start + 16 * count, count)
    index = _column(_U32, view, start + 24 * count, count)
    if count and max(index) >= len(names):
        raise InvalidInput(
            f"{what} names metric {max(index)} of its names, which hold {len(names)}: "
            "each point's index must be one of its names'"
        )
    return body, MetricBlock(names, steps, values, timestamps, index)


def _names(text: bytes, what: str) -> list[str]:
    try:
        names = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        names = None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidInput(
            f"the names of {what} must be a JSON array of the metric names (strings)"
        )
    return names

"""Checking names and values, the same way in the library and in the App."""

from __future__ import annotations

import json
import numbers
import warnings
from typing import Any

from mlops.errors import InvalidInput

MAX_NAME = 250
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_STEP = INT64_MAX
#: The latest epoch second a timestamp may have (9999-12-31T23:59:59Z).
MAX_TIMESTAMP = 253_402_300_799
#: How deeply lists and dicts may nest inside a parameter value.
MAX_PARAMETER_DEPTH = 32
#: The most characters a parameter value may have as JSON.
MAX_PARAMETER_CHARS = 65_536
_HUGE = 10**4000  # integers below this always have a JSON text (Python refuses > 4300 digits)


def check_name(value: object, what: str) -> str:
    """A name or title: a string of 1 to 250 characters (any Unicode)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > MAX_NAME:
        raise InvalidInput(
            f"{what} {value[:40]!r}... is {len(value)} characters long; the limit is {MAX_NAME}"
        )
    if "\x00" in value:
        raise InvalidInput(f"{what} {value!r} contains a NUL character (\\x00): remove it")
    return value


def check_optional_text(value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput(f"{what} must be a string or None, got {type(value).__name__} {value!r}")


def check_id(value: object, what: str) -> str:
    """An id as the library hands it out: a non-empty string."""
    if isinstance(value, str) and value:
        return value
    raise InvalidInput(f"{what} must be an id string such as 'a3f9…', got {value!r}")


def metric_value(metric_name: str, value: Any) -> float:
    """A metric value as a float: any real number (numpy/torch scalars too); NaN and ±Inf allowed.

    The slow path of ``Iteration.log_metric``; plain floats never get here.
    """
    if isinstance(value, bool | str | bytes) or value is None:
        raise _bad_metric(metric_name, value)
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, numbers.Number):
        # numpy arrays / torch tensors: only a single element is a metric value
        size = getattr(value, "size", None)
        size = size() if callable(size) else size
        if getattr(value, "ndim", 0) not in (0, None) and size != 1:
            raise _bad_metric(metric_name, value)
        value = item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _bad_metric(metric_name, value)
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):
        raise _bad_metric(metric_name, value) from None


def _bad_metric(metric_name: str, value: Any) -> InvalidInput:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return InvalidInput(
        f"metric {metric_name!r} got {type(value).__name__} {shown}: a metric value must be a "
        "real number (int, float, NaN/inf, or a numpy/torch scalar); log text as a parameter"
    )


def check_int(value: object, what: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """An integer field (a step, a size, a count) as an ``int`` from ``low`` to ``high``: the
    databases keep 64-bit integers, so anything wider is refused here, never by the database."""
    if type(value) is int and low <= value <= high:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInput(f"{what} must be an integer, got {type(value).__name__} {value!r}")
    number = int(value)
    if not low <= number <= high:
        shown = str(number) if len(str(number)) <= 40 else f"{str(number)[:37]}..."
        raise InvalidInput(f"{what} {shown} is out of range: it must be from {low:,} to {high:,}")
    return number


def check_step(metric_name: str, step: Any) -> int:
    """A step as a whole number from 0 to 2**63 - 1 (numpy integers too)."""
    if type(step) is int and 0 <= step <= MAX_STEP:
        return step
    return check_int(step, f"step of metric {metric_name!r}", 0, MAX_STEP)


def check_timestamp(value: object, what: str) -> float:
    """An epoch timestamp in seconds: a finite number from 1970 to the year 9999."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{what} must be epoch seconds (a number), got {value!r}")
    if not 0 <= value <= MAX_TIMESTAMP:  # NaN fails this too
        raise InvalidInput(
            f"{what} {value!r} is not a time: it must be epoch seconds from 0 to "
            f"{MAX_TIMESTAMP} (the year 9999)"
        )
    return float(value)


def parameter_value(parameter_name: str, value: Any) -> Any:
    """A parameter value as JSON data: JSON values keep their type; other objects become their
    ``str()`` with a warning (so a training run never dies over an odd object).

    Raises ``InvalidInput`` naming the parameter when JSON data nests deeper than
    :data:`MAX_PARAMETER_DEPTH` or is longer than :data:`MAX_PARAMETER_CHARS` as JSON.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return check_parameter(parameter_name, value)
    plain = _json_or_none(parameter_name, value)
    if plain is not None:
        return check_parameter(parameter_name, plain)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:  # numpy / torch scalars
        try:
            plain = item()
        except Exception:
            plain = None
        if plain is not None and isinstance(plain, str | bool | int | float):
            return check_parameter(parameter_name, plain)
    try:
        text = str(value)
    except Exception:  # a broken __str__ (or one that recurses too deeply)
        text = f"<{type(value).__name__} object>"
    cut = ""
    if len(text) > MAX_PARAMETER_CHARS - 2:
        text = text[: MAX_PARAMETER_CHARS - 5] + "..."
        cut = f" (cut to {MAX_PARAMETER_CHARS - 2:,} characters)"
    warnings.warn(
        f"parameter {parameter_name!r}: {type(value).__name__} is not JSON data, "
        f"stored as its text {text[:60]!r}{cut}",
        stacklevel=4,
    )
    return text


def check_parameter(parameter_name: str, value: Any) -> Any:
    """A parameter value the store can keep: JSON data (None, bool, int, float, str, lists,
    dicts with string keys) nested at most :data:`MAX_PARAMETER_DEPTH` deep and at most
    :data:`MAX_PARAMETER_CHARS` long as JSON. Walks the value without recursion, so even a
    value nested 100,000 deep gets a clear ``InvalidInput``."""
    if isinstance(value, str):
        if len(value) > MAX_PARAMETER_CHARS - 2:
            raise _too_long(parameter_name, len(value) + 2)
        return value
    if type(value) is int and -_HUGE < value < _HUGE:
        return value
    if value is None or isinstance(value, bool | float):
        return value
    if _json_or_none(parameter_name, value) is None:
        raise InvalidInput(
            f"parameter {parameter_name!r} is a {type(value).__name__}, not JSON data: use "
            "None, bool, int, float, str, or lists and dicts (with string keys) of those"
        )
    try:
        length = len(json.dumps(value, ensure_ascii=False, allow_nan=True))
    except ValueError:  # an integer of more than 4300 digits (Python's limit for its text)
        raise InvalidInput(
            f"parameter {parameter_name!r} holds an integer too long to write as text: "
            "log it as a string"
        ) from None
    if length > MAX_PARAMETER_CHARS:
        raise _too_long(parameter_name, length)
    return value


def _too_long(parameter_name: str, length: int) -> InvalidInput:
    return InvalidInput(
        f"parameter {parameter_name!r} is {length:,} characters long as JSON; the limit is "
        f"{MAX_PARAMETER_CHARS:,}: log a smaller value (a path or a digest of the data)"
    )


def _json_or_none(parameter_name: str, value: Any) -> Any:
    return value if is_json_data(value, f"parameter {parameter_name!r}") else None


def is_json_data(value: Any, what: str, max_items: int = MAX_PARAMETER_CHARS) -> bool:
    """True when ``value`` is JSON data (lists and tuples, dicts with string keys, scalars),
    False when something inside is not; raises ``InvalidInput`` naming ``what`` when it nests
    deeper than :data:`MAX_PARAMETER_DEPTH` or holds more than ``max_items`` items.
    Iterative: the depth of the value never becomes the depth of the Python stack."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        if item is None or isinstance(item, str | bool | int | float):
            continue
        if not isinstance(item, list | tuple | dict):
            return False
        depth += 1
        if depth > MAX_PARAMETER_DEPTH:
            raise InvalidInput(
                f"{what} nests lists or dicts {depth} or more levels deep; the limit is "
                f"{MAX_PARAMETER_DEPTH}: flatten it, or log its parts separately"
            )
        seen += len(item)
        if seen > max_items:  # every item takes at least one character of JSON
            raise InvalidInput(
                f"{what} holds more than {max_items:,} values; log a smaller value (a path or "
                "a digest of the data)"
            )
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    return False
                stack.append((inner, depth))
        else:
            stack.extend((inner, depth) for inner in item)
    return True

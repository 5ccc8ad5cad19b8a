"""Checking names and values, the same way in the library and in the App."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

from mlops.errors import InvalidInput

MAX_NAME = 250


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


def check_step(metric_name: str, step: Any) -> int:
    """A step as an int of at most 64 bits (numpy integers too)."""
    if type(step) is int and -(2**63) <= step < 2**63:
        return step
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidInput(
            f"step of metric {metric_name!r} must be an integer, got {type(step).__name__} {step!r}"
        )
    step = int(step)
    if not -(2**63) <= step < 2**63:
        raise InvalidInput(f"step {step} of metric {metric_name!r} does not fit in 64 bits")
    return step


def parameter_value(parameter_name: str, value: Any) -> Any:
    """A parameter value as JSON data: JSON values keep their type; other objects become their
    ``str()`` with a warning (so a training run never dies over a parameter)."""
    if _is_json(value):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:  # numpy / torch scalars
        try:
            plain = item()
        except Exception:
            plain = None
        if _is_json(plain) and plain is not None:
            return plain
    text = str(value)
    warnings.warn(
        f"parameter {parameter_name!r}: {type(value).__name__} is not JSON data, "
        f"stored as its text {text[:60]!r}",
        stacklevel=4,
    )
    return text


def _is_json(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return True
    if depth > 32:
        return False
    if isinstance(value, list | tuple):
        return all(_is_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False


#: The latest time an ISO 8601 timestamp can show (9999-12-31T23:59:59Z), in epoch seconds.
MAX_TIMESTAMP = 253_402_300_799.0


def check_timestamp(value: Any, what: str) -> float:
    """A time as epoch seconds (``time.time()``) that the API can show as ISO 8601: a finite
    number between 0 (1970) and the end of year 9999."""
    if type(value) is float and 0.0 <= value <= MAX_TIMESTAMP:  # the common case, fast
        return value
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if is_number and 0 <= value <= MAX_TIMESTAMP:  # NaN compares false: refused too
        return float(value)
    raise InvalidInput(
        f"{what} must be seconds since 1970-01-01 UTC (as time.time() gives), between 0 and "
        f"{MAX_TIMESTAMP:.0f}; got {value!r}"
    )


def check_count(value: Any, what: str) -> int | None:
    """A size in bytes or a number of files: None, or a whole number from 0 to 2**63 - 1 (what
    a database's 64-bit integer holds)."""
    if value is None:
        return None
    is_integer = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if is_integer and 0 <= value < 2**63:
        return int(value)
    raise InvalidInput(f"{what} must be a whole number from 0 to 2**63 - 1, got {value!r}")

"""The wire's JSON text (``mlops.wire_json``, ujson with the standard library behind it): every
value comes back as it went, NaN and infinities included, and the text is JSON the standard
library reads the same way."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops import wire_json

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**100), max_value=2**100)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float):
        if math.isnan(want):
            return isinstance(got, float) and math.isnan(got)
        return (
            type(got) is float and got == want and math.copysign(1, got) == math.copysign(1, want)
        )
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(_same(got[k], want[k]) for k in want)
        )
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(_same(g, w) for g, w in zip(got, want, strict=True))
        )
    return type(got) is type(want) and got == want


@given(_VALUES)
def test_every_value_comes_back_as_it_went(value: Any) -> None:
    try:
        text = wire_json.dumps(value)
    except UnicodeEncodeError:  # a lone surrogate is not UTF-8: the standard library agrees
        with pytest.raises(UnicodeEncodeError):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        return
    assert _same(wire_json.loads(text), value)
    assert _same(json.loads(text), value)  # the standard library reads the same values


def test_non_finite_floats_are_literals_or_refused() -> None:
    value = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "text": "NaN"}
    text = wire_json.dumps(value)
    assert text == b'{"nan":NaN,"inf":Infinity,"-inf":-Infinity,"text":"NaN"}'
    back = wire_json.loads(text)
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["text"] == "NaN"
    with pytest.raises(ValueError, match="not JSON compliant"):
        wire_json.dumps({"loss": math.nan}, allow_nan=False)


def test_the_text_is_compact_utf8_with_slashes_as_they_are() -> None:
    assert (
        wire_json.dumps({"path": "s3://b/k", "name": "é"})
        == '{"path":"s3://b/k","name":"é"}'.encode()
    )


class _Kind(enum.Enum):
    A = "a"


def test_what_ujson_refuses_is_left_to_the_standard_library() -> None:
    class Label(str):
        pass

    assert wire_json.loads(wire_json.dumps({"label": Label("x")})) == {"label": "x"}
    with pytest.raises(TypeError):
        wire_json.dumps({"kind": _Kind.A})  # not JSON in either library
    with pytest.raises(ValueError):
        wire_json.loads(b"{not json")

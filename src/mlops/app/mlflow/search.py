"""MLflow's search syntax, translated: run filters and orders become mlops' query language (the
store runs them, indexed), experiment filters are checked here (experiments are few).

MLflow's filter is clauses joined by ``AND``: ``metrics.acc > 0.9 AND params.model = 'rf' AND
tags.`team` LIKE 'vis%' AND attributes.status IN ('FINISHED', 'FAILED')``. Entities: ``metrics.``
(numbers), ``params.`` and ``tags.`` (text: ``= != LIKE ILIKE IN NOT IN``), ``attributes.`` (or
none): ``run_id``, ``run_name``, ``status``, ``start_time``/``created``, ``end_time``,
``user_id``; ``datasets.name`` / ``datasets.digest``. Keys may be quoted with backticks or double
quotes. mlops' ``like`` ignores case, so ``LIKE`` matches as ``ILIKE`` does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlops.app.mlflow.errors import invalid

__all__ = ["Clause", "experiment_filter", "experiment_order", "page_offset", "page_token"]
__all__ += ["parse_filter", "run_filter", "run_order"]

_TOKEN = re.compile(
    r"\s*(?:(?P<back>`(?:[^`\\]|\\.)*`)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<op>!=|>=|<=|<>|==|=|<|>)"
    r"|(?P<punct>[(),.])|(?P<word>[A-Za-z_][\w:/-]*))"
)
_KINDS = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}  # fmt: skip
_TEXT_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_NUMBER_OPS = ("=", "!=", ">", ">=", "<", "<=")


@dataclass(frozen=True, slots=True)
class Clause:
    """One ``entity.key op value`` of an MLflow filter."""

    kind: str
    key: str
    op: str
    value: Any


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _tokens(text: str, what: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid(f"Invalid {what} {text!r}: unexpected character at position {pos + 1}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Reader:
    def __init__(self, text: str, what: str) -> None:
        self.text, self.what = text, what
        self.items = _tokens(text, what)
        self.at = 0

    def fail(self, problem: str) -> Exception:
        return invalid(f"Invalid {self.what} {self.text!r}: {problem}")

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def take(self) -> tuple[str, str]:
        item = self.peek()
        if item is None:
            raise self.fail("it ends too early")
        self.at += 1
        return item

    def word(self, *words: str) -> bool:
        item = self.peek()
        if item is not None and item[0] == "word" and item[1].upper() in words:
            self.at += 1
            return True
        return False

    def identifier(self) -> tuple[str, str]:
        """(entity kind, key) of ``metrics.`a b```, ``params.lr``, ``status``..."""
        kind, text = self.take()
        if kind == "back" or kind == "str":
            return "attribute", _unquote(text)
        if kind != "word":
            raise self.fail(f"expected a key such as metrics.acc, got {text!r}")
        nxt = self.peek()
        if text.lower() in _KINDS and nxt == ("punct", "."):
            self.at += 1
            parts: list[str] = []
            while True:
                part_kind, part = self.take()
                if part_kind in ("back", "str"):
                    parts.append(_unquote(part))
                elif part_kind in ("word", "num"):
                    parts.append(part)
                else:
                    raise self.fail(f"expected a key name after {text}., got {part!r}")
                if self.peek() != ("punct", "."):
                    break
                self.at += 1
            return _KINDS[text.lower()], ".".join(parts)
        return "attribute", text

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return _unquote(text)
        if kind == "num":
            number = float(text)
            exact = number.is_integer() and not set(text.lower()) & {".", "e"}
            return int(number) if exact else number
        if (kind, text) == ("punct", "("):
            values = [self.value()]
            while self.peek() == ("punct", ","):
                self.at += 1
                values.append(self.value())
            if self.take() != ("punct", ")"):
                raise self.fail("a list of values must end with ')'")
            return tuple(values)
        raise self.fail(f"expected a value (a 'quoted string' or a number), got {text!r}")

    def operator(self) -> str:
        if self.word("NOT"):
            if not self.word("IN"):
                raise self.fail("NOT must be followed by IN")
            return "NOT IN"
        for word in ("LIKE", "ILIKE", "IN"):
            if self.word(word):
                return word
        kind, text = self.take()
        if kind != "op":
            raise self.fail(f"expected a comparison (=, !=, <, >, LIKE, IN...), got {text!r}")
        return {"==": "=", "<>": "!="}.get(text, text)


def parse_filter(text: str | None, what: str = "filter") -> list[Clause]:
    """The clauses of an MLflow filter string (empty: none)."""
    if not text or not text.strip():
        return []
    reader = _Reader(text, what)
    clauses: list[Clause] = []
    while True:
        kind, key = reader.identifier()
        op = reader.operator()
        value = reader.value()
        if op in ("IN", "NOT IN") and not isinstance(value, tuple):
            raise reader.fail(f"{op} needs a list of values in parentheses")
        if op not in ("IN", "NOT IN") and isinstance(value, tuple):
            raise reader.fail(f"a list of values needs IN or NOT IN, not {op}")
        clauses.append(Clause(kind, key, op, value))
        if reader.peek() is None:
            return clauses
        if not reader.word("AND"):
            raise reader.fail(
                f"expected AND between conditions, got {reader.peek()[1]!r}"  # type: ignore[index]
                " (MLflow's filter joins conditions with AND only)"
            )


# -- runs: MLflow's filter -> mlops' query language --------------------------------------------
def _name(key: str) -> str:
    return "`" + key.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _text(value: Any) -> str:
    return json.dumps(value if isinstance(value, str) else str(value), ensure_ascii=False)


_RUN_STATUSES = {
    "RUNNING": ("running",),
    "SCHEDULED": ("running",),
    "FINISHED": ("finished",),
    "FAILED": ("failed", "crashed"),
    "KILLED": ("killed",),
}


def _condition(field: str, op: str, value: Any, render: Callable[[Any], str]) -> str:
    if op in ("IN", "NOT IN"):
        inner = ", ".join(render(v) for v in value)
        return f"{field} {'not in' if op == 'NOT IN' else 'in'} ({inner})"
    if op in ("LIKE", "ILIKE"):
        return f"{field} like {_text(value)}"
    return f"{field} {op} {render(value)}"


def _check(clause: Clause, ops: Sequence[str], label: str) -> None:
    if clause.op not in ops:
        raise invalid(
            f"Invalid comparator '{clause.op}' for {label} '{clause.key}': use one of "
            f"{', '.join(ops)}"
        )


def _number(clause: Clause) -> float:
    if isinstance(clause.value, str):
        try:
            return float(clause.value)
        except ValueError:
            pass
    if not isinstance(clause.value, int | float):
        raise invalid(f"Expected a number for '{clause.key}', got {clause.value!r}")
    return float(clause.value)


def _status(clause: Clause) -> str:
    values = clause.value if isinstance(clause.value, tuple) else (clause.value,)
    statuses: list[str] = []
    for value in values:
        found = _RUN_STATUSES.get(str(value).upper())
        if found is None:
            raise invalid(
                f"Invalid status {value!r}: use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"
            )
        statuses.extend(found)
    negated = clause.op in ("!=", "NOT IN")
    if clause.op not in ("=", "!=", "IN", "NOT IN"):
        raise invalid("Invalid comparator for status: use =, !=, IN or NOT IN")
    inner = ", ".join(_text(s) for s in dict.fromkeys(statuses))
    return f"status {'not in' if negated else 'in'} ({inner})"


def _run_attribute(clause: Clause) -> str:
    key = clause.key
    if key in ("run_id", "run_uuid", "id"):
        _check(clause, ("=", "!=", "IN", "NOT IN"), "attribute")
        return _condition("id", clause.op, clause.value, _text)
    if key in ("run_name", "mlflow.runName", "name"):
        _check(clause, _TEXT_OPS, "attribute")
        return _condition("name", clause.op, clause.value, _text)
    if key == "status":
        return _status(clause)
    if key in ("start_time", "created", "Created", "end_time"):
        _check(clause, _NUMBER_OPS, "attribute")
        field = "ended_at" if key == "end_time" else "started_at"
        return f"{field} {clause.op} {_number(clause) / 1000.0!r}"
    if key == "user_id":
        _check(clause, _TEXT_OPS, "attribute")
        return _condition("tags.`mlflow.user`", clause.op, clause.value, _text)
    raise invalid(
        f"Invalid attribute key '{key}' specified: mlops searches runs by run_id, run_name, "
        "status, start_time, end_time and user_id"
    )


def _run_clause(clause: Clause) -> str:
    if clause.kind == "metric":
        _check(clause, _NUMBER_OPS, "metric")
        return f"metrics.{_name(clause.key)} {clause.op} {_number(clause)!r}"
    if clause.kind == "param":
        _check(clause, _TEXT_OPS, "param")
        return _condition(f"params.{_name(clause.key)}", clause.op, clause.value, _text)
    if clause.kind == "tag":
        _check(clause, _TEXT_OPS, "tag")
        if clause.key == "mlflow.runName":
            return _condition("name", clause.op, clause.value, _text)
        return _condition(f"tags.{_name(clause.key)}", clause.op, clause.value, _text)
    if clause.kind == "dataset":
        column = {"name": "dataset", "digest": "dataset.digest"}.get(clause.key)
        if column is None:
            raise invalid(f"Invalid dataset key '{clause.key}': use datasets.name or .digest")
        _check(clause, _TEXT_OPS, "dataset")
        return _condition(column, clause.op, clause.value, _text)
    return _run_attribute(clause)


def run_filter(text: str | None, experiment_ids: Sequence[str] = ()) -> str | None:
    """An MLflow run filter (and the experiments to search) as an mlops query, or None."""
    parts = [_run_clause(clause) for clause in parse_filter(text)]
    if len(experiment_ids) > 1:
        parts.insert(0, f"experiment_id in ({', '.join(_text(e) for e in experiment_ids)})")
    return " and ".join(parts) or None


_RUN_ORDER_ATTRIBUTES = {
    "start_time": "started_at", "created": "started_at", "Created": "started_at",
    "end_time": "ended_at", "run_name": "name", "status": "status", "run_id": "id",
}  # fmt: skip


def _order_terms(specs: Sequence[str], what: str) -> list[tuple[str, str, bool]]:
    terms: list[tuple[str, str, bool]] = []
    for spec in specs:
        reader = _Reader(spec, what)
        kind, key = reader.identifier()
        descending = reader.word("DESC")
        if not descending:
            reader.word("ASC")
        if reader.peek() is not None:
            raise reader.fail("expected one key and ASC or DESC")
        terms.append((kind, key, descending))
    return terms


def run_order(specs: Sequence[str]) -> list[str]:
    """MLflow's ``order_by`` of runs as mlops order terms (then newest first, then by id)."""
    out: list[str] = []
    for kind, key, descending in _order_terms(specs, "order_by"):
        if kind == "metric":
            field = f"metrics.{_name(key)}"
        elif kind == "param":
            field = f"params.{_name(key)}"
        elif kind == "tag":
            field = "name" if key == "mlflow.runName" else f"tags.{_name(key)}"
        elif kind == "attribute" and key in _RUN_ORDER_ATTRIBUTES:
            field = _RUN_ORDER_ATTRIBUTES[key]
        else:
            raise invalid(
                f"Invalid order_by key '{key}': order runs by metrics., params., tags. or "
                "start_time, end_time, run_name, status, run_id"
            )
        out.append(f"{field} {'desc' if descending else 'asc'}")
    return [*out, "started_at desc", "id asc"]


# -- experiments: checked here ------------------------------------------------------------------
def _like(pattern: str, text: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.S | (re.I if ignore_case else 0)) is not None


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None:
        return False
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op in ("LIKE", "ILIKE"):
        return _like(str(right), str(left), op == "ILIKE")
    if op == "IN":
        return left in right
    if op == "NOT IN":
        return left not in right
    try:
        return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]
    except TypeError:
        return False


def experiment_filter(text: str | None) -> Callable[[dict[str, Any]], bool]:
    """A test of an experiment's MLflow JSON for an MLflow experiment filter (``name LIKE
    'x%'``, ``tags.k = 'v'``, ``creation_time > 1700000000000``, ``last_update_time``)."""
    clauses = parse_filter(text)
    for clause in clauses:
        if clause.kind == "tag":
            _check(clause, _TEXT_OPS, "tag")
        elif clause.kind == "attribute" and clause.key == "name":
            _check(clause, _TEXT_OPS, "attribute")
        elif clause.kind == "attribute" and clause.key in ("creation_time", "last_update_time"):
            _check(clause, _NUMBER_OPS, "attribute")
        else:
            raise invalid(
                f"Invalid key '{clause.key}' for an experiment search: use name, tags.<key>, "
                "creation_time or last_update_time"
            )

    def matches(experiment: dict[str, Any]) -> bool:
        tags = {t["key"]: t["value"] for t in experiment["tags"]}
        for clause in clauses:
            left = tags.get(clause.key) if clause.kind == "tag" else experiment[clause.key]
            right = _number(clause) if clause.key.endswith("_time") else clause.value
            if not _compare(clause.op, left, right):
                return False
        return True

    return matches


def experiment_order(specs: Sequence[str]) -> Callable[[list[dict[str, Any]]], None]:
    """Sorts experiments' MLflow JSON by an MLflow order_by (default: newest first, then id)."""
    terms = _order_terms(specs, "order_by")
    for kind, key, _ in terms:
        if kind != "attribute" or key not in (
            "name", "experiment_id", "creation_time", "last_update_time"
        ):  # fmt: skip
            raise invalid(
                f"Invalid order_by key '{key}': order experiments by name, experiment_id, "
                "creation_time or last_update_time"
            )
    if not terms:
        terms = [("attribute", "creation_time", True)]
    terms.append(("attribute", "experiment_id", False))

    def sort(experiments: list[dict[str, Any]]) -> None:
        for _, key, descending in reversed(terms):
            experiments.sort(key=lambda e: e[key], reverse=descending)

    return sort


# -- pages -----------------------------------------------------------------------------------
def page_token(offset: int) -> str:
    """The token of the page that starts at ``offset``."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def page_offset(token: Any) -> int:
    """The offset a page token stands for (0 for none)."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(str(token).encode()))["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise invalid(f"Invalid page token {token!r}: pass the next_page_token of a page") from None
    if type(offset) is not int or offset < 0:
        raise invalid(f"Invalid page token {token!r}: pass the next_page_token of a page")
    return offset

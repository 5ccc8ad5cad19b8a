"""The query language that filters and orders iterations everywhere (library, CLI, REST, web).

``metrics.accuracy > 0.9 and (params.model = "rf" or params.model in ("gb", "xgb"))``

Fields: ``params.NAME``, ``metrics.NAME`` (last value), ``min(metrics.NAME)``, ``max(...)`` (or
``metrics.NAME.min``/``.max``/``.last``), ``status``, ``name``, ``id``, ``experiment_id``,
``project_id``, ``started_at``, ``ended_at``, ``duration`` (seconds), ``dataset`` (name of a
dataset used), ``dataset.version``/``.digest``/``.id``. Quote odd names with backticks or double
quotes: ``params.`learning rate```, ``metrics."val.loss"``. Operators ``= != < <= > >=``,
``in (...)``, ``not in (...)``, ``like "pat%"`` (case-insensitive, ``\\%`` is a literal %), then
``not`` > ``and`` > ``or`` and parentheses. Values: numbers, quoted strings, true, false, null;
dates are ISO strings (UTC unless a zone is given). Keywords are case-insensitive. A filter
holds at most ``MAX_CONDITIONS`` (100) conditions nested ``MAX_DEPTH`` (25) levels deep (SQLite's
parser takes little more), and an order_by ``MAX_ORDER_TERMS`` (10) keys.

Conditions on params, metrics and datasets mean "the iteration has one such that ...":
``params.x != 5`` needs a parameter x that is not 5, while ``not params.x = 5`` also matches
iterations without x. A NaN metric matches no comparison. This module only parses; stores compile
the tree (:mod:`mlops.store.sql.filters`).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeAlias

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from mlops.entities import STATUSES
from mlops.errors import InvalidInput, QuerySyntaxError

__all__ = ["And", "Compare", "Field", "In", "Node", "Not", "Or", "OrderTerm", "Value"]
__all__ += ["parse_filter", "parse_order_by"]

Value: TypeAlias = int | float | str | bool | None


@dataclass(frozen=True, slots=True)
class Field:
    """What a condition looks at. ``kind`` is "param", "metric", "tag", "attr" or "dataset";
    ``name`` is the parameter/metric/tag name, the attribute, or the dataset column
    (name/version/digest/id);
    ``agg`` is "last", "min" or "max" for metrics and None otherwise."""

    kind: str
    name: str
    agg: str | None = None


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op value``; op is one of = != < <= > >= like, "not like"."""

    field: Field
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class In:
    """``field in (values)``, or ``field not in (values)`` when negated."""

    field: Field
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


Node: TypeAlias = And | Or | Not | Compare | In


@dataclass(frozen=True, slots=True)
class OrderTerm:
    """One sort key: a field and its direction."""

    field: Field
    descending: bool = False


DEFAULT_ORDER = (OrderTerm(Field("attr", "started_at"), descending=True),)
MAX_LENGTH = 10_000
MAX_DEPTH = 25
#: Bounds that keep one search cheap to plan: conditions (comparisons, ``in`` lists) of a
#: filter, sort keys of an order_by, names a search selects (``parameter_names``...).
MAX_CONDITIONS = 100
MAX_ORDER_TERMS = 10
MAX_NAMES = 1000
_DATES = ("started_at", "ended_at")
ATTRS = ("status", "name", "id", "experiment_id", "project_id", *_DATES, "duration")
DATASET_COLUMNS = ("name", "version", "digest", "id")
_AGGS = ("last", "min", "max")
_VALUES = ("true", "false", "null")

_GRAMMAR = r"""
filter: or_expr
order: order_term (_COMMA order_term)*
order_term: [MINUS] field [DIRECTION]
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: negation | atom
negation: _NOT not_expr
?atom: comparison | _LPAR or_expr _RPAR
comparison: field OP value                        -> compare
          | field _IN _LPAR values _RPAR          -> in_list
          | field _NOT _IN _LPAR values _RPAR     -> not_in_list
          | field _LIKE STRING                    -> like
          | field _NOT _LIKE STRING               -> not_like
values: value (_COMMA value)*
?value: NUMBER | STRING | TRUE | FALSE | NULL
field: path | NAME _LPAR path _RPAR
path: NAME (_DOT part)*
?part: NAME | STRING | BACKTICKED
OP: /==|!=|<>|<=|>=|=|<|>/
NUMBER: /[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/
STRING: /"(?:[^"\\]|\\.)*"/s | /'(?:[^'\\]|\\.)*'/s
BACKTICKED: /`(?:[^`\\]|\\.)*`/s
NAME: /[^\W\d]\w*/
DIRECTION.2: /(?:asc|desc)\b/i
MINUS: "-"
_LPAR: "("
_RPAR: ")"
_COMMA: ","
_DOT: "."
%ignore /\s+/
"""
_KEYWORDS = ("and", "or", "not", "in", "like", "true", "false", "null")
_GRAMMAR += "".join(f"{'_' * (k not in _VALUES)}{k.upper()}.2: /{k}\\b/i\n" for k in _KEYWORDS)

_FIELD_HINT = "a field such as params.lr, metrics.accuracy, min(metrics.loss), tags.team, status"
_FIELD_WORD = "a field (params.lr, metrics.accuracy, min(metrics.loss), status, name...)"
_VALUE_HINT = 'a value (a number, a "quoted string", true, false or null)'
_OP_HINT = "an operator (=, !=, <, <=, >, >=, in, not in, like)"
_WORDS = {"NAME": _FIELD_WORD, "_NOT": "'not'", "_LPAR": "'('", "MINUS": "'-'"}
_WORDS |= dict.fromkeys(("OP", "_IN", "_LIKE"), _OP_HINT)
_WORDS |= dict.fromkeys(("NUMBER", "STRING", "TRUE", "FALSE", "NULL"), _VALUE_HINT)
_WORDS |= {"_AND": "'and'", "_OR": "'or'", "_COMMA": "','", "_RPAR": "')'", "DIRECTION": "asc/desc"}
_WORDS |= {"$END": "the end of the query"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "`": "`"}


@cache
def _parser() -> Lark:
    # The basic lexer reserves the keywords everywhere (quote a field named `in`), which keeps
    # the error messages honest: "and" at the start is an unexpected keyword, not a field.
    options = {"parser": "lalr", "lexer": "basic", "propagate_positions": True}
    return Lark(_GRAMMAR, start=["filter", "order"], **options)


def parse_filter(text: str) -> Node | None:
    """The tree of a filter such as ``metrics.accuracy > 0.9 and params.model = "rf"``.

    An empty or blank filter means "every iteration" and gives None. Raises
    ``QuerySyntaxError`` (pointing at the offending token) when the text does not parse and
    ``InvalidInput`` for a value that does not fit its field (an unknown status, a bad date...)
    or for more than ``MAX_CONDITIONS`` conditions.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"A filter must be a string, not {type(text).__name__}.")
    if not text.strip():
        return None
    ctx = _Context(text, "filter")
    node = ctx.node(ctx.parse().children[0], 0)
    if (count := _conditions(node)) > MAX_CONDITIONS:
        raise InvalidInput(
            f"The filter has {count} conditions; at most {MAX_CONDITIONS}. Put the values of one "
            'field in one list (params.model in ("rf", "gb")) or narrow the search first.'
        )
    return node


def parse_order_by(spec: str | Sequence[str] | None) -> list[OrderTerm]:
    """The sort keys of an order_by such as ``"metrics.accuracy desc, params.lr"``.

    Accepts one string of comma-separated terms or a list of them; each term is a field with an
    optional ``asc``/``desc`` or a leading ``-`` (descending). None or empty gives the default,
    newest first (``started_at desc``). Ordering by a dataset, or by more than
    ``MAX_ORDER_TERMS`` keys, is ``InvalidInput``.
    """
    if spec is not None and not isinstance(spec, Sequence):
        raise InvalidInput(f"An order_by is a string or a list of them, not {type(spec).__name__}.")
    specs = [spec] if spec is None or isinstance(spec, str) else list(spec)
    specs = [s for s in specs if s is not None and not (isinstance(s, str) and not s.strip())]
    _check_order_size(len(specs))
    terms: list[OrderTerm] = []
    for item in specs:
        if not isinstance(item, str):
            raise InvalidInput(f"An order_by term must be a string, not {type(item).__name__}.")
        ctx = _Context(item, "order_by")
        for term in ctx.parse().children:
            minus, field_tree, direction = term.children
            field = ctx.field(field_tree)
            if field.kind == "dataset":
                hint = "Order by params, metrics or attributes such as started_at."
                raise ctx.error(field_tree.meta, "cannot order by a dataset", hint, InvalidInput)
            if minus is not None and direction is not None:
                raise ctx.error(minus, "use either a leading '-' or asc/desc, not both", "")
            desc = minus is not None or (direction is not None and direction.lower() == "desc")
            terms.append(OrderTerm(field, desc))
    _check_order_size(len(terms))
    return terms or list(DEFAULT_ORDER)


def _conditions(node: Node) -> int:
    if isinstance(node, And | Or):
        return sum(_conditions(item) for item in node.items)
    return _conditions(node.item) if isinstance(node, Not) else 1


def _check_order_size(count: int) -> None:
    if count > MAX_ORDER_TERMS:
        raise InvalidInput(
            f"The order_by has {count} sort keys; at most {MAX_ORDER_TERMS}: keep the first few "
            "(a later key only breaks ties of the earlier ones)."
        )


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), token[1:-1], flags=re.S)


class _Context:
    """One text being parsed: turns the lark tree into nodes and errors into clear messages."""

    def __init__(self, text: str, what: str) -> None:
        if len(text) > MAX_LENGTH:
            raise InvalidInput(f"The {what} is {len(text)} characters long; at most {MAX_LENGTH}.")
        self.text, self.what = text, what

    def parse(self) -> Any:
        start = "filter" if self.what == "filter" else "order"
        try:
            return _parser().parse(self.text, start=start)
        except UnexpectedInput as exc:
            raise self._syntax_error(exc) from None

    def _syntax_error(self, exc: UnexpectedInput) -> QuerySyntaxError:
        hint = ""
        if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
            tok = exc.token
            where = (tok.line or 1, tok.column or 1, len(tok) or 1)
            problem = f"unexpected {str(tok)!r}"
        elif isinstance(exc, UnexpectedCharacters):
            char = self.text[exc.pos_in_stream or 0]
            where = (exc.line, exc.column, 1)
            problem = f"unexpected character {char!r}"
            if char in "\"'`":
                problem = f"the text quoted with {char} here is never closed"
                hint = "Close it with the same quote (write \\" + char + " for one inside it)."
        else:
            where = (*self._line_col(len(self.text.rstrip())), 1)
            problem = "the query ends too early"
        expected = self._expected(exc)
        words = list(dict.fromkeys(word for name, word in _WORDS.items() if name in expected))
        if _OP_HINT in words and "'not'" in words:
            words.remove("'not'")  # the operator list already says "not in"
        if "BACKTICKED" in expected:
            words = ['a name such as lr, `learning rate` or "val.loss" (quote keywords: `in`)']
        elif expected == {"STRING"}:
            words = ['a quoted pattern such as "rf%"']
        if not hint and words:
            hint = f"Expected {'one of: ' * (len(words) > 1)}{'; '.join(words)}."
        return QuerySyntaxError(self._message(*where, problem, hint))

    def _expected(self, exc: UnexpectedInput) -> set[str]:
        """The terminals the parser could really take at the error (LALR tables over-report)."""
        try:
            if isinstance(exc, UnexpectedToken) and exc.interactive_parser is not None:
                return set(exc.interactive_parser.accepts())
            start = "filter" if self.what == "filter" else "order"
            interactive = _parser().parse_interactive(self.text[: exc.pos_in_stream], start)
            interactive.exhaust_lexer()
            return set(interactive.accepts())
        except Exception:  # the hint is a courtesy: fall back to what lark reported
            return set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())

    def _line_col(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1

    def _message(self, line: int, column: int, length: int, problem: str, hint: str) -> str:
        lines = self.text.split("\n")
        src = lines[min(line, len(lines)) - 1].replace("\t", " ")
        place = f"column {column}" if len(lines) == 1 else f"line {line}, column {column}"
        caret = " " * (column - 1) + "^" * max(1, min(length, len(src) - column + 1))
        head = f"Invalid {self.what} {self.text!r}: {problem} at {place}."
        return f"{head}\n    {src}\n    {caret}" + (f"\n{hint}" if hint else "")

    def error(self, at: object, problem: str, hint: str, cls: type = QuerySyntaxError) -> Exception:
        """An error pointing at a token or a tree's meta (start_pos/end_pos)."""
        start, end = getattr(at, "start_pos", 0) or 0, getattr(at, "end_pos", 0) or 0
        return cls(self._message(*self._line_col(start), max(1, end - start), problem, hint))

    def node(self, tree: Any, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.error(tree.meta, f"nested more than {MAX_DEPTH} levels deep", "")
        kind, kids = tree.data, tree.children
        if kind in ("or_expr", "and_expr"):
            flat: list[Node] = []
            cls = Or if kind == "or_expr" else And
            for kid in kids:
                item = self.node(kid, depth + 1)
                flat.extend(item.items if isinstance(item, cls) else (item,))
            return cls(tuple(flat))
        if kind == "negation":
            return Not(self.node(kids[0], depth + 1))
        field = self.field(kids[0])
        if kind in ("in_list", "not_in_list"):
            values = tuple(self.value(field, "=", tok) for tok in kids[1].children)
            return In(field, values, negated=kind == "not_in_list")
        if kind == "compare":
            op = {"==": "=", "<>": "!="}.get(str(kids[1]), str(kids[1]))
            return Compare(field, op, self.value(field, op, kids[2]))
        op = "like" if kind == "like" else "not like"
        return Compare(field, op, self.value(field, op, kids[1]))

    def field(self, tree: Any) -> Field:
        *func, path = tree.children
        head, rest = str(path.children[0]), path.children[1:]
        parts = [(_unquote(t) if t.type != "NAME" else str(t), t.type != "NAME") for t in rest]
        kind, agg, suffix, found = head.lower(), "last", False, None
        is_metric = kind in ("metrics", "metric")  # a quoted last part is a name, not an agg:
        if is_metric and len(parts) > 1 and not parts[-1][1] and parts[-1][0].lower() in _AGGS:
            agg, suffix = parts.pop()[0].lower(), True
        name = ".".join(p for p, _ in parts)
        if parts and not all(p for p, _ in parts):
            raise self.error(tree.meta, "a name cannot be empty", _FIELD_HINT)
        if kind in ("params", "param") and parts:
            found = Field("param", name)
        elif is_metric and parts:
            found = Field("metric", name, agg)
        elif kind in ("tags", "tag") and parts:
            found = Field("tag", name)
        elif kind == "dataset" and len(parts) <= 1 and (name or "name").lower() in DATASET_COLUMNS:
            found = Field("dataset", (name or "name").lower())
        elif kind in ATTRS and not parts:
            found = Field("attr", kind)
        if found is None:
            source = self.text[tree.meta.start_pos : tree.meta.end_pos]
            raise self.error(tree.meta, f"unknown field {source!r}", f"Expected {_FIELD_HINT}.")
        if func:
            fn = func[0].lower()
            if found.kind != "metric" or fn not in _AGGS or suffix:
                raise self.error(func[0], f"{func[0]}() is not a field", f"Expected {_FIELD_HINT}.")
            found = Field("metric", found.name, fn)
        return found

    def value(self, field: Field, op: str, tok: Token) -> Value:
        """The token's value, checked against the field (and dates turned into epoch seconds)."""
        value: Value
        if tok.type == "NUMBER":
            is_int = re.fullmatch(r"[+-]?[0-9]{1,18}", tok)
            value = int(tok) if is_int else float(tok)
        elif tok.type == "STRING":
            value = _unquote(tok)
        else:
            value = {"TRUE": True, "FALSE": False, "NULL": None}[tok.type]
        plural = ("param", "metric", "tag")
        label = f"{field.kind}s.{field.name}" if field.kind in plural else field.name
        label = f"dataset.{field.name}" if field.kind == "dataset" else label

        def bad(problem: str, hint: str = "") -> Exception:
            return self.error(tok, problem, hint, InvalidInput)

        is_num = isinstance(value, int | float) and not isinstance(value, bool)
        if op not in ("=", "!=") and not (is_num or isinstance(value, str)):
            raise bad(f"{tok} can only be compared with =, != or in", "")
        if op.endswith("like") and (field.kind == "metric" or field.name in (*_DATES, "status")):
            raise bad(f"like only works on text, not on {label}", "Use =, !=, <, > or in.")
        if field.kind == "metric" and not is_num:
            raise bad(f"{label} is a number: compare it to a number, not {tok}")
        if field.kind in ("metric", "param"):
            return value
        if field.kind == "tag":
            if not isinstance(value, str):
                raise bad(f'{label} is text: put the value in "quotes", not {tok}')
            return value
        if field.name == "status" and field.kind == "attr":
            if op not in ("=", "!="):
                raise bad(f"status can only be compared with =, != or in, not {op}")
            if value not in STATUSES:
                raise bad(f"{tok} is not a status", f"Statuses: {', '.join(STATUSES)}.")
            return value
        if field.name in _DATES and isinstance(value, str):
            try:
                moment = _dt.datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=_dt.UTC)
                return moment.timestamp()
            except (ValueError, OverflowError):
                hint = 'Use an ISO date such as "2026-01-01" or "2026-01-01T12:30:00Z".'
                raise bad(f"{tok} is not a date for {label}", hint) from None
        numeric = field.name in (*_DATES, "duration") and field.kind == "attr"
        if value is None and (numeric or field.name == "digest"):
            return value
        if (numeric and not is_num) or (not numeric and not isinstance(value, str)):
            need = "a number of seconds" if numeric else 'text: put the value in "quotes"'
            raise bad(f"{label} needs {need}, not {tok}")
        return value

"""A small Qlik expression language: parser, SQL translation, vector evaluation.

Supported: numeric and string literals; field references, bare or quoted as
``[name]``, ``"name"`` or ```name```; ``+ - * / &``, comparisons
(``= <> < <= > >=``), ``and``/``or``/``not``, parentheses and unary minus;
the aggregations Sum, Count, Avg, Min, Max, Only, Median and Stdev, each with
an optional ``DISTINCT`` or ``TOTAL``; and the scalar functions If, Round,
Floor, Ceil, Fabs, Sqrt, Exp, Log, Log10, Num, Text, Alt and Null. Names of
functions and keywords are case-insensitive. A leading ``=`` is optional.

Aggregations are computed elsewhere (in DuckDB, grouped by dimension
values); this module evaluates the arithmetic around them on numpy columns.
NULL is NaN with no text, as in the engine. Logical results are -1 (true)
and 0 (false), as in Qlik.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rxqix.engine.formatting import format_auto, format_number

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]

AGGREGATIONS = frozenset(
    {"sum", "count", "avg", "min", "max", "only", "median", "stdev"}
)
_SCALAR_ARITY = {
    "if": (2, 3),
    "round": (1, 3),
    "floor": (1, 2),
    "ceil": (1, 2),
    "fabs": (1, 1),
    "sqrt": (1, 1),
    "exp": (1, 1),
    "log": (1, 1),
    "log10": (1, 1),
    "num": (1, 4),
    "text": (1, 1),
    "alt": (1, 32),
    "null": (0, 0),
}


class ExpressionError(ValueError):
    """The expression is not valid, or uses something the engine lacks."""


@dataclass(frozen=True)
class Num:
    """A numeric literal."""

    value: float


@dataclass(frozen=True)
class Str:
    """A string literal."""

    value: str


@dataclass(frozen=True)
class FieldRef:
    """A reference to a field by name."""

    name: str


@dataclass(frozen=True)
class Agg:
    """An aggregation such as ``Count(DISTINCT carrier)``."""

    func: str
    arg: Node
    distinct: bool = False
    total: bool = False


@dataclass(frozen=True)
class Call:
    """A scalar function call such as ``Round(x, 0.1)``."""

    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    """A unary operator: ``-`` or ``not``."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    """A binary operator."""

    op: str
    left: Node
    right: Node


Node = Num | Str | FieldRef | Agg | Call | Unary | Binary

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<bracket>\[(?:[^\]]|\]\])*\])
  | (?P<dquote>"[^"]*")
  | (?P<bquote>`[^`]*`)
  | (?P<name>[A-Za-z_$#%@\u00c0-\uffff][\w$#%@.\u00c0-\uffff]*)
  | (?P<op><>|<=|>=|[-+*/&(),=<>])
  | (?P<set>[{}])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[_Token]:
    """Split expression text into tokens, dropping whitespace."""
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {text[pos]!r} at {pos}")
        kind = match.lastgroup or ""
        if kind == "set":
            raise ExpressionError("set analysis is not supported")
        if kind != "space":
            tokens.append(_Token(kind, match.group(0), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive-descent parser; one method per precedence level."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self._at = 0

    def parse(self) -> Node:
        node = self._or()
        if self._peek().kind != "end":
            token = self._peek()
            raise ExpressionError(f"unexpected {token.text!r} at {token.pos}")
        return node

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _next(self) -> _Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _accept_op(self, *ops: str) -> str | None:
        token = self._peek()
        if token.kind == "op" and token.text in ops:
            self._at += 1
            return token.text
        return None

    def _accept_word(self, *words: str) -> str | None:
        token = self._peek()
        if token.kind == "name" and token.text.lower() in words:
            self._at += 1
            return token.text.lower()
        return None

    def _expect_op(self, op: str) -> None:
        if self._accept_op(op) is None:
            token = self._peek()
            found = token.text or "end of expression"
            raise ExpressionError(f"expected {op!r} at {token.pos}, found {found!r}")

    def _or(self) -> Node:
        node = self._and()
        while self._accept_word("or"):
            node = Binary("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._accept_word("and"):
            node = Binary("and", node, self._not())
        return node

    def _not(self) -> Node:
        if self._accept_word("not"):
            return Unary("not", self._not())
        return self._comparison()

    def _comparison(self) -> Node:
        node = self._concat()
        while op := self._accept_op("=", "<>", "<", "<=", ">", ">="):
            node = Binary(op, node, self._concat())
        return node

    def _concat(self) -> Node:
        node = self._additive()
        while self._accept_op("&"):
            node = Binary("&", node, self._additive())
        return node

    def _additive(self) -> Node:
        node = self._term()
        while op := self._accept_op("+", "-"):
            node = Binary(op, node, self._term())
        return node

    def _term(self) -> Node:
        node = self._unary()
        while op := self._accept_op("*", "/"):
            node = Binary(op, node, self._unary())
        return node

    def _unary(self) -> Node:
        if self._accept_op("-"):
            operand = self._unary()
            if isinstance(operand, Num):
                return Num(-operand.value)
            return Unary("-", operand)
        if self._accept_op("+"):
            return self._unary()
        return self._primary()

    def _primary(self) -> Node:
        token = self._next()
        if token.kind == "number":
            return Num(float(token.text))
        if token.kind == "string":
            return Str(token.text[1:-1].replace("''", "'"))
        if token.kind == "bracket":
            return FieldRef(token.text[1:-1].replace("]]", "]"))
        if token.kind in ("dquote", "bquote"):
            return FieldRef(token.text[1:-1])
        if token.kind == "name":
            if self._accept_op("("):
                return self._call(token)
            return FieldRef(token.text)
        if token.kind == "op" and token.text == "(":
            node = self._or()
            self._expect_op(")")
            return node
        found = token.text or "end of expression"
        raise ExpressionError(f"unexpected {found!r} at {token.pos}")

    def _call(self, name: _Token) -> Node:
        func = name.text.lower()
        if func in AGGREGATIONS:
            return self._aggregation(func)
        if func not in _SCALAR_ARITY:
            raise ExpressionError(f"unknown function {name.text!r}")
        args: list[Node] = []
        if self._accept_op(")") is None:
            args.append(self._or())
            while self._accept_op(","):
                args.append(self._or())
            self._expect_op(")")
        low, high = _SCALAR_ARITY[func]
        if not low <= len(args) <= high:
            raise ExpressionError(f"wrong number of arguments to {name.text}")
        return Call(func, tuple(args))

    def _aggregation(self, func: str) -> Node:
        distinct = total = False
        while word := self._accept_word("distinct", "total", "all", "nodistinct"):
            distinct = distinct or word == "distinct"
            total = total or word == "total"
        if total and self._peek().text == "<":
            raise ExpressionError("TOTAL with a field list is not supported")
        arg = self._or()
        if self._accept_op(","):
            raise ExpressionError(f"extra arguments to {func} are not supported")
        self._expect_op(")")
        if any(isinstance(node, Agg) for node in walk(arg)):
            raise ExpressionError(
                "nested aggregations need Aggr, which is not supported"
            )
        return Agg(func, arg, distinct, total)


def parse(text: str) -> Node:
    """Parse an expression, with or without a leading ``=``.

    Args:
        text: The expression, e.g. ``"=Sum(dep_delay) / Count(flight)"``.

    Returns:
        The syntax tree. Field references outside aggregations are kept as
        they are; see :func:`lift_fields`.

    Raises:
        ExpressionError: The text is empty or not a valid expression.
    """
    body = text.strip()
    if body.startswith("="):
        body = body[1:]
    if not body.strip():
        raise ExpressionError("empty expression")
    return _Parser(body).parse()


def walk(node: Node) -> Iterator[Node]:
    """Yield ``node`` and every node below it, depth first."""
    yield node
    if isinstance(node, Agg):
        yield from walk(node.arg)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from walk(arg)
    elif isinstance(node, Unary):
        yield from walk(node.operand)
    elif isinstance(node, Binary):
        yield from walk(node.left)
        yield from walk(node.right)


def lift_fields(node: Node) -> Node:
    """Wrap field references outside aggregations in ``Only()``.

    A chart expression that names a field without aggregating it means the
    field's only value for the row, which is NULL when there are several.
    """
    if isinstance(node, FieldRef):
        return Agg("only", node)
    if isinstance(node, Call):
        return Call(node.func, tuple(lift_fields(arg) for arg in node.args))
    if isinstance(node, Unary):
        return Unary(node.op, lift_fields(node.operand))
    if isinstance(node, Binary):
        return Binary(node.op, lift_fields(node.left), lift_fields(node.right))
    return node


def aggregations(node: Node) -> list[Agg]:
    """Return the distinct aggregations in ``node``, in order of appearance."""
    found: dict[Agg, None] = {}
    for sub in walk(node):
        if isinstance(sub, Agg):
            found.setdefault(sub, None)
    return list(found)


def field_names(node: Node) -> list[str]:
    """Return the distinct field names referenced in ``node``."""
    found: dict[str, None] = {}
    for sub in walk(node):
        if isinstance(sub, FieldRef):
            found.setdefault(sub.name, None)
    return list(found)


def to_sql(node: Node, column: Callable[[str], str]) -> str:
    """Translate a row-level expression (an aggregation's argument) to SQL.

    Args:
        node: Arithmetic over fields and literals.
        column: Maps a field name to the SQL of its numeric value.

    Returns:
        A DuckDB expression; division by zero gives NULL.

    Raises:
        ExpressionError: The node uses something that has no SQL form here.
    """
    if isinstance(node, Num):
        return repr(node.value) if math.isfinite(node.value) else "NULL"
    if isinstance(node, FieldRef):
        return column(node.name)
    if isinstance(node, Unary) and node.op == "-":
        return f"(-{to_sql(node.operand, column)})"
    if isinstance(node, Binary) and node.op in ("+", "-", "*", "/"):
        left, right = to_sql(node.left, column), to_sql(node.right, column)
        if node.op == "/":
            return f"({left} / NULLIF({right}, 0))"
        return f"({left} {node.op} {right})"
    raise ExpressionError("only arithmetic on fields is supported inside aggregations")


@dataclass
class Column:
    """A column of duals: numbers (NaN for none) and, optionally, texts.

    ``texts`` is None when every text is the formatted number; otherwise each
    entry is a string or None (None: format the number, or NULL if NaN).
    """

    nums: np.ndarray
    texts: np.ndarray | None = None

    @classmethod
    def constant(cls, num: float, text: str | None, size: int) -> Column:
        """Broadcast one dual to ``size`` rows."""
        nums = np.full(size, num, dtype=np.float64)
        if text is None:
            return cls(nums)
        return cls(nums, np.full(size, text, dtype=object))

    def take(self, rows: Any) -> Column:
        """Return the rows at ``rows`` (indexes, a mask or a slice)."""
        texts = None if self.texts is None else self.texts[rows]
        return Column(self.nums[rows], texts)

    def is_null(self) -> np.ndarray:
        """Return a boolean array, True where the value is NULL."""
        null: BoolArray = np.isnan(self.nums)
        if self.texts is not None:
            null &= np.fromiter((t is None for t in self.texts), bool, len(self.texts))
        return null

    def text_at(self, row: int, num_format: Mapping[str, object] | None) -> str:
        """Return the display text of one row (``"-"`` for NULL)."""
        if self.texts is not None and self.texts[row] is not None:
            return str(self.texts[row])
        return format_number(float(self.nums[row]), num_format)

    def strings(self) -> np.ndarray:
        """Return each row's text as used by ``&`` (NULL gives "")."""
        out = np.empty(len(self.nums), dtype=object)
        for row, num in enumerate(self.nums):
            text = None if self.texts is None else self.texts[row]
            if text is None:
                text = "" if math.isnan(num) else format_auto(float(num))
            out[row] = text
        return out


def evaluate(node: Node, values: Mapping[Agg, Column], size: int) -> Column:
    """Evaluate ``node`` on columns, given the value of each aggregation.

    Args:
        node: The expression (after :func:`lift_fields`).
        values: The computed column of every aggregation in ``node``.
        size: The number of rows.

    Returns:
        The result column.

    Raises:
        ExpressionError: A field reference remains outside an aggregation.
    """
    if isinstance(node, Num):
        return Column.constant(node.value, None, size)
    if isinstance(node, Str):
        return Column.constant(_text_number(node.value), node.value, size)
    if isinstance(node, Agg):
        return values[node]
    if isinstance(node, Unary):
        operand = evaluate(node.operand, values, size)
        if node.op == "-":
            return Column(-operand.nums)
        return Column(_truth(~_is_true(operand)))
    if isinstance(node, Binary):
        return _binary(node, values, size)
    if isinstance(node, Call):
        return _call(node, values, size)
    raise ExpressionError(f"field {node.name!r} must be inside an aggregation")


def _text_number(text: str) -> float:
    """Read a string literal as a number when it looks like one."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _truth(flags: np.ndarray) -> np.ndarray:
    """Map booleans to Qlik's -1 (true) and 0 (false)."""
    return np.where(flags, -1.0, 0.0)


def _is_true(column: Column) -> np.ndarray:
    """A value is true when it is a non-zero number."""
    nums = column.nums
    true: BoolArray = ~np.isnan(nums) & (nums != 0)
    return true


def _binary(node: Binary, values: Mapping[Agg, Column], size: int) -> Column:
    left = evaluate(node.left, values, size)
    right = evaluate(node.right, values, size)
    if node.op == "&":
        texts = np.array(
            [a + b for a, b in zip(left.strings(), right.strings(), strict=True)],
            dtype=object,
        )
        return Column(
            np.array([_text_number(t) for t in texts], dtype=np.float64), texts
        )
    if node.op in ("and", "or"):
        both = np.logical_and if node.op == "and" else np.logical_or
        return Column(_truth(both(_is_true(left), _is_true(right))))
    if node.op in _COMPARISONS:
        return Column(_compare(node.op, left, right))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result = _ARITHMETIC[node.op](left.nums, right.nums)
    result[~np.isfinite(result)] = np.nan
    return Column(result)


_ARITHMETIC: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
}
_COMPARISONS: dict[str, Callable[[object, object], object]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
}


def _compare(op: str, left: Column, right: Column) -> np.ndarray:
    """Compare numerically where both sides are numbers, else as text."""
    compare = _COMPARISONS[op]
    numeric = ~np.isnan(left.nums) & ~np.isnan(right.nums)
    with np.errstate(invalid="ignore"):
        result = np.asarray(compare(left.nums, right.nums), dtype=bool) & numeric
    if not numeric.all():
        texts_left, texts_right = left.strings(), right.strings()
        for row in np.flatnonzero(~numeric):
            a, b = texts_left[row], texts_right[row]
            result[row] = bool(a and b and compare(a, b))
    return _truth(result)


def _call(node: Call, values: Mapping[Agg, Column], size: int) -> Column:
    args = [evaluate(arg, values, size) for arg in node.args]
    func = node.func
    if func == "null":
        return Column.constant(math.nan, None, size)
    if func == "if":
        return _if(args, size)
    if func == "num":
        return _num(node, args)
    if func == "text":
        return Column(np.full(size, math.nan), args[0].strings())
    if func == "alt":
        return _alt(args)
    steps = [arg.nums for arg in args[1:]]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result = _MATH[func](args[0].nums, *steps)
    result = np.asarray(result, dtype=np.float64)
    result[~np.isfinite(result)] = np.nan
    return Column(result)


def _round(
    x: np.ndarray, step: np.ndarray | None = None, offset: np.ndarray | None = None
) -> np.ndarray:
    """Qlik's Round: half up, to a multiple of ``step`` plus ``offset``."""
    step_ = 1.0 if step is None else step
    offset_ = 0.0 if offset is None else offset
    result: np.ndarray = np.floor((x - offset_) / step_ + 0.5) * step_ + offset_
    return result


def _floor(x: np.ndarray, step: np.ndarray | None = None) -> np.ndarray:
    step_ = 1.0 if step is None else step
    result: np.ndarray = np.floor(x / step_) * step_
    return result


def _ceil(x: np.ndarray, step: np.ndarray | None = None) -> np.ndarray:
    step_ = 1.0 if step is None else step
    result: np.ndarray = np.ceil(x / step_) * step_
    return result


_MATH: dict[str, Callable[..., np.ndarray]] = {
    "round": _round,
    "floor": _floor,
    "ceil": _ceil,
    "fabs": np.abs,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "log10": np.log10,
}


def _if(args: list[Column], size: int) -> Column:
    cond = _is_true(args[0])
    then = args[1]
    other = args[2] if len(args) > 2 else Column.constant(math.nan, None, size)
    nums = np.where(cond, then.nums, other.nums)
    if then.texts is None and other.texts is None:
        return Column(nums)
    then_texts = then.texts if then.texts is not None else np.full(size, None)
    other_texts = other.texts if other.texts is not None else np.full(size, None)
    return Column(nums, np.where(cond, then_texts, other_texts))


def _num(node: Call, args: list[Column]) -> Column:
    """Num(x, format, dec, thou): keep the number, format its text."""
    value = args[0]
    if len(args) == 1:
        return Column(value.nums.copy())
    patterns = node.args[1:]
    if not all(isinstance(p, Str) for p in patterns):
        raise ExpressionError("Num() formats must be string literals")
    texts_ = [p.value for p in patterns if isinstance(p, Str)]
    num_format = {
        "qType": "F",
        "qFmt": texts_[0],
        "qDec": texts_[1] if len(texts_) > 1 else ".",
        "qThou": texts_[2] if len(texts_) > 2 else ",",
    }
    texts = np.array(
        [
            None if math.isnan(n) else format_number(float(n), num_format)
            for n in value.nums
        ],
        dtype=object,
    )
    return Column(value.nums.copy(), texts)


def _alt(args: list[Column]) -> Column:
    """Alt(a, b, ...): the first argument that is a number."""
    nums = args[-1].nums.copy()
    for arg in reversed(args[:-1]):
        nums = np.where(np.isnan(arg.nums), nums, arg.nums)
    return Column(nums)

"""Selection state and computed layouts of one doc, with QIX semantics.

Theory of operation
-------------------
An :class:`~rxqix.engine.apps.AppData` holds the tables, in DuckDB and as
int32 arrays of element numbers. A :class:`DocState` holds what one engine
session selected in each selection state (``"$"`` by default) and computes
layouts from it:

1. **Association.** Each selection becomes a row mask on every table that
   holds the field. Masks then spread through key fields: a key value stays
   possible only if it occurs in the possible rows of every constrained table
   holding it. This repeats until nothing changes. Masks are numpy lookups
   (``allowed[codes]``), well under a millisecond on 336k rows.
2. **States.** A value is S (selected), O (possible), A (alternative: would
   be possible without its own field's selection), X (excluded) or XS
   (selected but excluded); locked selections show L/XL.
3. **Hypercubes.** The dimension values of the possible rows, grouped, with
   each measure's aggregations run in DuckDB on the possible rows (the masks
   go in as registered frames joined with ``POSITIONAL JOIN``). The
   arithmetic around aggregations runs on numpy columns. Each column's sort
   keys fold into one integer rank per row (per element number for a
   dimension), the ranks into one int64 key where they fit; a first page
   takes its rows with a partition, and the full order waits for a page
   beyond them. Cells are built only for the requested pages, column by
   column.

Everything computed is cached under the state's version, so a repeated
GetLayout with unchanged selections costs a dictionary lookup plus the
cells of its pages.

Choices where the engine's behaviour is not pinned down
-------------------------------------------------------
- A dimension on a field that does not exist gives ``qError`` 7000 on its
  dimension info and an empty cube. A measure that does not parse, or mixes
  fields of different tables inside one aggregation, gives NULL cells and
  ``qError`` 7000 (with ``qExtendedMessage``) on its measure info.
  :meth:`DocState.evaluate` raises EngineError 7000 instead.
- Sum and Count of a field that does not exist are 0; other aggregations,
  and a bare unknown field, are NULL.
- A page over 10,000 cells (qWidth x qHeight as requested) raises 7009 from
  GetHyperCubeData/GetListObjectData; in a layout's initial fetch it gives
  ``qError`` 7009 and no pages.
- With no sort criteria, rows and list values follow load order.

Known limitations
-----------------
- Straight hypercubes only: pivot and stacked modes give ``qError`` 7000.
- No set analysis, Aggr, ``TOTAL <fields>``, calculated dimensions (other
  than ``=field``), list-object qExpressions, AND/NOT selection modes, or
  qSortByGreyness.
- Two tables sharing several fields are linked field by field, not through
  a synthetic key; a loop in the data model is cut where propagation meets
  it.
"""

from __future__ import annotations

import copy
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from rxqix.engine import expressions as ex
from rxqix.engine.apps import (
    AppData,
    FieldInfo,
    TableSource,
    nycflights13_app,
)
from rxqix.engine.errors import (
    CALC_EVAL_CONDITION_FAILED,
    CALC_INVALID_DEF,
    CALC_PAGES_TOO_LARGE,
    GENERIC_INVALID_PARAMETERS,
    EngineError,
)
from rxqix.engine.expressions import BoolArray, CodeArray, Column, FloatArray, IntArray
from rxqix.engine.formatting import (
    INTEGER_FORMAT,
    NAN_TEXT,
    NULL_TEXT,
    REAL_FORMAT,
    UNKNOWN_FORMAT,
    format_auto,
    format_number,
    format_numbers,
    is_auto_format,
    wire_num,
    wire_nums,
)

__all__ = [
    "DEFAULT_STATE",
    "MAX_PAGE_CELLS",
    "AppData",
    "DocState",
    "FieldInfo",
    "TableSource",
    "nycflights13_app",
]

StateArray = npt.NDArray[np.uint8]

DEFAULT_STATE = "$"
MAX_PAGE_CELLS = 10_000
SELECTION_THRESHOLD = 6
_HISTORY_LIMIT = 100
_COMPUTED_CACHE_SIZE = 64
_SPEC_CACHE_SIZE = 256
_GLYPH_SAMPLE = 200

# State codes; their order is the order of the qStateCounts keys.
(
    LOCKED,
    SELECTED,
    OPTION,
    DESELECTED,
    ALTERNATIVE,
    EXCLUDED,
    SEL_EXCLUDED,
    LOCK_EXCLUDED,
) = range(8)
STATE_CODES = ("L", "S", "O", "D", "A", "X", "XS", "XL")
_COUNT_KEYS = (
    "qLocked",
    "qSelected",
    "qOption",
    "qDeselected",
    "qAlternative",
    "qExcluded",
    "qSelectedExcluded",
    "qLockedExcluded",
)
# Sort by state: selected first, then possible, alternative, excluded.
_STATE_RANK = np.array([0, 0, 1, 2, 2, 3, 0, 0], dtype=np.int64)

# Keys of a definition that its computed counterpart does not repeat.
_HYPERCUBE_DEF_ONLY = frozenset(
    {
        "qStateName",
        "qDimensions",
        "qMeasures",
        "qInterColumnSortOrder",
        "qSuppressZero",
        "qSuppressMissing",
        "qInitialDataFetch",
        "qReductionMode",
        "qMode",
        "qPseudoDimPos",
        "qNoOfLeftDims",
        "qAlwaysFullyExpanded",
        "qMaxStackedCells",
        "qPopulateMissing",
        "qShowTotalsAbove",
        "qIndentMode",
        "qCalcCond",
        "qCalcCondition",
        "qSortbyYValue",
        "qTitle",
        "qColumnOrder",
        "qExpansionState",
        "qDynamicScript",
        "qContextSetExpression",
    }
)
_LIST_DEF_ONLY = frozenset(
    {
        "qStateName",
        "qLibraryId",
        "qDef",
        "qAutoSortByState",
        "qFrequencyMode",
        "qShowAlternatives",
        "qInitialDataFetch",
        "qExpressions",
        "qDirectQuerySimplifiedView",
    }
)
# Enum values arrive short ("S") or, from some clients, long.
_MODES = {
    "DATA_MODE_STRAIGHT": "S",
    "DATA_MODE_PIVOT": "P",
    "DATA_MODE_PIVOT_STACK": "K",
    "DATA_MODE_TREE": "T",
    "DATA_MODE_DYNAMIC": "D",
}
_FREQUENCY_MODES = {
    "NX_FREQUENCY_NONE": "N",
    "NX_FREQUENCY_VALUE": "V",
    "NX_FREQUENCY_PERCENT": "P",
    "NX_FREQUENCY_RELATIVE": "R",
}
# Sort criteria in the order the engine tries them.
_CRITERIA_KEYS = (
    ("qSortByState", "state"),
    ("qSortByFrequency", "frequency"),
    ("qSortByNumeric", "numeric"),
    ("qSortByAscii", "ascii"),
    ("qSortByLoadOrder", "load"),
    ("qSortByExpression", "expression"),
)


# --------------------------------------------------------------------------
# Association: possible rows and value states


def _possible_masks(
    app: AppData, selected: Mapping[int, IntArray]
) -> list[BoolArray | None]:
    """Row masks per table for a set of selections (None: unconstrained).

    Args:
        app: The app.
        selected: Selected element numbers per field index.

    Returns:
        One mask per table; None where no selection reaches the table.
    """
    propagation = _Propagation(app, selected)
    return [propagation.rows(t, None) for t in range(len(app.tables))]


class _Propagation:
    """Spreads selections from table to table through the key fields.

    Tables and key fields form a graph; each edge carries a message: the key
    values allowed from that side, or None when no selection lies on that
    side. A table's possible rows meet its own selections and the messages
    of all its key fields. Directed messages matter: a selection in flights
    restricts planes to the planes that flew, but planes, having no
    selection, do not remove flights whose plane is not in the planes table.
    On a tree (the usual data model) this is exact; a cycle is cut where it
    is met.
    """

    def __init__(self, app: AppData, selected: Mapping[int, IntArray]) -> None:
        self.app = app
        self.local: list[BoolArray | None] = [None] * len(app.tables)
        self.key_local: dict[int, BoolArray] = {}
        self._rows: dict[tuple[int, int | None], BoolArray | None] = {}
        self._to_key: dict[tuple[int, int], BoolArray | None] = {}
        self._busy: set[tuple[int, int]] = set()
        for j, elems in selected.items():
            info = app.field_list[j]
            allowed = np.zeros(info.cardinal + 1, dtype=bool)
            allowed[elems] = True
            if info.is_key:
                self.key_local[j] = allowed
                continue
            t = info.tables[0]
            rows = allowed[app.tables[t].codes[j]]
            current = self.local[t]
            self.local[t] = rows if current is None else current & rows

    def rows(self, t: int, skip: int | None) -> BoolArray | None:
        """Table ``t``'s rows allowed by everything but key field ``skip``."""
        memo = (t, skip)
        if memo in self._rows:
            return self._rows[memo]
        table = self.app.tables[t]
        rows = self.local[t]
        for j in table.fields:
            if j == skip or not self.app.field_list[j].is_key:
                continue
            allowed = self.to_table(j, t)
            if allowed is not None:
                restricted = allowed[table.codes[j]]
                rows = restricted if rows is None else rows & restricted
        self._rows[memo] = rows
        return rows

    def to_table(self, j: int, t: int) -> BoolArray | None:
        """Key values of field ``j`` allowed by every side but table ``t``."""
        allowed = self.key_local.get(j)
        for other in self.app.field_list[j].tables:
            if other == t:
                continue
            message = self.to_key(other, j)
            if message is not None:
                allowed = message if allowed is None else allowed & message
        return allowed

    def to_key(self, t: int, j: int) -> BoolArray | None:
        """Key values of field ``j`` present in table ``t``'s allowed rows."""
        memo = (t, j)
        if memo in self._to_key:
            return self._to_key[memo]
        if memo in self._busy:
            return None
        self._busy.add(memo)
        rows = self.rows(t, j)
        message: BoolArray | None = None
        if rows is not None:
            info = self.app.field_list[j]
            message = np.zeros(info.cardinal + 1, dtype=bool)
            message[self.app.tables[t].codes[j][rows]] = True
            message[info.cardinal] = False
        self._busy.discard(memo)
        self._to_key[memo] = message
        return message


class _Association:
    """Possible rows and value states for one snapshot of selections."""

    def __init__(
        self, app: AppData, selected: Mapping[int, IntArray], locked: frozenset[int]
    ) -> None:
        self.app = app
        self.selected = selected
        self.locked = locked
        self.masks = _possible_masks(app, selected)
        self._possible: dict[int, BoolArray] = {}
        self._states: dict[int, StateArray] = {}
        self._without: dict[int, _Association] = {}
        self._frequency: dict[int, IntArray] = {}

    def possible(self, j: int) -> BoolArray:
        """Which values of field ``j`` are possible (cardinal + 1 slots)."""
        if j not in self._possible:
            info = self.app.field_list[j]
            seen = np.zeros(info.cardinal + 1, dtype=bool)
            for t in info.tables:
                table = self.app.tables[t]
                mask = self.masks[t]
                if mask is None:
                    seen |= table.present(j, info.cardinal)
                else:
                    seen[table.codes[j][mask]] = True
            seen[info.cardinal] = False
            self._possible[j] = seen
        return self._possible[j]

    def states(self, j: int) -> StateArray:
        """The state code of every value of field ``j``."""
        if j not in self._states:
            self._states[j] = self._compute_states(j)
        return self._states[j]

    def _compute_states(self, j: int) -> StateArray:
        cardinal = self.app.field_list[j].cardinal
        possible = self.possible(j)[:cardinal]
        if j not in self.selected:
            return np.where(possible, OPTION, EXCLUDED).astype(np.uint8)
        chosen = np.zeros(cardinal, dtype=bool)
        chosen[self.selected[j]] = True
        if j not in self._without:
            rest = {k: v for k, v in self.selected.items() if k != j}
            self._without[j] = _Association(self.app, rest, self.locked)
        alternative = self._without[j].possible(j)[:cardinal]
        states = np.full(cardinal, EXCLUDED, dtype=np.uint8)
        states[alternative & ~chosen] = ALTERNATIVE
        locked = j in self.locked
        states[chosen & possible] = LOCKED if locked else SELECTED
        states[chosen & ~possible] = LOCK_EXCLUDED if locked else SEL_EXCLUDED
        return states

    def state_counts(self, j: int) -> dict[str, int]:
        """The qStateCounts of field ``j``."""
        counts = np.bincount(self.states(j), minlength=len(_COUNT_KEYS))
        return {key: int(n) for key, n in zip(_COUNT_KEYS, counts, strict=True)}

    def frequency(self, j: int) -> IntArray:
        """Possible rows per value of field ``j``, in its first table."""
        if j not in self._frequency:
            info = self.app.field_list[j]
            table = self.app.tables[info.tables[0]]
            codes = table.codes[j]
            mask = self.masks[table.index]
            kept = codes if mask is None else codes[mask]
            counts = np.bincount(kept[kept >= 0], minlength=info.cardinal)
            self._frequency[j] = np.append(counts, 0).astype(np.int64)
        return self._frequency[j]


# --------------------------------------------------------------------------
# Selection state per state name


@dataclass
class _StateData:
    """What one selection state holds: selections, locks and history."""

    selected: dict[int, dict[int, None]] = field(default_factory=dict)
    locked: set[int] = field(default_factory=set)
    back: list[dict[int, tuple[int, ...]]] = field(default_factory=list)
    forward: list[dict[int, tuple[int, ...]]] = field(default_factory=list)
    version: int = 0

    def snapshot(self) -> dict[int, tuple[int, ...]]:
        return {j: tuple(elems) for j, elems in self.selected.items()}

    def restore(self, snapshot: Mapping[int, tuple[int, ...]]) -> None:
        self.selected = {j: dict.fromkeys(elems) for j, elems in snapshot.items()}


# --------------------------------------------------------------------------
# Hypercube definitions


@dataclass
class _Criteria:
    """Resolved sort criteria of one column."""

    keys: list[tuple[str, int]]
    expression: ex.Node | None
    indicator: str

    @classmethod
    def parse(cls, sort: Mapping[str, Any] | None, reverse: bool) -> _Criteria:
        keys: list[tuple[str, int]] = []
        expression: ex.Node | None = None
        indicator = "N"
        for key, kind in _CRITERIA_KEYS:
            raw = int((sort or {}).get(key, 0) or 0)
            if raw == 0:
                continue
            if kind == "expression":
                expression = _sort_expression(sort or {})
                if expression is None:
                    continue
            sign = 1 if raw > 0 else -1
            # Frequency counts the other way round: -1 is ascending.
            direction = -sign if kind == "frequency" else sign
            if reverse:
                direction, sign = -direction, -sign
            if indicator == "N":
                indicator = "A" if sign > 0 else "D"
            keys.append((kind, direction))
        return cls(keys, expression, indicator)


def _sort_expression(sort: Mapping[str, Any]) -> ex.Node | None:
    value = sort.get("qExpression")
    text = value.get("qv", "") if isinstance(value, Mapping) else value
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return ex.lift_fields(ex.parse(text))
    except ex.ExpressionError:
        return None


@dataclass
class _Dim:
    """A resolved hypercube dimension."""

    field: FieldInfo | None
    field_def: str
    title: str
    criteria: _Criteria
    null_suppression: bool
    error: int | None = None


@dataclass
class _Measure:
    """A resolved hypercube measure."""

    text: str
    title: str
    node: ex.Node | None
    num_format: dict[str, Any] | None
    criteria: _Criteria
    error: str | None = None


@dataclass
class _CubeSpec:
    """A hypercube definition, resolved against the app's fields."""

    dims: list[_Dim]
    measures: list[_Measure]
    column_order: list[int]
    suppress_zero: bool
    suppress_missing: bool
    mode: str

    @property
    def width(self) -> int:
        return len(self.dims) + len(self.measures)

    @property
    def criteria(self) -> list[_Criteria]:
        """The sort criteria of every column, dimensions first."""
        return [d.criteria for d in self.dims] + [m.criteria for m in self.measures]

    @classmethod
    def parse(cls, app: AppData, hc_def: Mapping[str, Any]) -> _CubeSpec:
        dims = [_parse_dim(app, d) for d in hc_def.get("qDimensions") or []]
        measures = [_parse_measure(m) for m in hc_def.get("qMeasures") or []]
        width = len(dims) + len(measures)
        order: list[int] = []
        for column in hc_def.get("qInterColumnSortOrder") or []:
            if isinstance(column, int) and 0 <= column < width and column not in order:
                order.append(column)
        order += [c for c in range(width) if c not in order]
        return cls(
            dims,
            measures,
            order,
            bool(hc_def.get("qSuppressZero")),
            bool(hc_def.get("qSuppressMissing")),
            _short(hc_def.get("qMode"), _MODES, "S"),
        )


def _field_def(inline: Mapping[str, Any]) -> tuple[str, str]:
    """The active field definition and its label."""
    defs = list(inline.get("qFieldDefs") or [])
    labels = list(inline.get("qFieldLabels") or [])
    active = int(inline.get("qActiveField") or 0)
    active = active if 0 <= active < len(defs) else 0
    field_def = str(defs[active]) if defs else ""
    label = str(labels[active]) if active < len(labels) and labels[active] else ""
    return field_def, label


def _resolve_field(app: AppData, field_def: str) -> FieldInfo | None:
    """The field behind a field definition: ``name``, or ``=[name]``."""
    info = app.field(field_def)
    if info is not None or not field_def.startswith("="):
        return info
    try:
        node = ex.parse(field_def)
    except ex.ExpressionError:
        return None
    return app.field(node.name) if isinstance(node, ex.FieldRef) else None


def _parse_dim(app: AppData, dim: Mapping[str, Any]) -> _Dim:
    inline = dim.get("qDef") or {}
    field_def, label = _field_def(inline)
    info = _resolve_field(app, field_def)
    sorts = inline.get("qSortCriterias") or [{}]
    criteria = _Criteria.parse(sorts[0], bool(inline.get("qReverseSort")))
    return _Dim(
        field=info,
        field_def=field_def,
        title=label or field_def,
        criteria=criteria,
        null_suppression=bool(dim.get("qNullSuppression")),
        error=None if info is not None else CALC_INVALID_DEF,
    )


def _parse_measure(measure: Mapping[str, Any]) -> _Measure:
    inline = measure.get("qDef") or {}
    text = str(inline.get("qDef") or "")
    num_format = inline.get("qNumFormat")
    explicit = None if is_auto_format(num_format) else dict(num_format or {})
    criteria = _Criteria.parse(measure.get("qSortBy"), bool(inline.get("qReverseSort")))
    title = str(inline.get("qLabel") or "") or text
    try:
        node: ex.Node | None = ex.lift_fields(ex.parse(text))
        error = None
    except ex.ExpressionError as exc:
        node, error = None, str(exc)
    return _Measure(text, title, node, explicit, criteria, error)


# --------------------------------------------------------------------------
# Aggregation planning and SQL


@dataclass
class _AggPlan:
    """Where and how one aggregation runs."""

    agg: ex.Agg
    table: int | None  # None: no table (a field that does not exist)
    sql: str  # over the x-columns of the inner query
    columns: dict[str, str]  # x-column name -> SQL of the value in table alias
    code_field: FieldInfo | None  # Only(field): the result is an element number
    empty: float  # the value over no records


def _plan_agg(app: AppData, agg: ex.Agg, preferred: Sequence[int]) -> _AggPlan:
    """Choose the aggregation's table and write its SQL.

    Raises:
        ex.ExpressionError: The argument mixes fields of different tables.
    """
    empty = 0.0 if agg.func in ("sum", "count") else math.nan
    names = ex.field_names(agg.arg)
    infos = [app.field(name) for name in names]
    if any(info is None for info in infos):
        return _AggPlan(agg, None, "", {}, None, empty)
    fields = [info for info in infos if info is not None]
    candidates = set(fields[0].tables) if fields else set()
    for info in fields[1:]:
        candidates &= set(info.tables)
    if fields and not candidates:
        raise ex.ExpressionError(f"the fields of {agg.func}() are in different tables")
    table = next(
        (t for t in preferred if t in candidates), min(candidates, default=None)
    )
    columns: dict[str, str] = {}

    def value(name: str) -> str:
        info = app.fields[name]
        if not info.numeric:
            return "CAST(NULL AS DOUBLE)"
        columns[f"xv{info.index}"] = f"a{table}.v{info.index}"
        return f"xv{info.index}"

    def code(info: FieldInfo) -> str:
        columns[f"xc{info.index}"] = f"a{table}.c{info.index}"
        return f"xc{info.index}"

    arg = agg.arg
    distinct = "DISTINCT " if agg.distinct else ""
    code_field: FieldInfo | None = None
    if isinstance(arg, ex.FieldRef) and agg.func in ("count", "only"):
        info = app.fields[arg.name]
        column = code(info)
        if agg.func == "count":
            sql = f"count({distinct}{column})"
        else:
            sql = f"CASE WHEN count(DISTINCT {column}) = 1 THEN min({column}) END"
            code_field = info
    else:
        expr = ex.to_sql(arg, value)
        sql = _AGG_SQL[agg.func].format(distinct=distinct, e=expr)
    if table is None:
        # Constants only, e.g. Sum(1): run over the first table's rows.
        table = preferred[0] if preferred else 0
    return _AggPlan(agg, table, f"CAST({sql} AS DOUBLE)", columns, code_field, empty)


_AGG_SQL = {
    "sum": "coalesce(sum({distinct}{e}), 0)",
    "count": "count({distinct}{e})",
    "avg": "avg({distinct}{e})",
    "min": "min({e})",
    "max": "max({e})",
    "median": "median({e})",
    "stdev": "stddev_samp({distinct}{e})",
    "only": "CASE WHEN count(DISTINCT {e}) = 1 THEN min({e}) END",
}


@dataclass
class _Relation:
    """The FROM clause joining a home table to the tables of the dimensions."""

    sql: str
    dims: list[str]
    fanout: bool


class _SqlBuilder:
    """Builds relations over masked tables; collects the frames to register."""

    def __init__(self, app: AppData, assoc: _Association) -> None:
        self.app = app
        self.assoc = assoc
        self.frames: dict[str, pd.DataFrame] = {}

    def masked(self, t: int) -> str:
        """The table's possible rows, aliased ``a{t}``."""
        mask = self.assoc.masks[t]
        if mask is None or mask.all():
            return f"t{t} a{t}"
        self.frames[f"m{t}"] = pd.DataFrame({"k": mask})
        return f"(SELECT t{t}.* FROM t{t} POSITIONAL JOIN m{t} WHERE m{t}.k) a{t}"

    def relation(self, home: int, dims: Sequence[FieldInfo]) -> _Relation:
        """Join ``home`` with the nearest tables holding each dimension.

        Tables join like Qlik's logical table: a full outer join on the
        fields they share, a key's value taken from whichever side has it.
        """
        parts = [self.masked(home)]
        joined = [home]
        expr = {j: f"a{home}.c{j}" for j in self.app.tables[home].fields}
        fanout = False
        for info in dims:
            if info.index in expr:
                continue
            for t in self._path(joined, info):
                fields = self.app.tables[t].fields
                shared = [j for j in fields if j in expr]
                if shared:
                    on = " AND ".join(f"{expr[j]} = a{t}.c{j}" for j in shared)
                    parts.append(f"FULL JOIN {self.masked(t)} ON {on}")
                else:
                    parts.append(f"CROSS JOIN {self.masked(t)}")
                # A join repeats rows unless the new table is unique on the key.
                if len(shared) != 1 or not self.app.tables[t].is_unique(shared[0]):
                    fanout = True
                for j in fields:
                    expr[j] = (
                        f"coalesce({expr[j]}, a{t}.c{j})" if j in expr else f"a{t}.c{j}"
                    )
                joined.append(t)
        return _Relation(" ".join(parts), [expr[info.index] for info in dims], fanout)

    def _path(self, joined: list[int], target: FieldInfo) -> list[int]:
        """Tables to add, nearest first, to reach a table holding ``target``."""
        parents: dict[int, int | None] = dict.fromkeys(joined)
        queue = list(joined)
        while queue:
            t = queue.pop(0)
            if t in target.tables and t not in joined:
                path = []
                step: int | None = t
                while step is not None and step not in joined:
                    path.append(step)
                    step = parents[step]
                return path[::-1]
            for n in self.app.neighbors(t):
                if n not in parents:
                    parents[n] = t
                    queue.append(n)
        return [target.tables[0]]


@dataclass
class _Computed:
    """Rows of a cube before sorting: dimension codes and measure columns."""

    dims: list[CodeArray]
    values: dict[ex.Agg, Column]
    totals: dict[ex.Agg, Column]
    size: int


def _compute(
    app: AppData,
    assoc: _Association,
    dims: Sequence[FieldInfo],
    plans: Sequence[_AggPlan],
    home: int | None,
) -> _Computed:
    """Run the SQL for the dimension rows and every aggregation."""
    totals: dict[ex.Agg, Column] = {}
    by_table: dict[int, list[tuple[str, _AggPlan]]] = {}
    for k, plan in enumerate(plans):
        if plan.table is None or not plan.sql:
            totals[plan.agg] = Column.constant(plan.empty, None, 1)
        else:
            by_table.setdefault(plan.table, []).append((f"g{k}", plan))
    if not dims:
        for t, group in by_table.items():
            totals.update(_totals(app, assoc, t, [plan for _, plan in group]))
        at_once = {plan.agg: totals[plan.agg] for plan in plans}
        return _Computed([], at_once, totals, 1 if plans else 0)
    assert home is not None
    keys = [f"d{i}" for i in range(len(dims))]
    table, home_totals = _grouped(app, assoc, home, dims, by_table.pop(home, []), True)
    totals.update(home_totals)
    for t, group in by_table.items():
        # Another table's values join by dimension values; rows only it has
        # (say, a customer without orders) are rows of the cube too.
        other, _ = _grouped(app, assoc, t, dims, group, False)
        table = _outer_merge(table, other, keys)
        totals.update(_totals(app, assoc, t, [plan for _, plan in group]))
    size = len(table[keys[0]])
    values: dict[ex.Agg, Column] = {}
    for k, plan in enumerate(plans):
        raw = table.get(f"g{k}")
        if plan.agg.total or raw is None:
            values[plan.agg] = _broadcast(totals[plan.agg], size)
        else:
            values[plan.agg] = _column(np.where(np.isnan(raw), plan.empty, raw), plan)
    rows = [np.asarray(table[key], dtype=np.int32) for key in keys]
    return _Computed(rows, values, totals, size)


def _inner_select(relation: _Relation, home: int, plans: Sequence[_AggPlan]) -> str:
    """The per-record query: dimension codes and aggregated values."""
    columns = [f"{sql} AS d{i}" for i, sql in enumerate(relation.dims)]
    seen: dict[str, str] = {}
    for plan in plans:
        seen.update(plan.columns)
    columns += [f"{sql} AS {name}" for name, sql in seen.items()]
    if relation.fanout:
        # Aggregate each record of the measured table once per dimension row.
        columns.insert(0, f"a{home}.r AS rr")
        return f"SELECT DISTINCT {', '.join(columns)} FROM {relation.sql}"
    return f"SELECT {', '.join(columns) or '1 AS one'} FROM {relation.sql}"


def _grouped(
    app: AppData,
    assoc: _Association,
    home: int,
    dims: Sequence[FieldInfo],
    named: Sequence[tuple[str, _AggPlan]],
    want_totals: bool,
) -> tuple[dict[str, Any], dict[ex.Agg, Column]]:
    """Dimension rows of the relation around ``home``, with its aggregations.

    Returns:
        The columns ``d0..`` (element numbers, -1 for null) and the named
        aggregate columns (floats, NaN for NULL); and, if ``want_totals``,
        each aggregation over all of the home table's possible records.
    """
    plans = [plan for _, plan in named]
    builder = _SqlBuilder(app, assoc)
    relation = builder.relation(home, dims)
    inner = _inner_select(relation, home, plans)
    radices = [info.cardinal + 1 for info in dims]
    # Without repeated records, the relation's own totals are the grand ones.
    own_totals = want_totals and bool(plans) and not relation.fanout
    if _PACKED_GROUPS < math.prod(radices) <= _KEY_LIMIT:
        table, totals = _grouped_packed(app, builder, inner, radices, named, own_totals)
    else:
        table, totals = _grouped_sets(app, builder, inner, len(dims), named, own_totals)
    if want_totals and plans and not own_totals:
        totals = _totals(app, assoc, home, plans)
    return table, totals


def _grouped_sets(
    app: AppData,
    builder: _SqlBuilder,
    inner: str,
    width: int,
    named: Sequence[tuple[str, _AggPlan]],
    with_totals: bool,
) -> tuple[dict[str, Any], dict[ex.Agg, Column]]:
    """:func:`_grouped` on the dimension columns; one scan gives the totals."""
    keys = ", ".join(f"d{i}" for i in range(width))
    outs = [f"coalesce(d{i}, -1)::INTEGER AS d{i}" for i in range(width)]
    outs += [f"{plan.sql} AS {name}" for name, plan in named]
    if with_totals:
        outs.append(f"grouping({keys})::INTEGER AS gid")
        group = f"GROUPING SETS (({keys}), ())"
    else:
        group = keys
    sql = f"SELECT {', '.join(outs)} FROM ({inner}) GROUP BY {group}"
    result = app.query(sql, builder.frames)
    is_total = np.asarray(result["gid"]) != 0 if with_totals else None
    rows: Any = np.flatnonzero(~is_total) if is_total is not None else slice(None)
    table: dict[str, Any] = {
        f"d{i}": _codes(result[f"d{i}"])[rows] for i in range(width)
    }
    for name, _ in named:
        table[name] = _floats(result[name])[rows]
    totals: dict[ex.Agg, Column] = {}
    if is_total is not None:
        total_row = np.flatnonzero(is_total)
        for name, plan in named:
            totals[plan.agg] = _column(_floats(result[name])[total_row], plan)
    return table, totals


# Above this many possible groups (the product of the dimensions' cardinal
# plus one), dimension rows group on one packed key.
_PACKED_GROUPS = 2**16


def _grouped_packed(
    app: AppData,
    builder: _SqlBuilder,
    inner: str,
    radices: Sequence[int],
    named: Sequence[tuple[str, _AggPlan]],
    with_totals: bool,
) -> tuple[dict[str, Any], dict[ex.Agg, Column]]:
    """:func:`_grouped` on one packed key, the totals from a second scan.

    With many possible groups DuckDB groups one BIGINT (each element number
    plus one, a digit of a mixed-radix number) faster than several columns,
    and a second scan of the same relation costs less than grouping sets.
    """
    key = "coalesce(d0, -1)::BIGINT + 1"
    for i, radix in enumerate(radices[1:], start=1):
        key = f"({key}) * {radix} + coalesce(d{i}, -1) + 1"
    aggs = [f"{plan.sql} AS {name}" for name, plan in named]
    sql = f"SELECT {', '.join([f'{key} AS dk', *aggs])} FROM ({inner}) GROUP BY 1"
    result = app.query(sql, builder.frames)
    table: dict[str, Any] = {
        f"d{i}": codes for i, codes in enumerate(_unpack(result["dk"], radices))
    }
    for name, _ in named:
        table[name] = _floats(result[name])
    totals: dict[ex.Agg, Column] = {}
    if with_totals:
        result = app.query(f"SELECT {', '.join(aggs)} FROM ({inner})", builder.frames)
        totals = {plan.agg: _column(result[name], plan) for name, plan in named}
    return table, totals


def _unpack(raw: Any, radices: Sequence[int]) -> list[CodeArray]:
    """Split packed group keys into element numbers per dimension (-1: null)."""
    # The fetched keys are the caller's to spend: divided in place.
    key = np.asarray(np.ma.filled(raw, 0), dtype=np.int64)
    codes: list[CodeArray] = []
    for radix in reversed(radices[1:]):
        digit = (key % radix).astype(np.int32)
        digit -= 1
        codes.append(digit)
        key //= radix
    last = key.astype(np.int32)
    last -= 1
    codes.append(last)
    return codes[::-1]


def _outer_merge(
    left: Mapping[str, Any], right: Mapping[str, Any], keys: list[str]
) -> dict[str, Any]:
    """Full outer join of two column dicts on the dimension columns."""
    merged = pd.DataFrame(left).merge(pd.DataFrame(right), on=keys, how="outer")
    table: dict[str, Any] = {}
    for name in merged.columns:
        if name in keys:
            table[name] = merged[name].to_numpy(dtype=np.int32)
        else:
            table[name] = merged[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return table


def _totals(
    app: AppData, assoc: _Association, table: int, plans: Sequence[_AggPlan]
) -> dict[ex.Agg, Column]:
    """Aggregations over every possible record of one table."""
    builder = _SqlBuilder(app, assoc)
    inner = _inner_select(_Relation(builder.masked(table), [], False), table, plans)
    outs = ", ".join(f"{plan.sql} AS g{k}" for k, plan in enumerate(plans))
    result = app.query(f"SELECT {outs} FROM ({inner})", builder.frames)
    return {plan.agg: _column(result[f"g{k}"], plan) for k, plan in enumerate(plans)}


def _floats(raw: Any) -> FloatArray:
    """Fetched numbers as floats, NaN where NULL."""
    if not isinstance(raw, np.ma.MaskedArray):
        # Without NULLs there is no mask, and wrapping one costs more than
        # the conversion.
        return np.asarray(raw, dtype=np.float64)
    return np.asarray(np.ma.filled(np.ma.asarray(raw, dtype=np.float64), np.nan))


def _codes(raw: Any) -> CodeArray:
    return np.asarray(np.ma.filled(raw, -1), dtype=np.int32)


def _column(raw: Any, plan: _AggPlan) -> Column:
    """Turn fetched aggregate values into a column of duals."""
    nums = _floats(raw)
    info = plan.code_field
    if info is None:
        return Column(nums)
    codes = np.where(np.isnan(nums), -1, nums).astype(np.int64)
    values = np.append(info.nums, np.nan)[codes]
    if info.numeric:
        return Column(values)
    texts = np.array([*info.texts, None], dtype=object)[codes]
    return Column(values, texts)


def _evaluated(
    node: ex.Node | None, usable: bool, values: Mapping[ex.Agg, Column], size: int
) -> Column:
    """A measure's column, or NULLs when it has no usable expression."""
    if node is None or not usable:
        return Column.constant(math.nan, None, size)
    return ex.evaluate(node, values, size)


def _broadcast(column: Column, size: int) -> Column:
    """Repeat a one-row column ``size`` times."""
    num = float(column.nums[0]) if len(column.nums) else math.nan
    text = column.texts[0] if column.texts is not None and len(column.texts) else None
    return Column.constant(num, text, size)


# --------------------------------------------------------------------------
# Computed cubes


@dataclass
class _Cube:
    """A computed hypercube, cached per state version.

    ``dims`` and ``measures`` hold the rows in the order they were computed;
    ``order`` sorts them, only as far as the pages asked for so far need.
    """

    spec: _CubeSpec
    size: int
    dims: list[CodeArray]
    measures: list[Column]
    totals: list[Column]
    indicators: list[str]
    dim_states: list[StateArray | None]
    dim_counts: list[dict[str, int]]
    measure_errors: list[str | None]
    order: _RowOrder
    error: dict[str, Any] | None = None
    condition_message: str = ""
    # What the layout's infos compute over every row, kept for its repeats.
    _in_cube: dict[int, BoolArray] = field(default_factory=dict, init=False)
    _stats: dict[int, _MeasureStats] = field(default_factory=dict, init=False)

    def in_cube(self, d: int) -> BoolArray:
        """Which values of dimension ``d`` occur in the cube (cardinal + 1)."""
        if d not in self._in_cube:
            info = self.spec.dims[d].field
            cardinal = info.cardinal if info else 0
            codes = self.dims[d]
            # Counting is faster than scattering flags; null (-1) shifts
            # every code up one.
            shift = 1 if len(codes) and codes.min() < 0 else 0
            shifted = codes + shift if shift else codes
            counts = np.bincount(shifted, minlength=cardinal + shift)
            present = np.zeros(cardinal + 1, dtype=bool)
            present[:cardinal] = counts[shift : cardinal + shift] > 0
            self._in_cube[d] = present
        return self._in_cube[d]

    def measure_stats(self, m: int) -> _MeasureStats:
        """The numbers of measure ``m``'s info."""
        if m not in self._stats:
            column = self.measures[m]
            missing = np.isnan(column.nums)
            nums = column.nums[~missing] if missing.any() else column.nums
            low = float(nums.min()) if len(nums) else None
            high = float(nums.max()) if len(nums) else None
            extremes = [] if low is None or high is None else [low, high]
            num_format = self.spec.measures[m].num_format
            self._stats[m] = _MeasureStats(
                low=low,
                high=high,
                integral=bool(np.all(np.floor(nums) == nums)),
                glyphs=_glyphs(column, self.order, num_format, extremes),
            )
        return self._stats[m]

    def sorted_rows(self, positions: IntArray) -> IntArray:
        """The rows at some positions of the sorted cube."""
        if not len(positions):
            return positions
        return self.order.head(int(positions.max()) + 1)[positions]

    def dim_cells(self, d: int, rows: IntArray) -> list[dict[str, Any]]:
        """The cells of dimension ``d`` for some rows."""
        info = self.spec.dims[d].field
        states = self.dim_states[d]
        if info is None or states is None:
            return [_null_cell() for _ in range(len(rows))]
        codes = self.dims[d][rows]
        if not len(states):
            return [_null_cell() for _ in range(len(rows))]
        # Null rows (-1) read slot 0's state, which their cells do not show.
        shown = _STATE_TEXTS[states[np.maximum(codes, 0)]].tolist()
        texts = info.texts
        nums = info.wire_nums
        return [
            {
                "qText": texts[code],
                "qNum": nums[code],
                "qElemNumber": code,
                "qState": state,
            }
            if code >= 0
            else _null_cell()
            for code, state in zip(codes.tolist(), shown, strict=True)
        ]

    def measure_cells(self, m: int, rows: IntArray) -> list[dict[str, Any]]:
        """The cells of measure ``m`` for some rows."""
        column = self.measures[m].take(rows)
        texts = _column_texts(column, self.spec.measures[m].num_format)
        nulls = column.is_null().tolist()
        return [
            _measure_null_cell()
            if null
            else {"qText": text, "qNum": num, "qElemNumber": 0, "qState": "L"}
            for text, num, null in zip(
                texts, wire_nums(column.nums), nulls, strict=True
            )
        ]


_STATE_TEXTS = np.asarray(STATE_CODES, dtype=object)


@dataclass(frozen=True)
class _MeasureStats:
    """Measure info numbers: extremes (None: no number), integers, glyphs."""

    low: float | None
    high: float | None
    integral: bool
    glyphs: int


def _column_texts(column: Column, num_format: Mapping[str, Any] | None) -> list[str]:
    """Every row's display text, as :meth:`Column.text_at` gives it."""
    formatted = format_numbers(column.nums, num_format)
    if column.texts is None:
        return formatted
    return [
        formatted[row] if text is None else str(text)
        for row, text in enumerate(column.texts.tolist())
    ]


def _value_cell(info: FieldInfo, elem: int, states: StateArray) -> dict[str, Any]:
    """The cell of one field value: its dual, element number and state."""
    return {
        "qText": info.texts[elem],
        "qNum": info.wire_nums[elem],
        "qElemNumber": elem,
        "qState": STATE_CODES[states[elem]],
    }


def _null_cell() -> dict[str, Any]:
    return {
        "qText": NULL_TEXT,
        "qNum": NAN_TEXT,
        "qElemNumber": -2,
        "qState": "O",
        "qIsNull": True,
    }


def _measure_null_cell() -> dict[str, Any]:
    return {
        "qText": NULL_TEXT,
        "qNum": NAN_TEXT,
        "qElemNumber": 0,
        "qState": "L",
        "qIsNull": True,
    }


def _measure_cell(
    column: Column, row: int, num_format: Mapping[str, Any] | None
) -> dict[str, Any]:
    num = float(column.nums[row])
    text = column.texts[row] if column.texts is not None else None
    if text is None and math.isnan(num):
        return _measure_null_cell()
    return {
        "qText": str(text) if text is not None else format_number(num, num_format),
        "qNum": wire_num(num),
        "qElemNumber": 0,
        "qState": "L",
    }


def _total_cell(column: Column, num_format: Mapping[str, Any] | None) -> dict[str, Any]:
    cell = _measure_cell(column, 0, num_format)
    cell["qElemNumber"] = -1
    cell["qState"] = "X"
    cell["qIsTotalCell"] = True
    return cell


# --------------------------------------------------------------------------
# The doc state


class DocState:
    """The selection state of one engine session's doc, and its layouts.

    Every method is thread-safe. Selection methods return False (they do not
    raise) for a field that is not in the data model or that is locked,
    as the engine does.

    Attributes:
        app: The app the doc was opened on.
    """

    def __init__(self, app: AppData) -> None:
        self.app = app
        self._lock = threading.RLock()
        self._states: dict[str, _StateData] = {DEFAULT_STATE: _StateData()}
        self._version = 0
        self._assoc: dict[str, tuple[int, _Association]] = {}
        self._computed: OrderedDict[tuple[str, str, int, str], _Cube | _Listing] = (
            OrderedDict()
        )
        self._specs: dict[str, _CubeSpec] = {}

    # -- fields and states -------------------------------------------------

    @property
    def version(self) -> int:
        """A counter bumped on every change of selections or locks."""
        return self._version

    def state_version(self, state: str = DEFAULT_STATE) -> int:
        """The version at which ``state`` last changed."""
        with self._lock:
            return self._state(state).version

    def field_names(self) -> list[str]:
        """Every field name, in load order."""
        return self.app.field_names()

    def has_field(self, name: str) -> bool:
        """Whether ``name`` is a field of the data model."""
        return self.app.field(name) is not None

    def cardinal(self, field: str) -> int:
        """The number of distinct values of a field (0 if there is none)."""
        info = self.app.field(field)
        return info.cardinal if info is not None else 0

    def state_names(self) -> list[str]:
        """The alternate states (every state but ``"$"``)."""
        with self._lock:
            return [name for name in self._states if name != DEFAULT_STATE]

    def add_state(self, name: str) -> None:
        """Add an alternate state (doing nothing if it exists)."""
        with self._lock:
            self._state(name)

    def remove_state(self, name: str) -> None:
        """Remove an alternate state and its selections."""
        with self._lock:
            if name != DEFAULT_STATE and self._states.pop(name, None) is not None:
                self._assoc.pop(name, None)
                self._bump_version()

    def _state(self, name: str) -> _StateData:
        name = name or DEFAULT_STATE
        if name not in self._states:
            self._states[name] = _StateData()
        return self._states[name]

    def _bump_version(self) -> int:
        self._version += 1
        return self._version

    # -- selections ----------------------------------------------------------

    def select_elements(
        self,
        field: str,
        elems: Iterable[int],
        toggle: bool = False,
        state: str = DEFAULT_STATE,
        soft_lock: bool = False,
    ) -> bool:
        """Select values of a field by element number (Field.LowLevelSelect).

        Args:
            field: The field name.
            elems: Element numbers; numbers outside the field are ignored.
            toggle: True adds unselected values and removes selected ones;
                False replaces the field's selection. Selecting nothing
                clears the field.
            state: The selection state.
            soft_lock: Select even if the field is locked.

        Returns:
            False when the field does not exist or is locked, else True.
        """
        info = self.app.field(field)
        if info is None:
            return False
        valid = [
            e for e in dict.fromkeys(int(e) for e in elems) if 0 <= e < info.cardinal
        ]
        with self._lock:
            data = self._state(state)
            if info.index in data.locked and not soft_lock:
                return False
            current = data.selected.get(info.index, {})
            if toggle:
                chosen = dict(current)
                for elem in valid:
                    if elem in chosen:
                        del chosen[elem]
                    else:
                        chosen[elem] = None
            else:
                chosen = dict.fromkeys(valid)
            self._set_selection(data, {info.index: chosen})
        return True

    def select_values(
        self,
        field: str,
        values: Sequence[Mapping[str, Any]],
        toggle: bool = False,
        state: str = DEFAULT_STATE,
        soft_lock: bool = False,
    ) -> bool:
        """Select values given as FieldValue dicts (Field.SelectValues).

        A value matches by number when ``qIsNumeric`` is true, else by text.
        Values that match nothing are ignored.
        """
        info = self.app.field(field)
        if info is None:
            return False
        elems = [e for e in (_match_value(info, v) for v in values) if e is not None]
        return self.select_elements(field, elems, toggle, state, soft_lock)

    def select_match(
        self,
        field: str,
        match: str,
        toggle: bool = False,
        state: str = DEFAULT_STATE,
        soft_lock: bool = False,
    ) -> bool:
        """Select the values that a search string matches (Field.Select).

        See :meth:`search_values` for the search syntax.

        Returns:
            False when the field does not exist, is locked, or nothing
            matches (the selection is then left as it was).
        """
        elems = self.search_values(field, match)
        if not elems:
            return False
        return self.select_elements(field, elems, toggle, state, soft_lock)

    def search_values(self, field: str, match: str, exact: bool = True) -> list[int]:
        """Element numbers of the values a search string matches.

        Supported: plain text, wildcards ``*`` and ``?``, and numeric
        criteria such as ``>5``, ``<=10`` or ``>=2<8`` (all must hold).
        Plain text matches a whole value (case-insensitive; numbers also
        by value) when ``exact``, as Field.Select does; otherwise it
        matches values with a word starting with each of its words, as a
        list-object search does.

        Args:
            field: The field name.
            match: The search string.
            exact: Whole-value matching for plain text.

        Returns:
            The matching element numbers in load order ([] for no field).
        """
        info = self.app.field(field)
        if info is None:
            return []
        text = match.strip()
        criteria = _numeric_criteria(text)
        if criteria:
            return _numeric_matches(info, criteria)
        if "*" in text or "?" in text:
            # Only * and ? are special; brackets and dots match themselves.
            regex = re.escape(text.casefold()).replace(r"\*", ".*").replace(r"\?", ".")
            pattern = re.compile(regex, re.DOTALL)
            return [
                e for e, t in enumerate(info.texts) if pattern.fullmatch(t.casefold())
            ]
        if not exact:
            return _word_matches(info, text)
        found = set(info.by_folded_text.get(text.casefold(), []))
        number = _to_number(text)
        if number is not None and number in info.by_number:
            found.add(info.by_number[number])
        return sorted(found)

    def select_hypercube_values(
        self,
        hc_def: Mapping[str, Any],
        dim_no: int,
        elems: Iterable[int],
        toggle: bool = False,
        state: str = DEFAULT_STATE,
        soft_lock: bool = False,
    ) -> bool:
        """Select element numbers in a hypercube dimension (SelectHyperCubeValues)."""
        field = self.hypercube_field(hc_def, dim_no)
        return self.select_elements(
            field, elems, toggle, _state_of(hc_def, state), soft_lock
        )

    def select_hypercube_cells(
        self,
        hc_def: Mapping[str, Any],
        rows: Sequence[int],
        columns: Sequence[int],
        state: str = DEFAULT_STATE,
        soft_lock: bool = False,
    ) -> bool:
        """Select the values in some cube rows (SelectHyperCubeCells).

        Args:
            hc_def: The qHyperCubeDef.
            rows: Row positions in the sorted cube; [] means every row.
            columns: Dimension column indexes; [] means every dimension.
            state: The default state when the def names none.
            soft_lock: Select even in locked fields.

        Returns:
            True when every selection succeeded.
        """
        state = _state_of(hc_def, state)
        with self._lock:
            cube = self._cube(hc_def, state)
            picked = np.asarray(rows if rows else range(cube.size), dtype=np.int64)
            picked = cube.sorted_rows(picked[(picked >= 0) & (picked < cube.size)])
            dims = [
                c for c in (columns or range(len(cube.dims))) if 0 <= c < len(cube.dims)
            ]
            ok = bool(dims)
            for d in dims:
                info = cube.spec.dims[d].field
                if info is None:
                    ok = False
                    continue
                codes = cube.dims[d][picked]
                ok &= self.select_elements(
                    info.name, codes[codes >= 0].tolist(), False, state, soft_lock
                )
        return ok

    def range_select_hypercube_values(
        self,
        hc_def: Mapping[str, Any],
        ranges: Sequence[Mapping[str, Any]],
        columns: Sequence[int] = (),
        or_mode: bool = False,
        state: str = DEFAULT_STATE,
    ) -> bool:
        """Select the dimension values of rows whose measures fall in ranges.

        RangeSelectHyperCubeValues: each range is ``{"qMeasureIx": m,
        "qRange": {"qMin", "qMax", "qMinInclEq", "qMaxInclEq"}}``; rows must
        meet every range (any, with ``or_mode``). The values of those rows
        are selected in the dimensions ``columns`` ([] means all).

        Returns:
            True when every selection succeeded.
        """
        state = _state_of(hc_def, state)
        with self._lock:
            cube = self._cube(hc_def, state)
            hits = [_in_range(cube, spec) for spec in ranges]
            if not hits:
                return False
            keep = np.any(hits, axis=0) if or_mode else np.all(hits, axis=0)
            picked = np.flatnonzero(keep).tolist()
            # No row in range: nothing to select, and [] would mean every row.
            if not picked:
                return False
            return self.select_hypercube_cells(hc_def, picked, columns, state)

    def select_list_object_values(
        self,
        lo_def: Mapping[str, Any],
        elems: Iterable[int],
        toggle: bool = False,
        state: str = DEFAULT_STATE,
        soft_lock: bool = False,
    ) -> bool:
        """Select element numbers in a list object's field (SelectListObjectValues)."""
        info = _resolve_field(self.app, _field_def(lo_def.get("qDef") or {})[0])
        if info is None:
            return False
        return self.select_elements(
            info.name, elems, toggle, _state_of(lo_def, state), soft_lock
        )

    def select_by_states(
        self,
        field: str,
        states: Iterable[str],
        state: str = DEFAULT_STATE,
        soft_lock: bool = False,
    ) -> bool:
        """Select every value currently in one of ``states`` (e.g. ``{"A"}``).

        Field.SelectPossible is ``{"O", "S", "L"}``, SelectAlternative
        ``{"A"}``, SelectExcluded ``{"A", "X"}``, SelectAll every state.
        """
        info = self.app.field(field)
        if info is None:
            return False
        wanted = [STATE_CODES.index(s) for s in states if s in STATE_CODES]
        with self._lock:
            codes = self._association(state).states(info.index)
            elems = np.flatnonzero(np.isin(codes, wanted)).tolist()
            return self.select_elements(field, elems, False, state, soft_lock)

    def clear_field(self, field: str, state: str = DEFAULT_STATE) -> bool:
        """Clear a field's selection (Field.Clear); False if unknown or locked."""
        return self.select_elements(field, [], False, state)

    def clear_all(
        self,
        state: str = DEFAULT_STATE,
        locked_also: bool = False,
        keep: str | None = None,
    ) -> None:
        """Clear every selection in a state (Doc.ClearAll).

        Args:
            state: The selection state.
            locked_also: Clear locked fields too (and unlock them).
            keep: A field to leave as it is (Field.ClearAllButThis).
        """
        with self._lock:
            data = self._state(state)
            kept = self.app.field(keep) if keep else None
            changes: dict[int, dict[int, None]] = {}
            for j in list(data.selected):
                if kept is not None and j == kept.index:
                    continue
                if j in data.locked and not locked_also:
                    continue
                changes[j] = {}
            if locked_also and data.locked:
                data.locked.clear()
                data.version = self._bump_version()
            self._set_selection(data, changes)

    def lock_field(self, field: str, state: str = DEFAULT_STATE) -> bool:
        """Lock a field's selection (Field.Lock)."""
        return self._set_lock(field, True, state)

    def unlock_field(self, field: str, state: str = DEFAULT_STATE) -> bool:
        """Unlock a field (Field.Unlock)."""
        return self._set_lock(field, False, state)

    def lock_all(self, state: str = DEFAULT_STATE) -> None:
        """Lock every field that has a selection (Doc.LockAll)."""
        with self._lock:
            for j in list(self._state(state).selected):
                self._set_lock(self.app.field_list[j].name, True, state)

    def unlock_all(self, state: str = DEFAULT_STATE) -> None:
        """Unlock every field (Doc.UnlockAll)."""
        with self._lock:
            for j in list(self._state(state).locked):
                self._set_lock(self.app.field_list[j].name, False, state)

    def is_locked(self, field: str, state: str = DEFAULT_STATE) -> bool:
        """Whether a field is locked."""
        info = self.app.field(field)
        with self._lock:
            return info is not None and info.index in self._state(state).locked

    def _set_lock(self, field: str, locked: bool, state: str) -> bool:
        info = self.app.field(field)
        if info is None:
            return False
        with self._lock:
            data = self._state(state)
            # Only a field with a selection can be locked.
            if locked and info.index not in data.selected:
                return True
            if (info.index in data.locked) != locked:
                (data.locked.add if locked else data.locked.discard)(info.index)
                data.version = self._bump_version()
        return True

    def back(self, state: str = DEFAULT_STATE) -> bool:
        """Step back in the selection history (Doc.Back)."""
        with self._lock:
            data = self._state(state)
            if not data.back:
                return False
            data.forward.append(data.snapshot())
            data.restore(data.back.pop())
            data.version = self._bump_version()
        return True

    def forward(self, state: str = DEFAULT_STATE) -> bool:
        """Step forward in the selection history (Doc.Forward)."""
        with self._lock:
            data = self._state(state)
            if not data.forward:
                return False
            data.back.append(data.snapshot())
            data.restore(data.forward.pop())
            data.version = self._bump_version()
        return True

    def selections(self, state: str = DEFAULT_STATE) -> dict[str, list[int]]:
        """The selected element numbers per field, in selection order."""
        with self._lock:
            data = self._state(state)
            return {
                self.app.field_list[j].name: list(e) for j, e in data.selected.items()
            }

    def _set_selection(
        self, data: _StateData, changes: Mapping[int, dict[int, None]]
    ) -> None:
        """Apply new per-field selections; record history if anything changed."""
        before = data.snapshot()
        for j, chosen in changes.items():
            if chosen:
                data.selected[j] = chosen
            else:
                data.selected.pop(j, None)
                data.locked.discard(j)
        if data.snapshot() == before:
            return
        data.back.append(before)
        del data.back[:-_HISTORY_LIMIT]
        data.forward.clear()
        data.version = self._bump_version()

    def _association(self, state: str) -> _Association:
        data = self._state(state)
        cached = self._assoc.get(state)
        if cached is not None and cached[0] == data.version:
            return cached[1]
        selected = {j: np.fromiter(e, dtype=np.int64) for j, e in data.selected.items()}
        assoc = _Association(self.app, selected, frozenset(data.locked))
        self._assoc[state] = (data.version, assoc)
        return assoc

    # -- selection object ----------------------------------------------------

    def selection_object(self, state: str = DEFAULT_STATE) -> dict[str, Any]:
        """The qSelectionObject layout: current selections of a state."""
        with self._lock:
            data = self._state(state)
            assoc = self._association(state)
            items = [
                self._selection_item(
                    j, list(elems), sort_index, j in data.locked, assoc
                )
                for sort_index, (j, elems) in enumerate(data.selected.items())
            ]
            result: dict[str, Any] = {
                "qBackCount": len(data.back),
                "qForwardCount": len(data.forward),
                "qSelections": items,
            }
            if state and state != DEFAULT_STATE:
                result["qStateName"] = state
            return result

    def _selection_item(
        self,
        j: int,
        elems: list[int],
        sort_index: int,
        locked: bool,
        assoc: _Association,
    ) -> dict[str, Any]:
        info = self.app.field_list[j]
        texts = [info.texts[e] for e in elems]
        shown = texts if len(texts) <= SELECTION_THRESHOLD else []
        item: dict[str, Any] = {
            "qTotal": info.cardinal,
            "qField": info.name,
            "qSelectedCount": len(elems),
            "qSelected": ", ".join(shown)
            if shown
            else f"{len(elems)} of {info.cardinal}",
            "qRangeInfo": [],
            "qSortIndex": sort_index,
            "qStateCounts": assoc.state_counts(j),
            "qSelectedFieldSelectionInfo": [
                {"qName": text, "qFieldSelectionMode": "NORMAL"} for text in shown
            ],
            "qNotSelectedFieldSelectionInfo": [],
            "qSelectionThreshold": SELECTION_THRESHOLD,
            "qReadableName": info.name,
        }
        if info.numeric:
            item["qIsNum"] = True
        if locked:
            item["qLocked"] = True
        return item

    # -- hypercubes ----------------------------------------------------------

    def hypercube_field(self, hc_def: Mapping[str, Any], dim_no: int) -> str:
        """The field behind dimension ``dim_no`` of a hypercube definition.

        Raises:
            EngineError: There is no such dimension (code 8).
        """
        dims = hc_def.get("qDimensions") or []
        if not 0 <= dim_no < len(dims):
            raise EngineError(
                GENERIC_INVALID_PARAMETERS, str(dim_no), "Invalid dimension"
            )
        field_def = _field_def(dims[dim_no].get("qDef") or {})[0]
        info = _resolve_field(self.app, field_def)
        return info.name if info is not None else field_def

    def hypercube_layout(
        self, hc_def: Mapping[str, Any], state: str = DEFAULT_STATE
    ) -> dict[str, Any]:
        """The computed qHyperCube of a qHyperCubeDef (straight mode).

        A non-empty ``qStateName`` in the def overrides ``state``. Unknown
        keys of the def are copied into the result. Pivot and stacked modes
        are not computed: the cube then carries ``qError`` 7000 and no pages.
        An initial data fetch over 10,000 cells gives ``qError`` 7009 and no
        pages, as the engine does; :meth:`hypercube_data` raises instead.
        """
        state = _state_of(hc_def, state)
        with self._lock:
            cube = self._cube(hc_def, state)
            pages_error: dict[str, Any] | None = None
            try:
                pages = self._cube_pages(cube, hc_def.get("qInitialDataFetch") or [])
            except EngineError as exc:
                pages, pages_error = [], {"qErrorCode": exc.code}
            return self._cube_layout(
                cube, hc_def, state, pages, cube.error or pages_error
            )

    def hypercube_data(
        self,
        hc_def: Mapping[str, Any],
        pages: Sequence[Mapping[str, Any]],
        state: str = DEFAULT_STATE,
    ) -> list[dict[str, Any]]:
        """The qDataPages of GetHyperCubeData.

        Raises:
            EngineError: A page asks for more than 10,000 cells (code 7009),
                or the cube is not in straight mode (code 7000).
        """
        state = _state_of(hc_def, state)
        with self._lock:
            cube = self._cube(hc_def, state)
            if cube.spec.mode != "S":
                raise EngineError(
                    CALC_INVALID_DEF, "qMode", "Only straight hypercubes are supported"
                )
            return self._cube_pages(cube, pages)

    def _cube(self, hc_def: Mapping[str, Any], state: str) -> _Cube:
        def_key = _def_key(hc_def)
        key = ("cube", state, self._state(state).version, def_key)
        cube = self._cached(key)
        if cube is not None:
            assert isinstance(cube, _Cube)
            return cube
        spec = self._specs.get(def_key)
        if spec is None:
            if len(self._specs) >= _SPEC_CACHE_SIZE:
                self._specs.clear()
            spec = _CubeSpec.parse(self.app, hc_def)
            self._specs[def_key] = spec
        assoc = self._association(state)
        unmet = self._unmet_condition(hc_def, state)
        if unmet is None:
            cube = self._build_cube(spec, assoc)
        else:
            cube = self._empty_cube(
                spec, assoc, {"qErrorCode": CALC_EVAL_CONDITION_FAILED}
            )
            cube.condition_message = unmet
        self._remember(key, cube)
        return cube

    def _unmet_condition(self, hc_def: Mapping[str, Any], state: str) -> str | None:
        """The message of a calculation condition that does not hold, else None.

        The condition (``qCalcCondition.qCond``, or the older ``qCalcCond``)
        holds when it evaluates to a non-zero number; a condition that does
        not evaluate counts as unmet.
        """
        condition = hc_def.get("qCalcCondition") or {}
        text = _value_expression(condition.get("qCond")) or _value_expression(
            hc_def.get("qCalcCond")
        )
        if not text:
            return None
        try:
            value = self.evaluate(text, state)["qNumber"]
        except EngineError:
            value = "NaN"
        if isinstance(value, int | float) and value != 0:
            return None
        return self._string_expression(condition.get("qMsg"), state)

    def _cached(self, key: tuple[str, str, int, str]) -> _Cube | _Listing | None:
        """A cached cube or listing, marked as recently used."""
        value = self._computed.get(key)
        if value is not None:
            self._computed.move_to_end(key)
        return value

    def _remember(
        self, key: tuple[str, str, int, str], value: _Cube | _Listing
    ) -> None:
        """Cache a computed cube or listing, dropping the oldest beyond a bound."""
        self._computed[key] = value
        while len(self._computed) > _COMPUTED_CACHE_SIZE:
            self._computed.popitem(last=False)

    def _build_cube(self, spec: _CubeSpec, assoc: _Association) -> _Cube:
        if spec.mode != "S":
            return self._empty_cube(spec, assoc, {"qErrorCode": CALC_INVALID_DEF})
        if any(d.error for d in spec.dims):
            return self._empty_cube(spec, assoc, None)
        dims = [d.field for d in spec.dims if d.field is not None]
        nodes = [m.node for m in spec.measures]
        # Expressions that sort a column are computed like hidden measures.
        sort_nodes = [c.expression for c in spec.criteria]
        computed, usable = self._run_measures(dims, [*nodes, *sort_nodes], assoc)
        columns = [
            _evaluated(node, ok, computed.values, computed.size)
            for node, ok in zip(nodes, usable, strict=False)
        ]
        # Only columns sorted by an expression have one to compute.
        sort_columns = [
            None
            if node is None
            else _evaluated(node, ok, computed.values, computed.size)
            for node, ok in zip(sort_nodes, usable[len(nodes) :], strict=True)
        ]
        totals = [
            _evaluated(node, ok, computed.totals, 1)
            for node, ok in zip(nodes, usable, strict=False)
        ]
        errors = [
            m.error or (None if ok else "the expression cannot be computed")
            for m, ok in zip(spec.measures, usable, strict=False)
        ]
        rows = self._kept_rows(spec, computed.dims, columns, computed.size)
        dim_codes = computed.dims
        if rows is not None:
            dim_codes = [codes[rows] for codes in dim_codes]
            columns = [column.take(rows) for column in columns]
            sort_columns = [c if c is None else c.take(rows) for c in sort_columns]
        order = self._sort_order(spec, assoc, dim_codes, columns, sort_columns)
        return _Cube(
            spec=spec,
            size=order.size,
            dims=dim_codes,
            measures=columns,
            order=order,
            totals=totals,
            indicators=[c.indicator for c in spec.criteria],
            dim_states=[
                assoc.states(d.field.index) if d.field else None for d in spec.dims
            ],
            dim_counts=[_dim_counts(assoc, d.field) for d in spec.dims],
            measure_errors=errors,
        )

    def _empty_cube(
        self, spec: _CubeSpec, assoc: _Association, error: dict[str, Any] | None
    ) -> _Cube:
        return _Cube(
            spec=spec,
            size=0,
            dims=[np.empty(0, dtype=np.int32) for _ in spec.dims],
            measures=[Column(np.empty(0)) for _ in spec.measures],
            totals=[Column.constant(math.nan, None, 1) for _ in spec.measures],
            indicators=[c.indicator for c in spec.criteria],
            dim_states=[
                assoc.states(d.field.index) if d.field else None for d in spec.dims
            ],
            dim_counts=[_dim_counts(assoc, d.field) for d in spec.dims],
            measure_errors=[m.error for m in spec.measures],
            order=_RowOrder([], 0),
            error=error,
        )

    def _run_measures(
        self,
        dims: Sequence[FieldInfo],
        nodes: Sequence[ex.Node | None],
        assoc: _Association,
    ) -> tuple[_Computed, list[bool]]:
        """Plan every aggregation, run them, and tell which nodes are usable."""
        preferred = list(dims[0].tables) if dims else []
        home: int | None = None
        plans: dict[ex.Agg, _AggPlan] = {}
        usable: list[bool] = []
        for node in nodes:
            if node is None:
                usable.append(True)
                continue
            try:
                for agg in ex.aggregations(node):
                    if agg not in plans:
                        order = [home] if home is not None else preferred
                        plans[agg] = _plan_agg(self.app, agg, order)
                        if home is None and plans[agg].columns:
                            home = plans[agg].table
                usable.append(True)
            except ex.ExpressionError:
                usable.append(False)
        if home is None and dims:
            home = dims[0].tables[0]
        if home is not None:
            for plan in plans.values():
                if not plan.columns and plan.table is not None:
                    plan.table = home
        computed = _compute(self.app, assoc, dims, list(plans.values()), home)
        if not dims and not plans and any(n is not None for n in nodes):
            computed.size = 1
        return computed, usable

    def _kept_rows(
        self,
        spec: _CubeSpec,
        dims: Sequence[CodeArray],
        measures: Sequence[Column],
        size: int,
    ) -> IntArray | None:
        """Row indexes left after null, zero and missing suppression.

        None when every row stays, which spares copying the columns.
        """
        keep = np.ones(size, dtype=bool)
        for dim, codes in zip(spec.dims, dims, strict=False):
            if dim.null_suppression:
                keep &= codes >= 0
        if measures and (spec.suppress_zero or spec.suppress_missing):
            nulls = np.all([column.is_null() for column in measures], axis=0)
            keep &= ~nulls
            if spec.suppress_zero:
                zeros = np.all(
                    [(column.nums == 0) | column.is_null() for column in measures],
                    axis=0,
                )
                keep &= ~zeros
        if bool(keep.all()):
            return None
        return np.flatnonzero(keep)

    def _sort_order(
        self,
        spec: _CubeSpec,
        assoc: _Association,
        dims: Sequence[CodeArray],
        columns: Sequence[Column],
        sort_columns: Sequence[Column | None],
    ) -> _RowOrder:
        """Row order from the sort criteria, column by column.

        ``sort_columns`` holds each column's sort expression values, None
        for a column without one (dimensions first).
        """
        size = len(dims[0]) if dims else (len(columns[0].nums) if columns else 0)
        ranks: list[_Rank] = []
        for column in spec.column_order:
            sort_values = sort_columns[column]
            if column < len(spec.dims):
                dim = spec.dims[column]
                ranks += _dim_ranks(dim, dims[column], assoc, sort_values)
            else:
                m = column - len(spec.dims)
                measure = spec.measures[m]
                ranks += _measure_ranks(measure, columns[m], sort_values)
        # Ties fall back to load order of each dimension (null, -1, first).
        for dim, codes in zip(spec.dims, dims, strict=False):
            info = dim.field
            cardinal = info.cardinal if info else int(codes.max(initial=-1)) + 1
            ranks.append(_Rank(codes, cardinal + 1, -1))
        if size <= 1:
            return _RowOrder([], size)
        return _RowOrder(_combine_ranks(ranks, size), size)

    def _cube_pages(
        self, cube: _Cube, pages: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        _check_pages(pages)
        return [self._cube_page(cube, page) for page in pages]

    def _cube_page(self, cube: _Cube, page: Mapping[str, Any]) -> dict[str, Any]:
        area = _clip(page, cube.spec.width, cube.size)
        left, top, width, height = (
            area["qLeft"],
            area["qTop"],
            area["qWidth"],
            area["qHeight"],
        )
        rows = cube.order.head(top + height)[top:]
        columns = []
        for c in range(left, left + width):
            if c < len(cube.dims):
                columns.append(cube.dim_cells(c, rows))
            else:
                columns.append(cube.measure_cells(c - len(cube.dims), rows))
        matrix = list(map(list, zip(*columns, strict=True))) if columns else []
        return {
            "qMatrix": matrix,
            "qTails": [{"qUp": 0, "qDown": 0} for _ in cube.dims],
            "qArea": area,
        }

    def _cube_layout(
        self,
        cube: _Cube,
        hc_def: Mapping[str, Any],
        state: str,
        pages: list[dict[str, Any]],
        error: dict[str, Any] | None,
    ) -> dict[str, Any]:
        spec = cube.spec
        layout: dict[str, Any] = {
            "qStateName": state,
            "qSize": {"qcx": spec.width, "qcy": cube.size},
        }
        if error:
            layout["qError"] = error
        if cube.condition_message:
            layout["qCalcCondMsg"] = cube.condition_message
        layout.update(
            {
                "qDimensionInfo": [
                    self._dim_info(cube, d) for d in range(len(spec.dims))
                ],
                "qMeasureInfo": [
                    self._measure_info(cube, m) for m in range(len(spec.measures))
                ],
                "qEffectiveInterColumnSortOrder": list(spec.column_order),
                "qGrandTotalRow": [
                    _total_cell(total, measure.num_format)
                    for total, measure in zip(cube.totals, spec.measures, strict=True)
                ]
                if cube.error is None
                else [],
                "qDataPages": pages,
                "qPivotDataPages": [],
                "qStackedDataPages": [],
                "qMode": spec.mode,
                "qNoOfLeftDims": hc_def.get("qNoOfLeftDims", -1),
                "qTreeNodesOnDim": [],
                "qColumnOrder": list(hc_def.get("qColumnOrder") or []),
            }
        )
        title = self._string_expression(hc_def.get("qTitle"), state)
        if title:
            layout["qTitle"] = title
        if hc_def.get("qIndentMode"):
            layout["qIndentMode"] = True
        for key, value in hc_def.items():
            if key not in _HYPERCUBE_DEF_ONLY and key not in layout:
                layout[key] = copy.deepcopy(value)
        return layout

    def _dim_info(self, cube: _Cube, d: int) -> dict[str, Any]:
        dim = cube.spec.dims[d]
        result = _dimension_info(
            dim.field,
            dim.title,
            dim.field_def,
            cube.indicators[d],
            dict(cube.dim_counts[d]),
            cube.in_cube(d),
        )
        if dim.error is not None:
            result["qError"] = {"qErrorCode": dim.error}
        return result

    def _measure_info(self, cube: _Cube, m: int) -> dict[str, Any]:
        measure = cube.spec.measures[m]
        stats = cube.measure_stats(m)
        auto = measure.num_format is None
        if not auto:
            num_format: dict[str, Any] = dict(measure.num_format or {})
        elif stats.low is None:
            num_format = dict(UNKNOWN_FORMAT)
        elif stats.integral:
            num_format = dict(INTEGER_FORMAT)
        else:
            num_format = dict(REAL_FORMAT)
        info: dict[str, Any] = {
            "qFallbackTitle": measure.title,
            "qApprMaxGlyphCount": stats.glyphs,
            "qCardinal": 0,
            "qSortIndicator": cube.indicators[len(cube.spec.dims) + m],
            "qNumFormat": num_format,
            "qMin": NAN_TEXT if stats.low is None else wire_num(stats.low),
            "qMax": NAN_TEXT if stats.high is None else wire_num(stats.high),
        }
        if auto:
            info["qIsAutoFormat"] = True
        error = cube.measure_errors[m]
        if error is not None:
            info["qError"] = {"qErrorCode": CALC_INVALID_DEF, "qExtendedMessage": error}
        info.update({"qAttrExprInfo": [], "qAttrDimInfo": [], "qTrendLines": []})
        return info

    def _string_expression(self, value: Any, state: str) -> str:
        """Resolve a StringExpr (``{"qv": ...}``) or plain string."""
        text = _value_expression(value)
        if not text:
            return ""
        if not text.startswith("="):
            return text
        try:
            return str(self.evaluate(text, state)["qText"])
        except EngineError:
            return text

    # -- list objects --------------------------------------------------------

    def list_object_layout(
        self, lo_def: Mapping[str, Any], state: str = DEFAULT_STATE
    ) -> dict[str, Any]:
        """The computed qListObject of a qListObjectDef.

        Every value of the field is listed with its state. With
        ``qShowAlternatives`` false, alternatives show as X in the matrix
        but still count as qAlternative.
        """
        state = _state_of(lo_def, state)
        with self._lock:
            listing = self._listing(lo_def, state)
            layout: dict[str, Any] = {
                "qStateName": state,
                "qSize": {"qcx": 1, "qcy": listing.size},
            }
            pages: list[dict[str, Any]] = []
            error: dict[str, Any] | None = None
            try:
                pages = self._list_pages(listing, lo_def.get("qInitialDataFetch") or [])
            except EngineError as exc:
                error = {"qErrorCode": exc.code}
            if error:
                layout["qError"] = error
            # Layouts leave the engine; never hand out the cached objects.
            layout["qDimensionInfo"] = copy.deepcopy(listing.info)
            layout["qExpressions"] = []
            layout["qDataPages"] = pages
            for key, value in lo_def.items():
                if key not in _LIST_DEF_ONLY and key not in layout:
                    layout[key] = copy.deepcopy(value)
            return layout

    def list_object_data(
        self,
        lo_def: Mapping[str, Any],
        pages: Sequence[Mapping[str, Any]],
        state: str = DEFAULT_STATE,
    ) -> list[dict[str, Any]]:
        """The qDataPages of GetListObjectData.

        Raises:
            EngineError: A page asks for more than 10,000 cells (code 7009).
        """
        state = _state_of(lo_def, state)
        with self._lock:
            return self._list_pages(self._listing(lo_def, state), pages)

    def _listing(self, lo_def: Mapping[str, Any], state: str) -> _Listing:
        key = ("list", state, self._state(state).version, _def_key(lo_def))
        listing = self._cached(key)
        if listing is None:
            listing = self._build_listing(lo_def, state)
            self._remember(key, listing)
        assert isinstance(listing, _Listing)
        return listing

    def _build_listing(self, lo_def: Mapping[str, Any], state: str) -> _Listing:
        inline = lo_def.get("qDef") or {}
        field_def, label = _field_def(inline)
        info = _resolve_field(self.app, field_def)
        assoc = self._association(state)
        sorts = inline.get("qSortCriterias") or [{}]
        criteria = _Criteria.parse(sorts[0], bool(inline.get("qReverseSort")))
        if info is None:
            counts = dict.fromkeys(_COUNT_KEYS, 0)
            dim_info = _dimension_info(
                None, label or field_def, field_def, "N", counts, None
            )
            dim_info["qError"] = {"qErrorCode": CALC_INVALID_DEF}
            return _Listing(
                None, np.empty(0, dtype=np.int64), np.empty(0, np.uint8), dim_info, None
            )
        states = assoc.states(info.index)
        by_value = Column(np.empty(0))
        if criteria.expression is not None:
            by_value = Column(
                self._expression_by_value(info, criteria.expression, state)
            )
        order = _list_order(info, assoc, criteria, lo_def, by_value)
        shown = states.copy()
        if not lo_def.get("qShowAlternatives"):
            shown[shown == ALTERNATIVE] = EXCLUDED
        dim_info = _dimension_info(
            info,
            label or field_def,
            field_def,
            criteria.indicator,
            assoc.state_counts(info.index),
            None,
        )
        if info.index in self._state(state).locked:
            dim_info["qLocked"] = True
        mode = _short(lo_def.get("qFrequencyMode"), _FREQUENCY_MODES, "N")
        frequency = _frequencies(assoc, info, mode)
        return _Listing(info, order, shown, dim_info, frequency)

    def _list_pages(
        self, listing: _Listing, pages: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        _check_pages(pages)
        return [listing.page(page) for page in pages]

    def _expression_by_value(
        self, info: FieldInfo, node: ex.Node, state: str
    ) -> FloatArray:
        """An expression evaluated per value of a field (NaN where not possible)."""
        assoc = self._association(state)
        computed, ok = self._run_measures([info], [node], assoc)
        result = np.full(info.cardinal + 1, np.nan)
        if ok[0] and computed.size:
            column = ex.evaluate(node, computed.values, computed.size)
            result[computed.dims[0]] = column.nums
        return result[: info.cardinal]

    # -- expressions -----------------------------------------------------------

    def evaluate(self, expr: str, state: str = DEFAULT_STATE) -> dict[str, Any]:
        """Evaluate an expression over the possible records (Doc.EvaluateEx).

        Args:
            expr: The expression, with or without a leading ``=``.
            state: The selection state.

        Returns:
            A FieldValue dict ``{"qText", "qIsNumeric", "qNumber"}``; NULL is
            ``{"qText": "-", "qIsNumeric": False, "qNumber": "NaN"}``.

        Raises:
            EngineError: The expression is not valid or cannot be computed
                (code 7000).
        """
        try:
            node = ex.lift_fields(ex.parse(expr))
        except ex.ExpressionError as exc:
            raise EngineError(
                CALC_INVALID_DEF, expr, f"Invalid expression: {exc}"
            ) from exc
        with self._lock:
            computed, ok = self._run_measures([], [node], self._association(state))
            if not ok[0]:
                raise EngineError(CALC_INVALID_DEF, expr, "Invalid expression")
            try:
                column = ex.evaluate(node, computed.totals, 1)
            except ex.ExpressionError as exc:
                raise EngineError(
                    CALC_INVALID_DEF, expr, f"Invalid expression: {exc}"
                ) from exc
        num = float(column.nums[0])
        text = column.text_at(0, None)
        return {
            "qText": text,
            "qIsNumeric": not math.isnan(num),
            "qNumber": wire_num(num),
        }


# --------------------------------------------------------------------------
# Helpers shared by hypercubes and list objects


@dataclass
class _Listing:
    """A computed, sorted list object."""

    field: FieldInfo | None
    order: IntArray
    states: StateArray
    info: dict[str, Any]
    frequency: list[str] | None

    @property
    def size(self) -> int:
        return len(self.order)

    def page(self, page: Mapping[str, Any]) -> dict[str, Any]:
        area = _clip(page, 1, self.size)
        matrix: list[list[dict[str, Any]]] = []
        if self.field is not None and area["qWidth"]:
            top = area["qTop"]
            for elem in self.order[top : top + area["qHeight"]].tolist():
                cell = _value_cell(self.field, elem, self.states)
                if self.frequency is not None:
                    cell["qFrequency"] = self.frequency[elem]
                matrix.append([cell])
        return {"qMatrix": matrix, "qTails": [], "qArea": area}


def _value_expression(value: Any) -> str:
    """The text of a ValueExpr/StringExpr (``{"qv": ...}``) or a plain string."""
    text = value.get("qv", "") if isinstance(value, Mapping) else value
    return text.strip() if isinstance(text, str) else ""


def _short(value: Any, names: Mapping[str, str], default: str) -> str:
    """An enum value in its short wire form."""
    if not value:
        return default
    text = str(value)
    return names.get(text, text)


def _def_key(definition: Mapping[str, Any]) -> str:
    """A cache key for a def; the initial fetch does not change the result."""
    relevant = {k: v for k, v in definition.items() if k != "qInitialDataFetch"}
    return json.dumps(relevant, sort_keys=True, default=str)


def _state_of(definition: Mapping[str, Any], state: str) -> str:
    """The state a def runs in: its own qStateName, else the given one."""
    own = definition.get("qStateName")
    return str(own) if own else (state or DEFAULT_STATE)


def _check_pages(pages: Sequence[Mapping[str, Any]]) -> None:
    for page in pages:
        cells = int(page.get("qWidth", 0) or 0) * int(page.get("qHeight", 0) or 0)
        if cells > MAX_PAGE_CELLS:
            raise EngineError(
                CALC_PAGES_TOO_LARGE,
                f"{cells} cells",
                f"Calculation pages too large: at most {MAX_PAGE_CELLS} cells per page",
            )


def _clip(page: Mapping[str, Any], width: int, height: int) -> dict[str, int]:
    """The requested area, clipped to the cube."""
    left = max(0, int(page.get("qLeft", 0) or 0))
    top = max(0, int(page.get("qTop", 0) or 0))
    want_w = max(0, int(page.get("qWidth", 0) or 0))
    want_h = max(0, int(page.get("qHeight", 0) or 0))
    w = max(0, min(want_w, width - left))
    h = max(0, min(want_h, height - top))
    if w == 0 or h == 0:
        w = h = 0
    return {"qLeft": left, "qTop": top, "qWidth": w, "qHeight": h}


def _dim_counts(assoc: _Association, info: FieldInfo | None) -> dict[str, int]:
    if info is None:
        return dict.fromkeys(_COUNT_KEYS, 0)
    return assoc.state_counts(info.index)


def _dimension_info(
    info: FieldInfo | None,
    title: str,
    field_def: str,
    indicator: str,
    counts: dict[str, int],
    in_cube: BoolArray | None,
) -> dict[str, Any]:
    """NxDimensionInfo; ``in_cube`` marks the values present (None: all)."""
    cardinal = info.cardinal if info else 0
    present = (
        in_cube[:cardinal] if in_cube is not None else np.ones(cardinal, dtype=bool)
    )
    numeric = bool(info and info.numeric)
    nums = info.nums[present] if info is not None else np.empty(0)
    result: dict[str, Any] = {
        "qFallbackTitle": title,
        "qApprMaxGlyphCount": info.max_glyphs if info else 0,
        "qCardinal": cardinal,
        "qSortIndicator": indicator,
        "qGroupFallbackTitles": [title],
        "qGroupPos": 0,
        "qStateCounts": counts,
        "qTags": info.tags if info else [],
        "qDimensionType": "N" if numeric else "D",
        "qGrouping": "N",
        "qNumFormat": dict(
            (INTEGER_FORMAT if info and info.integer else REAL_FORMAT)
            if numeric
            else UNKNOWN_FORMAT
        ),
        "qIsAutoFormat": True,
        "qGroupFieldDefs": [field_def],
        "qMin": wire_num(float(nums.min())) if numeric and len(nums) else NAN_TEXT,
        "qMax": wire_num(float(nums.max())) if numeric and len(nums) else NAN_TEXT,
    }
    if numeric:
        result["qContinuousAxes"] = True
    result.update(
        {
            "qAttrExprInfo": [],
            "qAttrDimInfo": [],
            "qCardinalities": {
                "qCardinal": cardinal,
                "qHypercubeCardinal": int(np.count_nonzero(present)),
                "qAllValuesCardinal": -1,
            },
        }
    )
    return result


def _glyphs(
    column: Column,
    order: _RowOrder,
    num_format: Mapping[str, Any] | None,
    extremes: Sequence[float],
) -> int:
    """Approximate the longest text of a measure: extremes plus a sample.

    The sample is the first rows of the sorted cube; each extreme is its
    first row in sorted order (rows with equal numbers can differ in text).
    """
    nums = column.nums
    size = len(nums)
    if not size:
        return 0
    rows = [order.head(min(size, _GLYPH_SAMPLE))]
    for value in extremes:
        matches = nums == value
        if column.texts is None:
            # Text follows from the number alone: any such row will do.
            first = int(np.argmax(matches))
        else:
            first = order.earliest(np.flatnonzero(matches))
        rows.append(np.array([first], dtype=np.int64))
    picked = np.unique(np.concatenate(rows))
    texts = _column_texts(column.take(picked), num_format)
    return max(len(text) for text in texts)


def _null_last(values: FloatArray, direction: int) -> list[Any]:
    """Two sort keys: missing values last, then the values in ``direction``."""
    missing = np.isnan(values)
    return [missing.astype(np.int64), np.where(missing, 0.0, values * direction)]


def _slot_keys(
    info: FieldInfo, kind: str, direction: int, assoc: _Association
) -> list[Any]:
    """Lexsort keys of one criterion over a field's slots.

    The slots are the element numbers plus one last slot for null; only
    ``"expression"`` has no per-value keys (it depends on the whole row).
    """
    if kind == "state":
        return [np.append(_STATE_RANK[assoc.states(info.index)], 4) * direction]
    if kind == "frequency":
        return [assoc.frequency(info.index) * direction]
    if kind == "numeric":
        return _null_last(np.append(info.nums, np.nan), direction)
    if kind == "ascii":
        return [info.ascii_rank * direction]
    if kind == "load":
        return [np.arange(info.cardinal + 1, dtype=np.int64) * direction]
    return []


def _dim_keys(
    dim: _Dim, codes: CodeArray, assoc: _Association, sort_values: Column
) -> list[Any]:
    """Lexsort keys (most significant first) for a dimension column."""
    info = dim.field
    if info is None:
        return []
    safe = np.where(codes < 0, info.cardinal, codes)
    keys: list[Any] = [(codes < 0).astype(np.int64)]
    for kind, direction in dim.criteria.keys:
        if kind == "expression":
            keys += _null_last(sort_values.nums, direction)
        else:
            keys += [key[safe] for key in _slot_keys(info, kind, direction, assoc)]
    return keys


# --------------------------------------------------------------------------
# Sorting cube rows
#
# Every sort key becomes a rank: an integer per row out of K values, where
# rows compare as their keys do. A dimension's per-value keys (null flag, state,
# frequency, numeric, ascii, load) fold into one rank per element number,
# computed over the field's few distinct values; only expression and
# measure keys are ranked over the rows. Ranks then combine, as digits of a
# mixed-radix number, into as few int64 keys as fit in 63 bits: usually
# one, which a single argsort (or, for a page, a partition) orders.


class _Rank(NamedTuple):
    """A sort key as integers: rows compare as their ``values`` do.

    The values lie in ``[low, low + span)``.
    """

    values: npt.NDArray[np.signedinteger[Any]]
    span: int
    low: int = 0


def _dense_rank(keys: Sequence[Any]) -> tuple[IntArray, int]:
    """Rank values by lexsort keys (most significant first); ties share one."""
    size = len(keys[0])
    order = np.lexsort(keys[::-1])
    starts = np.zeros(size, dtype=bool)
    starts[:1] = True
    for key in keys:
        ordered = key[order]
        starts[1:] |= ordered[1:] != ordered[:-1]
    ranks = np.empty(size, dtype=np.int64)
    ranks[order] = np.cumsum(starts) - 1
    return ranks, int(np.count_nonzero(starts))


def _value_rank(values: FloatArray, direction: int) -> _Rank:
    """The rank of :func:`_null_last`'s keys: values in ``direction``, NaN last."""
    missing = np.isnan(values)
    # np.unique, like lexsort, counts -0.0 and 0.0 as equal.
    distinct, inverse = np.unique(values[~missing], return_inverse=True)
    count = len(distinct)
    ranks = np.full(len(values), count, dtype=np.int64)
    ranks[~missing] = inverse if direction > 0 else count - 1 - inverse
    return _Rank(ranks, count + 1)


def _dim_ranks(
    dim: _Dim, codes: CodeArray, assoc: _Association, sort_values: Column | None
) -> list[_Rank]:
    """The ranks of :func:`_dim_keys`, one per run of per-value keys."""
    info = dim.field
    if info is None:
        return []
    nulls = bool((codes < 0).any())
    safe = np.where(codes < 0, info.cardinal, codes) if nulls else codes
    slots = np.arange(info.cardinal + 1)
    ranks: list[_Rank] = []
    null_flag = (slots == info.cardinal).astype(np.int64)
    pending: list[Any] = [null_flag]

    def fold() -> None:
        # Without nulls, a lone null flag is the same for every row.
        alone = len(pending) == 1 and pending[0] is null_flag
        if pending and (nulls or not alone):
            slot_ranks, count = _dense_rank(pending)
            ranks.append(_Rank(slot_ranks[safe], count))
        pending.clear()

    for kind, direction in dim.criteria.keys:
        if kind == "expression" and sort_values is not None:
            fold()
            ranks.append(_value_rank(sort_values.nums, direction))
        else:
            pending += _slot_keys(info, kind, direction, assoc)
    fold()
    return ranks


def _measure_ranks(
    measure: _Measure, column: Column, sort_values: Column | None
) -> list[_Rank]:
    """The ranks of a measure column's keys (numeric, text or expression)."""
    ranks: list[_Rank] = []
    for kind, direction in measure.criteria.keys:
        if kind == "numeric":
            ranks.append(_value_rank(column.nums, direction))
        elif kind == "ascii":
            texts = [
                text.casefold() for text in _column_texts(column, measure.num_format)
            ]
            distinct, inverse = np.unique(
                np.asarray(texts, dtype=object), return_inverse=True
            )
            count = len(distinct)
            inverse = inverse.astype(np.int64)
            ranks.append(
                _Rank(inverse if direction > 0 else count - 1 - inverse, count)
            )
        elif kind == "expression" and sort_values is not None:
            ranks.append(_value_rank(sort_values.nums, direction))
    return ranks


# Ranks combine while the product of their spans stays within int64.
_KEY_LIMIT = 2**63


def _combine_ranks(ranks: Sequence[_Rank], size: int) -> list[IntArray]:
    """Fold ranks (most significant first) into as few int64 keys as fit.

    Each key is a mixed-radix number with one rank per digit. A digit is
    its rank's values as they are: ``low`` adds the same constant to every
    key, which leaves their order alone and keeps them within int64.
    """
    if math.prod(rank.span for rank in ranks) > _KEY_LIMIT:
        # Spans are over all values of a field; the cube may hold fewer.
        ranks = [_compact(rank, size) for rank in ranks]
    keys: list[IntArray] = []
    radix = _KEY_LIMIT
    for values, span, _ in ranks:
        if span <= 1:
            continue  # the same for every row: it orders nothing
        if radix * span <= _KEY_LIMIT:
            # In place: every new array of a cube's size costs page faults.
            keys[-1] *= span
            keys[-1] += values
            radix *= span
        else:
            keys.append(values.astype(np.int64))
            radix = span
    return keys


def _compact(rank: _Rank, size: int) -> _Rank:
    """Renumber a rank over the values present only."""
    values = rank.values - rank.low if rank.low else rank.values
    if rank.span <= size:
        present = np.zeros(rank.span, dtype=bool)
        present[values] = True
        kept = int(np.count_nonzero(present))
        if kept < rank.span:
            return _Rank((np.cumsum(present) - 1)[values], kept)
        return _Rank(values, rank.span)
    distinct, inverse = np.unique(values, return_inverse=True)
    return _Rank(inverse.astype(np.int64), len(distinct))


# A page this many times smaller than the cube is cut out with a partition
# rather than a full sort.
_PARTIAL_FACTOR = 8
# Sampled keys under the guessed bound of a top (see below).
_SAMPLE_UNDER = 32


def _at_most_smallest(key: IntArray, count: int) -> IntArray:
    """The rows (ascending) whose key is at most the count-th smallest one.

    Partitioning every key costs more than the rest of a top, so a strided
    sample first guesses a bound a little past it; when at least ``count``
    keys lie under the guess, the exact bound is among them alone.
    """
    # Each sampled key stands for ``step`` rows: about 2 * count under it.
    step = max(1, 2 * count // (_SAMPLE_UNDER + 1))
    sample = key[::step]
    rank = min(len(sample) - 1, _SAMPLE_UNDER)
    guess = np.partition(sample, rank)[rank]
    under = np.flatnonzero(key <= guess)
    if len(under) < count:
        bound = np.partition(key, count - 1)[count - 1]
        return np.flatnonzero(key <= bound)
    values = key[under]
    bound = np.partition(values, count - 1)[count - 1]
    rows: IntArray = under[values <= bound]
    return rows


class _RowOrder:
    """The sorted order of a cube's rows, computed as far as it is needed.

    ``keys`` compare rows like ``np.lexsort(keys[::-1])``, ties in row order.
    A first page needs only the top rows: a (sampled) partition finds the
    key they stay under, and only the rows at or under it are sorted. The full order
    waits for a page (or a selection) beyond them. Callers hold the doc's
    lock, which guards the lazy state.
    """

    def __init__(self, keys: list[IntArray], size: int) -> None:
        self.size = size
        self._keys = keys
        self._head: IntArray = np.empty(0, dtype=np.int64)
        self._full: IntArray | None = None
        if not keys:
            self._full = np.arange(size, dtype=np.int64)

    def head(self, stop: int) -> IntArray:
        """The first ``stop`` rows in sorted order (all of them at most)."""
        stop = max(0, min(stop, self.size))
        if self._full is not None:
            return self._full[:stop]
        if stop > len(self._head):
            # A sample of the first rows feeds qApprMaxGlyphCount too.
            want = max(stop, _GLYPH_SAMPLE)
            # Past the first head, paging on would repeat partitions that
            # together cost more than one full sort.
            if len(self._head) or want * _PARTIAL_FACTOR >= self.size:
                return self.full()[:stop]
            self._head = self._top(want)
        return self._head[:stop]

    def full(self) -> IntArray:
        """Every row in sorted order."""
        if self._full is None:
            self._full = self._sorted(np.arange(self.size, dtype=np.int64))
            self._head = np.empty(0, dtype=np.int64)
        return self._full

    def earliest(self, rows: IntArray) -> int:
        """Of some rows (ascending), the one that sorts first."""
        return int(self._sorted(rows)[0])

    def _top(self, count: int) -> IntArray:
        first = self._keys[0]
        # Rows past the count-th smallest first key cannot be in the top.
        rows = _at_most_smallest(first, count)
        return self._sorted(rows)[:count]

    def _sorted(self, rows: IntArray) -> IntArray:
        """``rows`` (ascending) in sorted order, ties staying in row order."""
        if not self._keys:
            return rows
        if len(self._keys) == 1:
            key = self._keys[0] if len(rows) == self.size else self._keys[0][rows]
            return rows[np.argsort(key, kind="stable")]
        return rows[np.lexsort([key[rows] for key in self._keys[::-1]])]


def _list_order(
    info: FieldInfo,
    assoc: _Association,
    criteria: _Criteria,
    lo_def: Mapping[str, Any],
    by_value: Column,
) -> IntArray:
    """Element numbers of a list object, sorted."""
    elems = np.arange(info.cardinal, dtype=np.int32)
    keys: list[Any] = []
    auto = lo_def.get("qAutoSortByState") or {}
    rows = int(
        auto.get("qDisplayNumberOfRows", -1) if isinstance(auto, Mapping) else -1
    )
    if 0 < rows < info.cardinal:
        keys.append(_STATE_RANK[assoc.states(info.index)].astype(np.int64))
    dim = _Dim(info, info.name, info.name, criteria, False)
    keys += _dim_keys(dim, elems, assoc, by_value)[1:]
    keys.append(elems.astype(np.int64))
    return np.lexsort(keys[::-1]).astype(np.int64)


def _frequencies(assoc: _Association, info: FieldInfo, mode: str) -> list[str] | None:
    """qFrequency texts for a list object (modes V, P and R), else None."""
    if mode not in ("V", "P", "R"):
        return None
    counts = assoc.frequency(info.index)[: info.cardinal]
    if mode == "V":
        return [str(int(n)) for n in counts]
    total = int(counts.sum()) or 1
    return [f"{format_auto(round(100.0 * int(n) / total, 1))}%" for n in counts]


def _match_value(info: FieldInfo, value: Mapping[str, Any]) -> int | None:
    """The element number a FieldValue dict names, if any."""
    if value.get("qIsNumeric"):
        number = value.get("qNumber")
        if isinstance(number, int | float) and float(number) in info.by_number:
            return info.by_number[float(number)]
    text = value.get("qText")
    if isinstance(text, str):
        return info.by_text.get(text)
    return None


_CRITERION = re.compile(r"(<=|>=|<|>|=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def _numeric_criteria(text: str) -> list[tuple[str, float]]:
    """Parse ``>=2<8`` into [(">=", 2), ("<", 8)]; [] if it is not that form."""
    if not text or text[0] not in "<>=":
        return []
    found: list[tuple[str, float]] = []
    pos = 0
    while pos < len(text):
        match = _CRITERION.match(text, pos)
        if match is None:
            return []
        found.append((match.group(1), float(match.group(2))))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return found


def _numeric_matches(info: FieldInfo, criteria: list[tuple[str, float]]) -> list[int]:
    nums = info.nums
    keep = ~np.isnan(nums)
    tests = {
        "<": np.less,
        "<=": np.less_equal,
        ">": np.greater,
        ">=": np.greater_equal,
        "=": np.equal,
    }
    with np.errstate(invalid="ignore"):
        for op, bound in criteria:
            keep &= tests[op](nums, bound)
    return np.flatnonzero(keep).tolist()


def _in_range(cube: _Cube, spec: Mapping[str, Any]) -> BoolArray:
    """Rows whose measure ``qMeasureIx`` lies in ``qRange``."""
    index = int(spec.get("qMeasureIx", 0) or 0)
    if not 0 <= index < len(cube.measures):
        return np.zeros(cube.size, dtype=bool)
    bounds = spec.get("qRange") or {}
    # Positions in the sorted cube, as the caller selects by them.
    nums = cube.measures[index].nums[cube.order.head(cube.size)]
    low, high = bounds.get("qMin"), bounds.get("qMax")
    keep: BoolArray = ~np.isnan(nums)
    with np.errstate(invalid="ignore"):
        if isinstance(low, int | float):
            keep &= nums >= low if bounds.get("qMinInclEq", True) else nums > low
        if isinstance(high, int | float):
            keep &= nums <= high if bounds.get("qMaxInclEq", True) else nums < high
    return keep


def _word_matches(info: FieldInfo, text: str) -> list[int]:
    """Values in which every search word starts a word of the value."""
    words = text.casefold().split()
    if not words:
        return []
    found = []
    for elem, value in enumerate(info.texts):
        starts = re.split(r"\W+", value.casefold())
        if all(any(part.startswith(w) for part in starts) for w in words):
            found.append(elem)
    return found


def _to_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None

"""The dashboard's engine objects and the compact views the page draws.

Each panel of the page is one session object on the engine. Its live layout
is turned into a small JSON-ready dict (a *view*) by a pure function here, so
the page never sees a QIX layout and the conversions are tested on their own.

Numbers travel as JSON numbers, or ``null`` where the engine says ``"NaN"``
(an average over no rows); the engine's formatted text travels beside them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

CARRIER_FIELD = "carrier"
MONTH_FIELD = "month"

#: Fields the page may select in or clear, by the name it uses for them.
SELECTABLE_FIELDS = (CARRIER_FIELD, MONTH_FIELD)

STATE_NAMES = {
    "S": "selected",
    "O": "possible",
    "A": "alternative",
    "X": "excluded",
    "L": "locked",
    "XS": "excluded-selected",
    "XL": "excluded-locked",
}

View = dict[str, Any]


def _fetch(width: int, height: int) -> list[dict[str, int]]:
    return [{"qLeft": 0, "qTop": 0, "qWidth": width, "qHeight": height}]


def list_object(field: str, kind: str, numeric: bool) -> dict[str, Any]:
    """A list object over ``field`` that shows alternatives as ``A``."""
    sort = {"qSortByNumeric": 1} if numeric else {"qSortByAscii": 1}
    return {
        "qInfo": {"qType": kind},
        "qListObjectDef": {
            "qDef": {"qFieldDefs": [field], "qSortCriterias": [sort]},
            "qShowAlternatives": True,
            "qInitialDataFetch": _fetch(1, 100),
        },
    }


def _measure(expression: str, label: str) -> dict[str, Any]:
    return {"qDef": {"qDef": expression, "qLabel": label}}


CARRIER_LIST = list_object(CARRIER_FIELD, "rxqix-dashboard-carriers", numeric=False)
MONTH_LIST = list_object(MONTH_FIELD, "rxqix-dashboard-months", numeric=True)

MONTH_CHART: dict[str, Any] = {
    "qInfo": {"qType": "rxqix-dashboard-chart"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": [MONTH_FIELD]}}],
        "qMeasures": [
            _measure("Count(flight)", "Flights"),
            _measure("Avg(dep_delay)", "Mean dep. delay (min)"),
        ],
        "qInitialDataFetch": _fetch(3, 12),
    },
}

CARRIER_TABLE: dict[str, Any] = {
    "qInfo": {"qType": "rxqix-dashboard-table"},
    "qHyperCubeDef": {
        "qDimensions": [
            {"qDef": {"qFieldDefs": [CARRIER_FIELD], "qFieldLabels": ["Carrier"]}},
            {"qDef": {"qFieldDefs": ["airline"], "qFieldLabels": ["Airline"]}},
        ],
        "qMeasures": [
            {
                **_measure("Count(flight)", "Flights"),
                "qSortBy": {"qSortByNumeric": -1},
            },
            _measure("Avg(dep_delay)", "Mean dep. delay (min)"),
            _measure("Avg(arr_delay)", "Mean arr. delay (min)"),
        ],
        "qInterColumnSortOrder": [2, 0, 1, 3, 4],
        "qInitialDataFetch": _fetch(5, 40),
    },
}

SELECTIONS: dict[str, Any] = {
    "qInfo": {"qType": "rxqix-dashboard-selections"},
    "qSelectionObjectDef": {},
}


def number(cell: Mapping[str, Any]) -> float | int | None:
    """A cell's ``qNum`` as a JSON number; None for NaN or a missing value."""
    value = cell.get("qNum")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value


def _matrix(pages: Any) -> list[list[dict[str, Any]]]:
    rows: list[list[dict[str, Any]]] = []
    for page in pages or ():
        rows.extend(page.get("qMatrix") or ())
    return rows


def list_view(layout: Mapping[str, Any]) -> View:
    """A list object layout as ``{"values": [{elem, text, num, state}]}``."""
    lo = layout["qListObject"]
    values = [
        {
            "elem": row[0]["qElemNumber"],
            "text": row[0]["qText"],
            "num": number(row[0]),
            "state": row[0]["qState"],
        }
        for row in _matrix(lo.get("qDataPages"))
        if row
    ]
    counts = lo.get("qDimensionInfo", {}).get("qStateCounts") or {}
    return {"values": values, "selected": counts.get("qSelected", 0)}


def _total(cube: Mapping[str, Any], index: int) -> float | int | None:
    totals = cube.get("qGrandTotalRow") or []
    return number(totals[index]) if index < len(totals) else None


def chart_view(layout: Mapping[str, Any]) -> View:
    """The per-month cube as ``{"rows": [{month, label, flights, dep_delay}]}``.

    Rows are in month order; the page draws one bar per row.
    """
    cube = layout["qHyperCube"]
    rows = [
        {
            "month": number(month),
            "label": month["qText"],
            "flights": number(flights),
            "dep_delay": number(delay),
        }
        for month, flights, delay in (row[:3] for row in _matrix(cube["qDataPages"]))
    ]
    rows.sort(key=lambda row: (row["month"] is None, row["month"] or 0))
    return {"rows": rows}


def table_view(layout: Mapping[str, Any]) -> View:
    """The per-carrier cube as rows and a total line, most flights first."""
    cube = layout["qHyperCube"]
    rows = [
        {
            "carrier": carrier["qText"],
            "airline": airline["qText"],
            "flights": number(flights),
            "dep_delay": number(dep),
            "arr_delay": number(arr),
        }
        for carrier, airline, flights, dep, arr in (
            row[:5] for row in _matrix(cube["qDataPages"])
        )
    ]
    total = {
        "flights": _total(cube, 0),
        "dep_delay": _total(cube, 1),
        "arr_delay": _total(cube, 2),
    }
    return {"rows": rows, "total": total, "size": cube["qSize"]["qcy"]}


def selections_view(layout: Mapping[str, Any]) -> View:
    """The selection object as its fields and one line of text.

    The text reads like Qlik's selection bar: ``carrier: UA | month: 6, 7``,
    or ``No selections``.
    """
    items = [
        {
            "field": item["qField"],
            "text": item["qSelected"],
            "count": item["qSelectedCount"],
            "total": item["qTotal"],
        }
        for item in layout["qSelectionObject"].get("qSelections") or ()
    ]
    text = " | ".join(f"{i['field']}: {i['text']}" for i in items)
    return {"items": items, "text": text or "No selections"}


#: The panels: message type, object properties, layout to view.
PANELS: tuple[tuple[str, dict[str, Any], Callable[[Mapping[str, Any]], View]], ...] = (
    ("carriers", CARRIER_LIST, list_view),
    ("months", MONTH_LIST, list_view),
    ("chart", MONTH_CHART, chart_view),
    ("table", CARRIER_TABLE, table_view),
    ("selections", SELECTIONS, selections_view),
)

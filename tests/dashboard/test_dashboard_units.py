"""The dashboard's pure parts: views from layouts, commands, outbox, debounce."""

from __future__ import annotations

import asyncio
import json

import pytest

from rxqix.dashboard.board import (
    MAX_COMMAND_SIZE,
    Clear,
    CommandError,
    Debouncer,
    Months,
    Outbox,
    Select,
    app_from_url,
    parse_command,
)
from rxqix.dashboard.server import asset
from rxqix.dashboard.views import (
    chart_view,
    list_view,
    number,
    selections_view,
    table_view,
)


def cell(text, num="NaN", state="L", elem=0):
    return {"qText": text, "qNum": num, "qElemNumber": elem, "qState": state}


# -- views -------------------------------------------------------------------


def test_number_maps_nan_and_keeps_integers_exact():
    assert number({"qNum": "NaN"}) is None
    assert number({"qNum": float("nan")}) is None
    assert number({"qNum": 58665.0}) == 58665
    assert isinstance(number({"qNum": 58665.0}), int)
    assert number({"qNum": 12.5}) == 12.5
    assert number({"qNum": True}) is None
    assert number({}) is None


def test_list_view_keeps_elem_text_number_and_state():
    layout = {
        "qListObject": {
            "qDimensionInfo": {"qStateCounts": {"qSelected": 1}},
            "qDataPages": [
                {
                    "qMatrix": [
                        [cell("UA", state="S", elem=0)],
                        [cell("AA", state="A", elem=1)],
                        [cell("OO", state="X", elem=14)],
                    ]
                }
            ],
        }
    }
    assert list_view(layout) == {
        "values": [
            {"elem": 0, "text": "UA", "num": None, "state": "S"},
            {"elem": 1, "text": "AA", "num": None, "state": "A"},
            {"elem": 14, "text": "OO", "num": None, "state": "X"},
        ],
        "selected": 1,
    }


def test_chart_view_orders_months_and_maps_nan_to_null():
    matrix = [
        [cell("10", 10, "O"), cell("28889", 28889), cell("-", "NaN")],
        [cell("2", 2, "O"), cell("24951", 24951), cell("10.8", 10.8)],
    ]
    layout = {"qHyperCube": {"qDataPages": [{"qMatrix": matrix}]}}
    assert chart_view(layout) == {
        "rows": [
            {"month": 2, "label": "2", "flights": 24951, "dep_delay": 10.8},
            {"month": 10, "label": "10", "flights": 28889, "dep_delay": None},
        ]
    }


def test_table_view_has_rows_total_and_size():
    matrix = [
        [
            cell("UA", state="O"),
            cell("United Air Lines Inc.", state="O"),
            cell("58665", 58665),
            cell("12.1", 12.1),
            cell("3.6", 3.6),
        ]
    ]
    layout = {
        "qHyperCube": {
            "qSize": {"qcx": 5, "qcy": 1},
            "qDataPages": [{"qMatrix": matrix}],
            "qGrandTotalRow": [cell("58665", 58665), cell("12.1", 12.1)],
        }
    }
    view = table_view(layout)
    assert view["rows"] == [
        {
            "carrier": "UA",
            "airline": "United Air Lines Inc.",
            "flights": 58665,
            "dep_delay": 12.1,
            "arr_delay": 3.6,
        }
    ]
    assert view["total"] == {"flights": 58665, "dep_delay": 12.1, "arr_delay": None}
    assert view["size"] == 1


def test_selections_view_reads_like_a_selection_bar():
    empty = {"qSelectionObject": {"qSelections": []}}
    assert selections_view(empty) == {"items": [], "text": "No selections"}
    layout = {
        "qSelectionObject": {
            "qSelections": [
                {
                    "qField": "carrier",
                    "qSelected": "UA",
                    "qSelectedCount": 1,
                    "qTotal": 16,
                },
                {
                    "qField": "month",
                    "qSelected": "6, 7",
                    "qSelectedCount": 2,
                    "qTotal": 12,
                },
            ]
        }
    }
    view = selections_view(layout)
    assert view["text"] == "carrier: UA | month: 6, 7"
    assert [i["field"] for i in view["items"]] == ["carrier", "month"]
    json.dumps(view, allow_nan=False)


# -- commands ----------------------------------------------------------------


def test_parse_command_reads_each_kind():
    assert parse_command('{"type": "select", "field": "carrier", "elems": [3]}') == (
        Select("carrier", (3,), True)
    )
    assert parse_command(
        {"type": "select", "field": "month", "elems": [1, 1, 2], "toggle": False}
    ) == Select("month", (1, 2), False)
    assert parse_command({"type": "months", "months": [8, 6, 6]}) == Months((6, 8))
    assert parse_command({"type": "months", "months": []}) == Months(())
    assert parse_command({"type": "clear"}) == Clear(None)
    assert parse_command(b'{"type": "clear", "field": "month"}') == Clear("month")


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ({"type": "drop"}, "unknown command"),
        ({"type": "select", "field": "dest", "elems": [0]}, "field must be"),
        ({"type": "select", "field": "carrier", "elems": "0"}, "list"),
        ({"type": "select", "field": "carrier", "elems": [True]}, "integers"),
        ({"type": "select", "field": "carrier", "elems": [-1]}, "negative"),
        ({"type": "select", "field": "carrier", "elems": [0], "toggle": 1}, "toggle"),
        ({"type": "months", "months": [0]}, "1 to 12"),
        ({"type": "months", "months": [13]}, "1 to 12"),
        ({"type": "months", "months": list(range(2000))}, "at most"),
        ({"type": "clear", "field": "origin"}, "field must be"),
        ("x" * (MAX_COMMAND_SIZE + 1), "too large"),
    ],
)
def test_parse_command_refuses_bad_messages(message, complaint):
    with pytest.raises(CommandError, match=complaint):
        parse_command(message)


def test_app_from_url():
    assert app_from_url("ws://127.0.0.1:1/app/nycflights13") == "nycflights13"
    assert app_from_url("ws://h:1/prefix/app/my%20app/identity/x") == "my app"
    assert app_from_url("ws://h:1/app/") is None
    assert app_from_url("ws://h:1/") is None


# -- outbox and debounce -----------------------------------------------------


async def test_outbox_keeps_the_newest_message_of_each_type():
    box = Outbox()
    box.put({"type": "table", "n": 1})
    box.put({"type": "chart", "n": 1})
    box.put({"type": "table", "n": 2})
    assert await box.get() == [{"type": "chart", "n": 1}, {"type": "table", "n": 2}]
    assert box.take() == []
    waiting = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    box.put({"type": "error", "message": "x"})
    assert await waiting == [{"type": "error", "message": "x"}]


async def test_debouncer_emits_only_the_last_of_a_burst():
    emitted: list[int] = []
    debouncer = Debouncer(0.05, emitted.append)
    for value in range(10):
        debouncer.push(value)
        await asyncio.sleep(0.005)
    assert debouncer.pending
    assert emitted == []
    await debouncer.settled()
    assert emitted == [9]
    assert not debouncer.pending


async def test_debouncer_cancel_drops_the_waiting_value():
    emitted: list[int] = []
    debouncer = Debouncer(0.02, emitted.append)
    debouncer.push(1)
    debouncer.cancel()
    await debouncer.settled()
    await asyncio.sleep(0.04)
    assert emitted == []


# -- assets ------------------------------------------------------------------


def test_the_page_loads_nothing_from_elsewhere():
    html = asset("index.html").decode()
    script = asset("dashboard.js").decode()
    css = asset("dashboard.css").decode()
    assert 'src="dashboard.js"' in html
    assert 'href="dashboard.css"' in html
    for text in (html, script, css):
        assert "https://" not in text
        assert "//cdn" not in text
        assert "@import" not in text

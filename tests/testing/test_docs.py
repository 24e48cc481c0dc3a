"""The examples of docs/testing.md, run as written there."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from reactivex import operators as ops

import rxqix
from rxqix.errors import EngineError
from rxqix.operators import to_dataframe
from rxqix.testing import assert_sequence


def carriers(ordered: bool = True):
    def texts(layout):
        matrix = layout["qHyperCube"]["qDataPages"][0]["qMatrix"]
        found = [row[0]["qText"] for row in matrix]
        return sorted(found) if ordered else found

    return ops.map(texts)


def page(*texts):
    matrix = [
        [{"qText": t, "qNum": "NaN", "qElemNumber": 0, "qState": "O"}] for t in texts
    ]
    return {"qHyperCube": {"qDataPages": [{"qMatrix": matrix}]}}


def test_carriers_follow_the_layouts(marbles):
    """The first example: an operator of the user's, checked with marbles."""
    layouts = marbles.hot("-a--b|", {"a": page("UA", "AA"), "b": page("DL")})
    marbles.assert_marbles(
        layouts.pipe(carriers()), "-x--y|", {"x": ["AA", "UA"], "y": ["DL"]}
    )
    marbles.assert_subscriptions(layouts, "^----!")


def test_the_failure_shown_in_the_docs(marbles):
    """The failure message printed in the docs is the one a broken operator gets."""
    layouts = marbles.hot("-a--b|", {"a": page("UA", "AA"), "b": page("DL")})
    with pytest.raises(AssertionError) as caught:
        marbles.assert_marbles(
            layouts.pipe(carriers(ordered=False)),
            "-x--y|",
            {"x": ["AA", "UA"], "y": ["DL"]},
        )
    assert str(caught.value).splitlines() == [
        "stream does not match its marbles",
        "  expected: -x--y|",
        "  actual:   -A--y|",
        "  first difference, event 1: expected x = ['AA', 'UA'] at tick 1, got A = ['UA', 'AA'] at tick 1",
        "  where A = ['UA', 'AA']",
    ]


async def test_the_session_closes(qix_session):
    """The assert_sequence example."""
    states = {"o": "opened", "k": "closing", "c": "closed"}
    check = asyncio.ensure_future(assert_sequence(qix_session.state, "okc", states))
    await asyncio.sleep(0)
    await qix_session.close()
    await check


async def test_a_missing_object_is_reported(fake_engine):
    """The fake_engine example."""
    fake_engine.reply("OpenDoc", {"qReturn": fake_engine.ref("Doc", 1, "app")})
    fake_engine.fail("GetObject", 2, "Object not found", "sales-chart")
    async with rxqix.Session(fake_engine.url) as qix:
        doc = await qix.open_doc("app")
        with pytest.raises(EngineError, match="Object not found"):
            await doc.get_object("sales-chart")
    assert fake_engine.requests("GetObject")[0]["params"] == ["sales-chart"]


SALES = pd.DataFrame({"region": ["north", "south", "north"], "amount": [10, 20, 5]})
BY_REGION = {
    "qInfo": {"qType": "by-region"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["region"]}}],
        "qMeasures": [{"qDef": {"qDef": "Sum(amount)", "qLabel": "amount"}}],
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 10}],
    },
}


@pytest.mark.qix_app(frames={"sales": SALES}, name="shop")
async def test_north_sums_its_sales(qix_doc):
    """The local engine example."""
    cube = await qix_doc.create_session_object(BY_REGION)
    region = await qix_doc.get_field("region")
    assert await region.select_values([{"qText": "north"}]) is True
    frame = to_dataframe(await cube.get_layout())
    assert frame.to_dict("records") == [{"region": "north", "amount": 15}]

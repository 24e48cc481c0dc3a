"""Layouts and pages to DataFrames; live frames on virtual time."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
import reactivex
from pandas.testing import assert_frame_equal
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.subscription import Subscription

import rxqix
from rxqix.operators import (
    CubeData,
    FrameBuilder,
    UnsupportedCubeError,
    fetch_all_pages,
    hypercube_pages,
    live_frames,
    pages_to_frame,
    to_dataframe,
    to_frames,
)

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
T0 = 200
NULL = {"qText": "-", "qNum": "NaN", "qElemNumber": -2, "qState": "O", "qIsNull": True}


def num(value: float, text: str | None = None) -> dict[str, Any]:
    return {
        "qText": text or f"{value:g}",
        "qNum": value,
        "qElemNumber": 0,
        "qState": "O",
    }


def txt(value: str) -> dict[str, Any]:
    return {"qText": value, "qNum": "NaN", "qElemNumber": 0, "qState": "O"}


def layout_of(
    titles: list[str], dims: int, matrix: list[list[dict]], mode: str = "S"
) -> dict:
    width = len(titles)
    return {
        "qInfo": {"qId": "t", "qType": "table"},
        "qHyperCube": {
            "qSize": {"qcx": width, "qcy": len(matrix)},
            "qMode": mode,
            "qDimensionInfo": [{"qFallbackTitle": t} for t in titles[:dims]],
            "qMeasureInfo": [{"qFallbackTitle": t} for t in titles[dims:]],
            "qDataPages": [
                {
                    "qMatrix": matrix,
                    "qTails": [],
                    "qArea": {
                        "qLeft": 0,
                        "qTop": 0,
                        "qWidth": width,
                        "qHeight": len(matrix),
                    },
                }
            ],
        },
    }


FLIGHTS = layout_of(
    ["carrier", "month", "=Count(flight)", "=Avg(dep_delay)"],
    2,
    [
        [txt("AA"), num(1), num(2794), num(8.6, "8,6")],
        [txt("B6"), num(2), num(4427), NULL],
        [NULL, num(3), num(0), num(-1.25)],
    ],
)


def test_to_dataframe_types_columns_from_the_cells():
    """Text stays text, numbers stay numbers, whole numbers are int64, nulls are missing."""
    frame = to_dataframe(FLIGHTS)
    expected = pd.DataFrame(
        {
            "carrier": ["AA", "B6", None],
            "month": np.array([1, 2, 3], dtype=np.int64),
            "=Count(flight)": np.array([2794, 4427, 0], dtype=np.int64),
            "=Avg(dep_delay)": [8.6, math.nan, -1.25],
        }
    )
    assert_frame_equal(frame, expected)
    assert frame["carrier"].isna().tolist() == [False, False, True]


def test_to_dataframe_treats_a_nan_number_in_a_text_field_as_text():
    """A dimension whose cells have no numbers is a text column, whatever the texts."""
    layout = layout_of(["code"], 1, [[txt("007")], [txt("12")]])
    assert to_dataframe(layout)["code"].tolist() == ["007", "12"]


def test_to_dataframe_makes_a_mixed_column_text():
    """A column with some numbers and some texts keeps its texts."""
    layout = layout_of(["v"], 1, [[num(1)], [txt("n/a")], [NULL]])
    assert to_dataframe(layout)["v"].tolist()[:2] == ["1", "n/a"]
    assert pd.isna(to_dataframe(layout)["v"][2])


def test_to_dataframe_with_duals_keeps_text_and_number():
    """duals=True gives '<title>' texts and '<title> (num)' numbers for numeric columns."""
    layout = layout_of(
        ["month", "carrier"], 2, [[num(1, "Jan"), txt("AA")], [num(2, "Feb"), NULL]]
    )
    frame = to_dataframe(layout, duals=True)
    assert list(frame.columns) == ["month", "month (num)", "carrier"]
    assert frame["month"].tolist() == ["Jan", "Feb"]
    assert frame["month (num)"].tolist() == [1, 2]
    assert frame["carrier"].tolist()[0] == "AA"


def test_to_dataframe_with_duals_gives_mixed_columns_numbers_where_there_are():
    """A mixed column under duals has texts, and numbers with NaN for the texts."""
    layout = layout_of(["v"], 1, [[num(1.5)], [txt("n/a")]])
    frame = to_dataframe(layout, duals=True)
    assert frame["v"].tolist() == ["1.5", "n/a"]
    assert frame["v (num)"].tolist()[0] == 1.5
    assert math.isnan(frame["v (num)"][1])


def test_to_dataframe_joins_the_pages_of_cube_data():
    """A CubeData's pages are joined in order under the layout's titles."""
    layout = layout_of(["id", "x"], 1, [])
    layout["qHyperCube"]["qSize"]["qcy"] = 4
    pages = [
        {
            "qArea": {"qLeft": 0, "qTop": top, "qWidth": 2, "qHeight": 2},
            "qMatrix": [[num(r), num(r / 2)] for r in range(top, top + 2)],
        }
        for top in (0, 2)
    ]
    frame = to_dataframe(CubeData(layout, pages))
    assert_frame_equal(
        frame, pd.DataFrame({"id": [0, 1, 2, 3], "x": [0.0, 0.5, 1.0, 1.5]})
    )


def test_to_dataframe_of_bare_pages_numbers_the_columns_or_takes_titles():
    """Pages without a layout get numbered columns unless titles are given."""
    pages = [{"qMatrix": [[txt("a"), num(1)]], "qArea": {"qLeft": 0, "qWidth": 2}}]
    assert list(to_dataframe(pages).columns) == ["0", "1"]
    assert list(to_dataframe(pages, titles=["k", "v"]).columns) == ["k", "v"]


def test_to_dataframe_gives_repeated_titles_a_number():
    """Two measures with the same title become 'x' and 'x (2)'."""
    layout = layout_of(["x", "x"], 1, [[num(1), num(2)]])
    assert list(to_dataframe(layout).columns) == ["x", "x (2)"]


def test_to_dataframe_refuses_pages_that_miss_columns():
    """A page that does not span every column is a ValueError."""
    pages = [{"qMatrix": [[num(1)]], "qArea": {"qLeft": 1, "qWidth": 1}}]
    with pytest.raises(ValueError, match=r"^a page does not span all 1 columns"):
        to_dataframe(pages)


def test_to_dataframe_of_an_empty_cube_has_the_columns():
    """No rows: an empty frame with one column per dimension and measure."""
    frame = to_dataframe(layout_of(["a", "b"], 1, []))
    assert list(frame.columns) == ["a", "b"]
    assert len(frame) == 0


def test_to_dataframe_reads_list_objects():
    """A list object layout gives one column titled from its qDimensionInfo."""
    layout = {
        "qListObject": {
            "qSize": {"qcx": 1, "qcy": 2},
            "qDimensionInfo": {"qFallbackTitle": "origin"},
            "qDataPages": [
                {"qMatrix": [[txt("EWR")], [txt("JFK")]], "qArea": {"qLeft": 0}}
            ],
        }
    }
    frame = to_dataframe(layout, path="/qListObjectDef")
    assert frame["origin"].tolist() == ["EWR", "JFK"]


def test_to_dataframe_refuses_a_pivot_cube():
    """Pivot layouts are an UnsupportedCubeError."""
    with pytest.raises(UnsupportedCubeError, match=r"^cannot page a pivot hypercube"):
        to_dataframe(layout_of(["a"], 1, [], mode="P"))


def test_to_dataframe_without_pandas_says_what_to_install(monkeypatch):
    """With no pandas, building a frame raises ImportError naming the extra."""
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"rxqix\[pandas\]"):
        to_dataframe(FLIGHTS)


def test_importing_the_operators_does_not_import_pandas():
    """`import rxqix.operators` works, and loads neither pandas nor numpy."""
    code = (
        "import sys; sys.modules['pandas'] = None; import rxqix.operators; "
        "assert 'numpy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_to_dataframe_builds_300k_rows_quickly():
    """336,776 rows of 4 columns convert in well under the time of fetching them."""
    rows = 336_776
    carrier, hours, delay = txt("UA"), [num(h) for h in range(24)], num(2.5)
    matrix = [
        [carrier, num(r), hours[r % 24], NULL if r % 7 == 0 else delay]
        for r in range(rows)
    ]
    layout = layout_of(["carrier", "id", "hour", "delay"], 3, matrix)
    frame = to_dataframe(layout)
    assert frame.shape == (rows, 4)
    assert frame["id"].dtype == np.int64
    assert frame["delay"].isna().sum() == len(range(0, rows, 7))


def test_to_frames_maps_each_layout_to_a_frame():
    """Every layout becomes a frame, at the time it arrives."""
    scheduler = TestScheduler()
    second = layout_of(["carrier"], 1, [[txt("DL")]])
    layouts = scheduler.create_hot_observable(
        on_next(T0 + 2, FLIGHTS), on_next(T0 + 5, second), on_completed(T0 + 7)
    )
    results = scheduler.start(lambda: layouts.pipe(to_frames()))
    assert [m.time - T0 for m in results.messages] == [2, 5, 7]
    frames = [m.value.value for m in results.messages[:2]]
    assert frames[0].shape == (3, 4)
    assert frames[1]["carrier"].tolist() == ["DL"]


def test_to_frames_sends_bad_layouts_to_on_error():
    """A layout with no cube ends the stream with UnsupportedCubeError."""
    scheduler = TestScheduler()
    layouts = scheduler.create_hot_observable(on_next(T0 + 1, {"qInfo": {}}))
    results = scheduler.start(lambda: layouts.pipe(to_frames()))
    assert isinstance(results.messages[0].value.exception, UnsupportedCubeError)


class LiveCube:
    """A stand-in with live layouts (a hot observable) and paged data on virtual time."""

    def __init__(
        self, scheduler: TestScheduler, layouts: Any, rows_of: dict[str, int]
    ) -> None:
        self.scheduler = scheduler
        self._layouts = layouts
        self.rows_of = rows_of
        self.sources: list[Any] = []

    def layouts(self) -> Any:
        return self._layouts

    def get_hyper_cube_data(self, path: str, pages: list[dict]) -> Any:
        (page,) = pages
        rows = range(page["qTop"], page["qTop"] + page["qHeight"])
        data = {
            "qArea": page,
            "qMatrix": [[num(r), num(r * 10)] for r in rows],
        }
        source = self.scheduler.create_cold_observable(
            on_next(3, [data]), on_completed(4)
        )
        self.sources.append(source)
        return source


def cube_layout(rows: int, initial: int = 0) -> dict:
    layout = layout_of(
        ["id", "=Sum(x)"], 1, [[num(r), num(r * 10)] for r in range(initial)]
    )
    layout["qHyperCube"]["qSize"]["qcy"] = rows
    return layout


def test_live_frames_fetch_every_row_per_layout_and_drop_stale_fetches():
    """Each layout gives a full frame; a layout arriving mid-fetch cancels the old fetch."""
    scheduler = TestScheduler()
    big, small, last = (
        cube_layout(12_000, initial=100),
        cube_layout(7000),
        cube_layout(3),
    )
    layouts = scheduler.create_hot_observable(
        on_next(T0 + 1, big),
        on_next(T0 + 20, small),
        on_next(T0 + 22, last),
        on_completed(T0 + 40),
    )
    cube = LiveCube(scheduler, layouts, {})
    results = scheduler.start(lambda: live_frames(cube))
    frames = [m.value.value for m in results.messages if m.value.kind == "N"]
    assert [len(f) for f in frames] == [12_000, 3]
    expected = pd.DataFrame(
        {"id": range(12_000), "=Sum(x)": [r * 10 for r in range(12_000)]}
    )
    assert_frame_equal(frames[0], expected, check_dtype=False)
    assert frames[0]["id"].dtype == np.int64
    small_fetches = [s for s in cube.sources if s.subscriptions[0].subscribe == T0 + 20]
    assert small_fetches
    assert all(
        s.subscriptions == [Subscription(T0 + 20, T0 + 22)] for s in small_fetches
    )
    assert results.messages[-1] == on_completed(T0 + 40)


# -- over a real socket, against the scripted fake engine ----------------------

ROWS = 25_000
SESSION_CUBE = {
    "qInfo": {"qType": "table"},
    "qHyperCubeDef": {"qDimensions": [{}, {}], "qMeasures": [{}]},
}


def flights(rows: int = ROWS) -> pd.DataFrame:
    """Known data: a text carrier, a numeric flight, a delay with nulls."""
    ids = np.arange(rows)
    return pd.DataFrame(
        {
            "carrier": np.array(["AA", "B6", "DL", "UA"])[ids % 4],
            "flight": ids,
            "=Avg(delay)": np.where(ids % 97 == 0, np.nan, ids * 0.25),
        }
    )


def columns_of(frame: pd.DataFrame) -> dict[str, list]:
    return {name: frame[name].tolist() for name in frame.columns}


async def open_cube(fake_engine, frame):
    fake_engine.serve_cube(columns_of(frame), dimensions=2, initial_rows=20)
    session = rxqix.Session(fake_engine.url)
    qix = await session.open()
    doc = await qix.open_doc("app")
    return session, await doc.create_session_object(SESSION_CUBE)


async def test_fetched_frame_over_a_socket_equals_pandas(fake_engine):
    """Every page of a 25,000-row cube makes the frame pandas builds from the data."""
    expected = flights()
    session, cube = await open_cube(fake_engine, expected)
    async with session:
        data = await cube.layouts().pipe(fetch_all_pages(cube), ops.take(1))
    assert_frame_equal(to_dataframe(data), expected)
    heights = [
        p["qHeight"]
        for f in fake_engine.requests("GetHyperCubeData")
        for p in f["params"][1]
    ]
    assert max(heights) * 3 <= 10_000
    assert sum(heights) == ROWS - 20


async def test_live_frames_over_a_socket_follow_changes(fake_engine):
    """After a change the live stream emits a new full frame."""
    before, after = flights(), flights(12_000).iloc[::-1].reset_index(drop=True)
    session, cube = await open_cube(fake_engine, before)
    async with session:
        frames: asyncio.Queue = asyncio.Queue()
        subscription = live_frames(cube).subscribe(frames.put_nowait, frames.put_nowait)
        assert_frame_equal(await asyncio.wait_for(frames.get(), 5), before)
        fake_engine.serve_cube(columns_of(after), dimensions=2)
        await fake_engine.push_change(2)
        assert_frame_equal(await asyncio.wait_for(frames.get(), 5), after)
        subscription.dispose()


def test_pages_to_frame_emits_one_frame_when_the_pages_complete():
    """Pages fold into columns as they come; the frame comes at completion."""
    scheduler = TestScheduler()
    layout = cube_layout(4)
    pages = [
        {
            "qArea": {"qLeft": 0, "qTop": t},
            "qMatrix": [[num(r), num(r * 10)] for r in (t, t + 1)],
        }
        for t in (0, 2)
    ]
    source = scheduler.create_hot_observable(
        on_next(T0 + 1, pages[0]), on_next(T0 + 3, pages[1]), on_completed(T0 + 5)
    )
    results = scheduler.start(lambda: source.pipe(pages_to_frame(layout)))
    assert [(m.time - T0, m.value.kind) for m in results.messages] == [
        (5, "N"),
        (5, "C"),
    ]
    frame = results.messages[0].value.value
    assert_frame_equal(
        frame, pd.DataFrame({"id": [0, 1, 2, 3], "=Sum(x)": [0, 10, 20, 30]})
    )


def test_pages_to_frame_builds_afresh_per_subscription():
    """Each subscription folds its own pages: no rows left over from the last."""
    page = {"qArea": {"qLeft": 0}, "qMatrix": [[num(1), num(2)]]}
    fold = reactivex.of(page).pipe(pages_to_frame(cube_layout(1)))
    assert len(fold.run()) == 1
    assert len(fold.run()) == 1


def test_frame_builder_decides_column_kinds_over_all_pages():
    """A column numeric on one page and text on the next is a text column."""
    builder = FrameBuilder(None, titles=["v"])
    builder.add({"qMatrix": [[num(1)], [num(2)]]})
    builder.add({"qMatrix": [[txt("n/a")]]})
    assert builder.frame()["v"].tolist() == ["1", "2", "n/a"]


def test_frame_builder_of_no_pages_is_empty():
    """No layout and no pages: an empty frame."""
    assert FrameBuilder(None).frame().shape == (0, 0)


# -- the local engine's bundled app, against pandas reading the CSV ------------

FLIGHT_KEYS = ["time_hour", "carrier", "flight"]
ALL_FLIGHTS = {
    "qInfo": {"qType": "all-flights"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": [key]}} for key in FLIGHT_KEYS],
        "qMeasures": [{"qDef": {"qDef": "Avg(dep_delay)", "qLabel": "dep_delay"}}],
    },
}


async def test_every_flight_streams_into_the_frame_pandas_reads(local_engine):
    """All 336,776 flights (one row each) equal pandas' read of flights.csv.zip."""
    from flights import data_dir

    engine = await local_engine()
    progress: list[tuple[int, int]] = []
    async with rxqix.Session(engine.url, protocol={"delta": False}) as qix:
        doc = await qix.open_doc("nycflights13")
        cube = await doc.create_session_object(ALL_FLIGHTS)
        layout = await cube.get_layout()
        pages = hypercube_pages(
            cube, layout=layout, progress=lambda *p: progress.append(p)
        )
        frame = await pages.pipe(pages_to_frame(layout))

    direct = pd.read_csv(
        data_dir() / "flights.csv.zip", usecols=[*FLIGHT_KEYS, "dep_delay"]
    )
    order = [*FLIGHT_KEYS, "dep_delay"]
    expected = direct[order].sort_values(FLIGHT_KEYS).reset_index(drop=True)
    got = frame[order]
    assert len(got) == 336_776
    assert_frame_equal(got.sort_values(FLIGHT_KEYS).reset_index(drop=True), expected)
    assert progress[0] == (0, 336_776)
    assert progress[-1] == (336_776, 336_776)
    assert len(progress) == 1 + math.ceil(336_776 / 2500)


def test_to_dataframe_numbers_the_columns_titles_do_not_name():
    """Fewer titles than columns: the rest keep the layout's titles (or numbers)."""
    pages = [{"qMatrix": [[txt("a"), num(1), num(2)]]}]
    assert list(to_dataframe(pages, titles=["k"]).columns) == ["k", "1", "2"]

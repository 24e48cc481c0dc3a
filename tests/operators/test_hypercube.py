"""Hypercube paging on virtual time: page plans, ordered fetches, switching."""

from __future__ import annotations

import asyncio
import math
import sys
import types
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.subscription import Subscription

import rxqix
from rxqix.errors import EngineError, RxqixError
from rxqix.operators import (
    MAX_PAGE_CELLS,
    CubeData,
    UnsupportedCubeError,
    cube_at,
    fetch_all_pages,
    fetch_in_order,
    hypercube_pages,
    observe_call,
    page_requests,
    rich_progress,
    switch_map_latest,
    tqdm_progress,
)

on_next = ReactiveTest.on_next
on_error = ReactiveTest.on_error
on_completed = ReactiveTest.on_completed

# TestScheduler.start's times: subscribed at 200, disposed at 1000.
T0 = 200


def straight(rows: int, width: int = 2, initial: int = 0, mode: str = "S") -> dict:
    """A layout whose cube has `rows` rows of `width` columns, first `initial` embedded."""
    cube: dict[str, Any] = {
        "qSize": {"qcx": width, "qcy": rows},
        "qMode": mode,
        "qDimensionInfo": [{"qFallbackTitle": "id"}],
        "qMeasureInfo": [{"qFallbackTitle": f"m{i}"} for i in range(width - 1)],
        "qDataPages": [],
    }
    if initial:
        cube["qDataPages"] = [page_of(0, min(initial, rows), width)]
    return {"qInfo": {"qId": "cube"}, "qHyperCube": cube}


def page_of(top: int, height: int, width: int) -> dict:
    matrix = [
        [{"qText": str(r), "qNum": r, "qElemNumber": r, "qState": "O"}]
        + [
            {"qText": f"{r * c}", "qNum": r * c, "qElemNumber": 0, "qState": "L"}
            for c in range(1, width)
        ]
        for r in range(top, top + height)
    ]
    return {
        "qMatrix": matrix,
        "qTails": [{"qUp": 0, "qDown": 0}],
        "qArea": {"qLeft": 0, "qTop": top, "qWidth": width, "qHeight": height},
    }


class VirtualCube:
    """A GenericObject stand-in answering on virtual time after `delay` ticks."""

    def __init__(self, scheduler: TestScheduler, layout: dict, delay: int = 2) -> None:
        self.scheduler = scheduler
        self.layout = layout
        self.delay = delay
        self.requests: list[tuple[int, str, dict]] = []
        self.sources: list[Any] = []

    def cold(self, value: Any) -> Any:
        source = self.scheduler.create_cold_observable(
            on_next(self.delay, value), on_completed(self.delay + 1)
        )
        self.sources.append(source)
        return source

    def get_layout(self) -> Any:
        return self.cold(self.layout)

    def get_hyper_cube_data(self, path: str, pages: list[dict]) -> Any:
        (page,) = pages
        self.requests.append((self.scheduler.clock, path, page))
        width = self.layout["qHyperCube"]["qSize"]["qcx"]
        return self.cold([page_of(page["qTop"], page["qHeight"], width)])


def values(messages: list) -> list:
    return [m.value.value for m in messages if m.value.kind == "N"]


def test_page_requests_fit_the_cell_limit():
    """Pages span every column with 10000 // qcx rows; the last is clipped."""
    pages = page_requests(3, 7000)
    assert [p["qTop"] for p in pages] == [0, 3333, 6666]
    assert pages[-1] == {"qLeft": 0, "qTop": 6666, "qWidth": 3, "qHeight": 334}
    assert all(p["qWidth"] * p["qHeight"] <= MAX_PAGE_CELLS for p in pages)
    assert sum(p["qHeight"] for p in pages) == 7000


def test_page_requests_start_after_rows_already_held():
    """first_row skips the rows an initial fetch already brought."""
    pages = page_requests(2, 12_000, first_row=50)
    assert [(p["qTop"], p["qHeight"]) for p in pages] == [
        (50, 5000),
        (5050, 5000),
        (10050, 1950),
    ]


def test_page_requests_of_a_wide_cube_take_one_row_at_least():
    """A cube wider than 10,000 columns is not pageable by rows; one row per page."""
    assert page_requests(20_000, 2)[0]["qHeight"] == 1


@pytest.mark.parametrize("height", [0, 5001])
def test_page_requests_refuse_a_page_height_that_does_not_fit(height):
    """A page height of 0, or one that makes more than 10,000 cells, is an error."""
    with pytest.raises(ValueError, match=r"^page_height must be between 1 and 5000"):
        page_requests(2, 100, page_height=height)


def test_page_requests_of_an_empty_cube_are_none():
    """No rows or no columns: nothing to fetch."""
    assert page_requests(2, 0) == []
    assert page_requests(0, 10) == []


def test_cube_at_follows_nested_definition_paths():
    """/chart/qHyperCubeDef is layout['chart']['qHyperCube']; list objects too."""
    layout = {"chart": {"qHyperCube": {"qSize": {"qcx": 1}}}, "qListObject": {"x": 1}}
    assert cube_at(layout, "/chart/qHyperCubeDef") == {"qSize": {"qcx": 1}}
    assert cube_at(layout, "/qListObjectDef") == {"x": 1}


def test_cube_at_refuses_missing_and_odd_paths():
    """A path to nothing, or to no cube definition, is an UnsupportedCubeError."""
    with pytest.raises(UnsupportedCubeError, match=r"^no qHyperCube at /qHyperCubeDef"):
        cube_at({"qInfo": {}})
    with pytest.raises(UnsupportedCubeError, match=r"^'/qInfo' is not a qHyperCubeDef"):
        cube_at({"qInfo": {}}, "/qInfo")


@pytest.mark.parametrize(
    ("mode", "kind"), [("P", "pivot"), ("K", "stacked"), ("T", "tree")]
)
def test_cube_at_refuses_pivot_stacked_and_tree_cubes(mode, kind):
    """Only straight cubes are paged; the error names the mode and is a ValueError."""
    with pytest.raises(
        UnsupportedCubeError, match=rf"^cannot page a {kind} hypercube \(qMode {mode}\)"
    ) as caught:
        cube_at(straight(10, mode=mode))
    assert caught.value.mode == mode
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, RxqixError)


def test_fetch_in_order_emits_in_order_with_a_sliding_window():
    """Early results wait for the ones before; a fetch starts when the window slides."""
    scheduler = TestScheduler()
    fetches = [
        scheduler.create_cold_observable(on_next(2, "a"), on_completed(3)),
        scheduler.create_cold_observable(on_next(1, "b"), on_completed(2)),
        scheduler.create_cold_observable(on_next(4, "c"), on_completed(5)),
        scheduler.create_cold_observable(on_next(0, "d"), on_completed(1)),
    ]
    results = scheduler.start(
        lambda: fetch_in_order([lambda f=f: f for f in fetches], concurrency=2)
    )
    assert results.messages == [
        on_next(T0 + 2, "a"),
        on_next(T0 + 3, "b"),
        on_next(T0 + 7, "c"),
        on_next(T0 + 8, "d"),
        on_completed(T0 + 8),
    ]
    starts = [f.subscriptions[0].subscribe - T0 for f in fetches]
    assert starts == [0, 0, 3, 3]


def test_fetch_in_order_keeps_at_most_concurrency_fetches_in_flight():
    """With 10 fetches and concurrency 3, never more than 3 are subscribed at once."""
    scheduler = TestScheduler()
    fetches = [
        scheduler.create_cold_observable(on_next(d, i), on_completed(d + 1))
        for i, d in enumerate([5, 1, 3, 2, 8, 1, 1, 4, 2, 6])
    ]
    results = scheduler.start(
        lambda: fetch_in_order([lambda f=f: f for f in fetches], concurrency=3)
    )
    assert values(results.messages) == list(range(10))
    spans = [
        (f.subscriptions[0].subscribe, f.subscriptions[0].unsubscribe) for f in fetches
    ]
    for time in range(T0, T0 + 60):
        assert sum(start <= time < end for start, end in spans) <= 3


def test_fetch_in_order_fails_with_the_first_failure_and_drops_the_rest():
    """An error ends the output at once and disposes the fetches in flight."""
    scheduler = TestScheduler()
    boom = ValueError("boom")
    slow = scheduler.create_cold_observable(on_next(9, "a"), on_completed(10))
    failing = scheduler.create_cold_observable(on_error(2, boom))
    results = scheduler.start(lambda: fetch_in_order([lambda: slow, lambda: failing]))
    assert results.messages == [on_error(T0 + 2, boom)]
    assert slow.subscriptions == [Subscription(T0, T0 + 2)]


def test_fetch_in_order_sends_factory_errors_to_on_error():
    """A fetch factory that raises becomes on_error, not an exception in subscribe."""

    def broken():
        raise RuntimeError("no socket")

    scheduler = TestScheduler()
    results = scheduler.start(lambda: fetch_in_order([broken]))
    assert [m.value.kind for m in results.messages] == ["E"]


def test_fetch_in_order_disposed_starts_no_more_fetches():
    """Disposing mid-way disposes the fetches in flight; the later ones never start."""
    scheduler = TestScheduler()
    fetches = [
        scheduler.create_cold_observable(on_next(3, i), on_completed(4))
        for i in range(6)
    ]
    scheduler.start(
        lambda: fetch_in_order([lambda f=f: f for f in fetches], concurrency=2),
        disposed=T0 + 6,
    )
    assert [len(f.subscriptions) for f in fetches] == [1, 1, 1, 1, 0, 0]
    assert fetches[2].subscriptions == [Subscription(T0 + 4, T0 + 6)]


def test_fetch_in_order_handles_fetches_that_answer_at_once():
    """Synchronous fetches (reactivex.of) come out in order with no recursion trouble."""
    got: list[int] = []
    fetch_in_order([lambda i=i: reactivex.of(i) for i in range(2000)], 4).subscribe(
        got.append
    )
    assert got == list(range(2000))


def test_fetch_in_order_of_nothing_completes():
    """No fetches: it completes at once."""
    scheduler = TestScheduler()
    assert scheduler.start(lambda: fetch_in_order([])).messages == [on_completed(T0)]


def test_fetch_in_order_rejects_zero_concurrency():
    """concurrency must be at least 1."""
    with pytest.raises(ValueError, match=r"^concurrency must be at least 1"):
        fetch_in_order([], 0)


def test_hypercube_pages_gets_the_layout_then_pages_in_order():
    """GetLayout, then pages of 10000 // qcx rows, two in flight, emitted in row order."""
    scheduler = TestScheduler()
    cube = VirtualCube(scheduler, straight(12_000), delay=2)
    results = scheduler.start(lambda: hypercube_pages(cube, concurrency=2))
    # the layout comes at 2; pages 0 and 1 are asked at 2 and in at 4, which
    # slides the window: page 2 is asked at 4 and in at 6, with the completion
    assert [m.time - T0 for m in results.messages] == [4, 4, 6, 6]
    pages = values(results.messages)
    assert [p["qArea"]["qTop"] for p in pages] == [0, 5000, 10_000]
    assert [(t - T0, path, p["qHeight"]) for t, path, p in cube.requests] == [
        (2, "/qHyperCubeDef", 5000),
        (2, "/qHyperCubeDef", 5000),
        (4, "/qHyperCubeDef", 2000),
    ]
    assert all(
        p["qWidth"] * p["qHeight"] <= MAX_PAGE_CELLS for _, _, p in cube.requests
    )


def test_hypercube_pages_reuses_the_initial_data_fetch():
    """Rows embedded in the layout come first and are not requested again."""
    scheduler = TestScheduler()
    layout = straight(6000, initial=100)
    cube = VirtualCube(scheduler, layout)
    results = scheduler.start(lambda: hypercube_pages(cube, layout=layout))
    pages = values(results.messages)
    assert pages[0] is layout["qHyperCube"]["qDataPages"][0]
    assert [p["qTop"] for _, _, p in cube.requests] == [100, 5100]
    rows = [row[0]["qNum"] for page in pages for row in page["qMatrix"]]
    assert rows == list(range(6000))


def test_hypercube_pages_of_a_cube_held_whole_sends_no_request():
    """A cube whose initial fetch has every row needs no GetHyperCubeData."""
    scheduler = TestScheduler()
    layout = straight(40, initial=50)
    cube = VirtualCube(scheduler, layout)
    results = scheduler.start(lambda: hypercube_pages(cube, layout=layout))
    assert cube.requests == []
    assert len(values(results.messages)) == 1


def test_hypercube_pages_reports_progress_per_page():
    """progress gets (0, total) first, then the rows done after each page."""
    scheduler = TestScheduler()
    calls: list[tuple[int, int]] = []
    cube = VirtualCube(scheduler, straight(12_000, initial=10))
    scheduler.start(lambda: hypercube_pages(cube, progress=lambda *a: calls.append(a)))
    assert calls == [
        (0, 12_000),
        (10, 12_000),
        (5010, 12_000),
        (10_010, 12_000),
        (12_000, 12_000),
    ]


def test_hypercube_pages_sends_progress_errors_downstream():
    """A progress callback that raises ends the stream with its error."""

    def progress(done, total):
        if done:
            raise RuntimeError("bar broke")

    scheduler = TestScheduler()
    cube = VirtualCube(scheduler, straight(100, initial=100))
    results = scheduler.start(lambda: hypercube_pages(cube, progress=progress))
    assert results.messages[-1].value.kind == "E"
    assert str(results.messages[-1].value.exception) == "bar broke"


def test_hypercube_pages_of_a_pivot_cube_fail():
    """A pivot layout ends the stream with UnsupportedCubeError and asks for no page."""
    scheduler = TestScheduler()
    cube = VirtualCube(scheduler, straight(100, mode="P"))
    results = scheduler.start(lambda: hypercube_pages(cube))
    (message,) = results.messages
    assert isinstance(message.value.exception, UnsupportedCubeError)
    assert cube.requests == []


def test_hypercube_pages_page_height_can_be_smaller():
    """page_height below the limit makes more, smaller pages."""
    scheduler = TestScheduler()
    layout = straight(1000)
    cube = VirtualCube(scheduler, layout)
    scheduler.start(lambda: hypercube_pages(cube, layout=layout, page_height=300))
    assert [p["qHeight"] for _, _, p in cube.requests] == [300, 300, 300, 100]


def test_hypercube_pages_disposed_sends_no_more_requests():
    """Unsubscribing mid-fetch stops the requests: the rest of the pages are never asked."""
    scheduler = TestScheduler()
    layout = straight(50_000)
    cube = VirtualCube(scheduler, layout, delay=5)
    scheduler.start(lambda: hypercube_pages(cube, layout=layout), disposed=T0 + 8)
    # 3 at once, 3 more when they are in at 5; disposed at 8, before those answer
    assert [t - T0 for t, _, _ in cube.requests] == [0, 0, 0, 5, 5, 5]
    assert all(s.subscriptions[0].unsubscribe <= T0 + 8 for s in cube.sources)


def test_hypercube_pages_fetches_list_objects_with_get_list_object_data():
    """A /qListObjectDef path pages with GetListObjectData."""
    scheduler = TestScheduler()
    asked: list[tuple[str, dict]] = []

    class Listbox:
        def get_list_object_data(self, path, pages):
            asked.append((path, pages[0]))
            return scheduler.create_cold_observable(
                on_next(1, [page_of(pages[0]["qTop"], pages[0]["qHeight"], 1)]),
                on_completed(2),
            )

    layout = {"qListObject": {"qSize": {"qcx": 1, "qcy": 15_000}, "qDataPages": []}}
    results = scheduler.start(
        lambda: hypercube_pages(Listbox(), "/qListObjectDef", layout=layout)
    )
    assert [(path, p["qHeight"]) for path, p in asked] == [
        ("/qListObjectDef", 10_000),
        ("/qListObjectDef", 5000),
    ]
    assert len(values(results.messages)) == 2


def test_fetch_all_pages_switches_to_the_latest_layout():
    """A layout arriving mid-fetch drops the stale fetch; each layout gives a CubeData."""
    scheduler = TestScheduler()
    first, second, third = straight(10), straight(20), straight(30)
    cube = VirtualCube(scheduler, first, delay=2)
    layouts = scheduler.create_hot_observable(
        on_next(T0 + 1, first),
        on_next(T0 + 6, second),
        on_next(T0 + 8, third),
        on_completed(T0 + 16),
    )

    def pages_of(layout):
        cube.layout = layout  # the fake answers with the latest layout's width
        return layout

    results = scheduler.start(
        lambda: layouts.pipe(ops.map(pages_of), fetch_all_pages(cube))
    )
    assert [m.time - T0 for m in results.messages] == [3, 10, 16]
    datas = values(results.messages)
    assert all(isinstance(d, CubeData) for d in datas)
    assert [d.layout for d in datas] == [first, third]
    assert [len(d.pages[0]["qMatrix"]) for d in datas] == [10, 30]
    stale = cube.sources[1]
    assert stale.subscriptions == [Subscription(T0 + 6, T0 + 8)]


def test_fetch_all_pages_completes_with_the_layouts_mid_fetch():
    """When the handle closes mid-fetch the output completes and the fetch is dropped."""
    scheduler = TestScheduler()
    layout = straight(10)
    cube = VirtualCube(scheduler, layout, delay=5)
    layouts = scheduler.create_hot_observable(
        on_next(T0 + 1, layout), on_completed(T0 + 3)
    )
    results = scheduler.start(lambda: layouts.pipe(fetch_all_pages(cube)))
    assert results.messages == [on_completed(T0 + 3)]
    assert cube.sources[0].subscriptions == [Subscription(T0 + 1, T0 + 3)]


def test_switch_map_latest_completes_with_the_source():
    """The inner stream in flight is disposed when the source completes."""
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(
        on_next(T0 + 1, "a"), on_next(T0 + 5, "b"), on_completed(T0 + 6)
    )
    inners = []

    def mapper(value):
        inner = scheduler.create_cold_observable(
            on_next(2, value.upper()), on_completed(3)
        )
        inners.append(inner)
        return inner

    results = scheduler.start(lambda: source.pipe(switch_map_latest(mapper)))
    assert results.messages == [on_next(T0 + 3, "A"), on_completed(T0 + 6)]
    assert inners[1].subscriptions == [Subscription(T0 + 5, T0 + 6)]


def test_switch_map_latest_sends_mapper_errors_to_on_error():
    """A mapper that raises ends the stream with its error."""
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(on_next(T0 + 1, "a"))
    results = scheduler.start(lambda: source.pipe(switch_map_latest(lambda _: 1 / 0)))
    assert [m.value.kind for m in results.messages] == ["E"]


async def test_observe_call_runs_a_coroutine_on_subscribe():
    """The call starts on subscribe and its result is the one value."""
    started = []

    async def call(x):
        started.append(x)
        return x * 2

    stream = observe_call(call, 21)
    assert started == []
    assert await stream == 42


async def test_observe_call_cancels_the_call_on_dispose():
    """Disposing before the answer cancels the task; nothing is emitted."""
    gate = asyncio.Event()
    cancelled = asyncio.Event()

    async def call():
        try:
            await gate.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    got: list[Any] = []
    subscription = observe_call(call).subscribe(got.append, got.append)
    await asyncio.sleep(0)
    subscription.dispose()
    await asyncio.wait_for(cancelled.wait(), 1)
    assert got == []


async def test_observe_call_sends_failures_to_on_error():
    """A call that raises (at once or later) gives on_error."""

    async def later():
        raise LookupError("no such object")

    def at_once():
        raise TypeError("bad arguments")

    with pytest.raises(LookupError):
        await observe_call(later)
    with pytest.raises(TypeError):
        await observe_call(at_once)


class FakeBar:
    """Records what a progress helper does to a tqdm-like bar."""

    made: list[FakeBar] = []

    def __init__(self, total: int, **options: Any) -> None:
        self.total, self.options, self.n, self.closed = total, options, 0, False
        FakeBar.made.append(self)

    def update(self, n: int) -> None:
        self.n += n

    def close(self) -> None:
        self.closed = True


def test_tqdm_progress_drives_a_bar_and_starts_afresh(monkeypatch):
    """The bar follows the rows, closes at the end, and a new fetch makes a new bar."""
    FakeBar.made = []
    module = types.ModuleType("tqdm.auto")
    module.tqdm = FakeBar  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tqdm.auto", module)
    update = tqdm_progress(desc="flights")
    for done in (0, 10, 30):
        update(done, 30)
    update(0, 5)
    update(2, 5)
    first, second = FakeBar.made
    assert (first.n, first.total, first.closed) == (30, 30, True)
    assert first.options == {"unit": "rows", "desc": "flights"}
    assert (second.n, second.total, second.closed) == (2, 5, False)


def test_progress_helpers_say_what_to_install(monkeypatch):
    """Without tqdm or rich the helpers raise ImportError naming the package."""
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    with pytest.raises(
        ImportError, match=r"^tqdm_progress needs tqdm: pip install tqdm"
    ):
        tqdm_progress()
    with pytest.raises(ImportError, match=r"^rich_progress needs rich"):
        rich_progress()


def test_rich_progress_adds_a_task_and_updates_it():
    """Given a rich Progress, it adds one task per fetch and moves it on."""

    class Bars:
        def __init__(self) -> None:
            self.calls: list[tuple] = []

        def add_task(self, description, total):
            self.calls.append(("add", description, total))
            return len(self.calls)

        def update(self, task, completed, total):
            self.calls.append(("update", task, completed, total))

        def reset(self, task, total):
            self.calls.append(("reset", task, total))

    bars = Bars()
    update = rich_progress(bars, "flights")
    update(0, 20)
    update(20, 20)
    update(0, 8)
    update(4, 8)
    update(0, 8)
    assert bars.calls == [
        ("add", "flights", 20),
        ("update", 1, 0, 20),
        ("update", 1, 20, 20),
        ("add", "flights", 8),
        ("update", 4, 0, 8),
        ("update", 4, 4, 8),
        ("reset", 4, 8),
        ("update", 4, 0, 8),
    ]


# -- over a real socket, against the scripted fake engine ----------------------

ROWS = 25_000
SESSION_CUBE = {
    "qInfo": {"qType": "table"},
    "qHyperCubeDef": {"qDimensions": [{}], "qMeasures": [{}]},
}


def flights_columns() -> dict[str, list]:
    """25,000 rows: a numeric flight number and a delay with a null every 97 rows."""
    delays = [math.nan if r % 97 == 0 else r * 0.25 for r in range(ROWS)]
    return {"flight": list(range(ROWS)), "=Avg(delay)": delays}


async def open_cube(fake_engine, **options):
    fake_engine.serve_cube(flights_columns(), **options)
    session = rxqix.Session(fake_engine.url)
    qix = await session.open()
    doc = await qix.open_doc("app")
    return session, await doc.create_session_object(SESSION_CUBE)


def asked_pages(fake_engine) -> list[dict]:
    return [p for f in fake_engine.requests("GetHyperCubeData") for p in f["params"][1]]


async def test_hypercube_pages_over_a_socket_bring_every_row_within_the_limit(
    fake_engine,
):
    """25,000 rows come in row order; no requested page exceeds 10,000 cells."""
    session, cube = await open_cube(fake_engine, initial_rows=50)
    async with session:
        pages = await hypercube_pages(cube).pipe(ops.to_list())
    rows = [row[0]["qNum"] for page in pages for row in page["qMatrix"]]
    assert rows == list(range(ROWS))
    asked = asked_pages(fake_engine)
    assert asked[0]["qTop"] == 50  # the embedded rows are not asked again
    assert all(p["qWidth"] * p["qHeight"] <= MAX_PAGE_CELLS for p in asked)
    assert sum(p["qHeight"] for p in asked) == ROWS - 50


async def test_disposing_hypercube_pages_stops_the_requests(fake_engine):
    """Unsubscribing at the first page sends no more GetHyperCubeData."""
    session, cube = await open_cube(fake_engine)
    async with session:
        first = asyncio.get_running_loop().create_future()
        holder: list[Any] = []

        def on_page(page):
            holder[0].dispose()
            first.set_result(page)

        holder.append(hypercube_pages(cube, concurrency=2).subscribe(on_page))
        await asyncio.wait_for(first, 5)
        sent = len(fake_engine.requests("GetHyperCubeData"))
        # the session still works after the cancelled calls' replies come in
        assert (await cube.get_layout())["qHyperCube"]["qSize"]["qcy"] == ROWS
        await asyncio.sleep(0.05)
    assert sent == 2
    assert len(fake_engine.requests("GetHyperCubeData")) == 2


async def test_hypercube_pages_over_a_socket_fail_with_engine_errors(fake_engine):
    """An engine error on a page ends the stream with that EngineError."""
    session, cube = await open_cube(fake_engine)
    fake_engine.fail("GetHyperCubeData", 7009, "Calc pages too large")
    async with session:
        with pytest.raises(EngineError, match=r"^Calc pages too large \(7009\)"):
            await hypercube_pages(cube)


def test_observe_call_of_a_method_that_returns_a_plain_value_fails():
    """A method that returns neither an awaitable nor an Observable gives on_error."""
    errors: list[Exception] = []
    observe_call(lambda: 42).subscribe(on_error=errors.append)
    assert isinstance(errors[0], TypeError)

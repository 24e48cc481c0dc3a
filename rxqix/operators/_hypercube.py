"""Every row of a hypercube, fetched page by page within the engine's page limit.

The engine hands out at most 10,000 cells per data page, so a straight cube
of 336,776 rows and 6 columns takes 203 pages of 1,666 rows. These functions
plan the pages, keep a few requests in flight, hand the pages over in row
order as they arrive, and stop asking as soon as nobody listens.

Theory of operation. :func:`fetch_in_order` is the engine-free core: it
subscribes to a window of at most ``concurrency`` page fetches, buffers what
arrives early and emits in order; when the page at the head of the window is
done the window slides on by one. Disposing it disposes the fetches in flight
and starts no more. :func:`hypercube_pages` wires it to an API object;
:func:`fetch_all_pages` does it for every layout of a stream, dropping a stale
fetch when a newer layout arrives.

API objects may also be stand-ins whose methods return Observables instead of
awaitables; the marble tests use that to run everything on virtual time.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple, TypeVar

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable, Disposable, SerialDisposable

from rxqix.errors import INVALID_ARGUMENTS, RxqixError

T = TypeVar("T")
R = TypeVar("R")

MAX_PAGE_CELLS = 10_000
"""The most cells (width times height) the engine returns in one data page."""

DEFAULT_CONCURRENCY = 3
"""Page requests kept in flight by default."""

DataPage = dict[str, Any]
"""An ``NxDataPage``: ``qMatrix``, ``qArea``, ``qTails``."""

Progress = Callable[[int, int], object]
"""``progress(done_rows, total_rows)``, called as pages arrive."""

_DEFS = {"qHyperCubeDef": "qHyperCube", "qListObjectDef": "qListObject"}
_DATA_METHODS = {
    "qHyperCubeDef": "get_hyper_cube_data",
    "qListObjectDef": "get_list_object_data",
}
_MODES = {"P": "pivot", "K": "stacked", "T": "tree"}


class UnsupportedCubeError(RxqixError, ValueError):
    """The layout has no straight hypercube or list object at the given path.

    Pivot (``qMode`` P), stacked (K) and tree (T) cubes are refused: their
    data comes from other methods and has another shape.

    Attributes:
        path: the definition path, e.g. ``/qHyperCubeDef``.
        mode: the cube's ``qMode`` when that is the reason, else None.
    """

    def __init__(self, message: str, path: str, mode: str | None = None) -> None:
        super().__init__(message, INVALID_ARGUMENTS)
        self.path = path
        self.mode = mode


class CubeData(NamedTuple):
    """A layout with every data page of the cube at ``path``, in row order."""

    layout: Mapping[str, Any]
    pages: list[DataPage]
    path: str = "/qHyperCubeDef"


def cube_at(layout: Mapping[str, Any], path: str = "/qHyperCubeDef") -> dict[str, Any]:
    """Return the computed cube that a definition path points to in a layout.

    ``/qHyperCubeDef`` is ``layout["qHyperCube"]``; ``/chart/qListObjectDef``
    is ``layout["chart"]["qListObject"]``.

    Raises:
        UnsupportedCubeError: the path names no hypercube or list object
            definition, the layout has none there, or the cube is not
            straight.
    """
    parts = [part for part in path.split("/") if part]
    if not parts or parts[-1] not in _DEFS:
        raise UnsupportedCubeError(
            f"{path!r} is not a qHyperCubeDef or qListObjectDef path", path
        )
    node: Any = layout
    for key in [*parts[:-1], _DEFS[parts[-1]]]:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, dict):
        raise UnsupportedCubeError(
            f"no {_DEFS[parts[-1]]} at {path} in the layout", path
        )
    mode = node.get("qMode") or "S"
    if mode != "S":
        kind = _MODES.get(mode, "non-straight")
        raise UnsupportedCubeError(
            f"cannot page a {kind} hypercube (qMode {mode}): "
            "only straight cubes (qMode S) are supported",
            path,
            mode,
        )
    return node


def page_requests(
    width: int, height: int, *, page_height: int | None = None, first_row: int = 0
) -> list[dict[str, int]]:
    """Plan the ``NxPage`` requests that cover rows ``first_row`` to ``height``.

    Each page spans every column and at most ``10000 // width`` rows, so no
    page exceeds the engine's cell limit.

    Example:
        >>> page_requests(3, 7000)[-1]
        {'qLeft': 0, 'qTop': 6666, 'qWidth': 3, 'qHeight': 334}

    Raises:
        ValueError: ``page_height`` is below 1 or makes a page of more than
            10,000 cells.
    """
    if width <= 0 or height <= first_row:
        return []
    limit = max(1, MAX_PAGE_CELLS // width)
    rows = limit if page_height is None else page_height
    if rows < 1 or rows > limit:
        raise ValueError(
            f"page_height must be between 1 and {limit} for {width} columns, not {rows}"
        )
    return [
        {"qLeft": 0, "qTop": top, "qWidth": width, "qHeight": min(rows, height - top)}
        for top in range(first_row, height, rows)
    ]


def fetch_in_order(
    fetches: Sequence[Callable[[], Observable[T]]],
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Observable[T]:
    """Run fetches with at most ``concurrency`` at once, emitting in their order.

    A fetch starts only when it is within ``concurrency`` of the first one not
    yet done, so at most that many are in flight and early results are
    buffered for at most that many. It fails with the first fetch that fails;
    disposing disposes the fetches in flight and starts no more.

    ::

        fetch 0: --a|           concurrency=2: fetches 0 and 1 start at once
        fetch 1: -b|            b is held until fetch 0 is done
        fetch 2:    ----c|      starts when the window slides, at 3
        fetch 3:    d|          d is held until fetch 2 is done
        output:  --ab---c(d|)

    Example:
        >>> fetch_in_order([lambda: reactivex.of(1), lambda: reactivex.of(2)])

    Args:
        fetches: each makes a cold Observable for one fetch.
        concurrency: the most fetches in flight, at least 1.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")

    def subscribe(
        observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        count = len(fetches)
        buffers: dict[int, list[T]] = {}
        finished: set[int] = set()
        running: dict[int, abc.DisposableBase] = {}
        state = {"head": 0, "started": 0, "busy": False, "again": False}
        stopped = [False]

        def stop() -> None:
            stopped[0] = True
            for subscription in list(running.values()):
                subscription.dispose()
            running.clear()

        def fail(error: Exception) -> None:
            if not stopped[0]:
                stop()
                observer.on_error(error)

        def start(index: int) -> None:
            def on_next(value: T) -> None:
                buffers.setdefault(index, []).append(value)
                pump()

            def on_completed() -> None:
                finished.add(index)
                running.pop(index, None)
                pump()

            try:
                fetched = fetches[index]()
            except Exception as exc:
                fail(exc)
                return
            subscription = fetched.subscribe(
                on_next, fail, on_completed, scheduler=scheduler
            )
            if index not in finished and not stopped[0]:
                running[index] = subscription
            else:
                subscription.dispose()

        def pump() -> None:
            # Events may arrive while pumping (a fetch that answers at once):
            # they only mark the state, and the running pump loops again.
            if state["busy"]:
                state["again"] = True
                return
            state["busy"] = True
            try:
                state["again"] = True
                while state["again"] and not stopped[0]:
                    state["again"] = False
                    while state["head"] < count and not stopped[0]:
                        head = state["head"]
                        for value in buffers.pop(head, []):
                            observer.on_next(value)
                        if head not in finished:
                            break
                        state["head"] += 1
                    if stopped[0]:
                        return
                    if state["head"] == count:
                        stopped[0] = True
                        observer.on_completed()
                        return
                    limit = min(count, state["head"] + concurrency)
                    while state["started"] < limit and not stopped[0]:
                        state["started"] += 1
                        start(state["started"] - 1)
            finally:
                state["busy"] = False

        pump()
        return Disposable(stop)

    return Observable(subscribe)


def observe_call(method: Callable[..., Any], *args: Any) -> Observable[Any]:
    """One API call as a cold Observable of its result.

    The call is made on subscribe and its task cancelled on dispose. A method
    that returns an Observable (a test stand-in) is used as it is, first
    value only.

    ::

        subscribe: ^
        call:      [-----]            GetLayout in flight
        output:    ------L|

    Example:
        >>> observe_call(cube.get_layout).subscribe(print)
        >>> observe_call(field.select, "JFK")
    """

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        try:
            result = method(*args)
        except Exception as exc:
            observer.on_error(exc)
            return Disposable()
        if isinstance(result, Observable):
            return result.pipe(ops.take(1)).subscribe(observer, scheduler=scheduler)
        try:
            future = asyncio.ensure_future(result)
        except TypeError as exc:
            observer.on_error(exc)
            return Disposable()

        def settle(done: asyncio.Future[Any]) -> None:
            if done.cancelled():
                return
            error = done.exception()
            if isinstance(error, Exception):
                observer.on_error(error)
            elif error is None:
                observer.on_next(done.result())
                observer.on_completed()

        def cancel() -> None:
            future.remove_done_callback(settle)
            future.cancel()

        future.add_done_callback(settle)
        return Disposable(cancel)

    return Observable(subscribe)


def hypercube_pages(
    obj: Any,
    path: str = "/qHyperCubeDef",
    *,
    layout: Mapping[str, Any] | None = None,
    page_height: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> Observable[DataPage]:
    """Every data page of a straight hypercube (or list object), in row order.

    Without ``layout`` it calls ``GetLayout`` first to learn the cube's size.
    Rows the layout already holds (an initial data fetch from the first row,
    across every column) are emitted as the first page and not fetched again;
    the rest come from ``GetHyperCubeData`` (``GetListObjectData`` for a list
    object) in pages of ``10000 // qcx`` rows, ``concurrency`` requests in
    flight. It completes after the last page; disposing cancels the requests
    in flight and sends no more. ``await`` gives the last page.

    ::

        GetLayout:        --L               qcx 2, qcy 12000, concurrency=2
        GetHyperCubeData:   --a             rows 0 to 4999
                            ---b            rows 5000 to 9999
                              --c           rows 10000 on, asked when a is in
        pages:            ----ab(c|)

    Example:
        >>> pages = await hypercube_pages(cube).pipe(ops.to_list())
        >>> hypercube_pages(cube, progress=tqdm_progress()).subscribe(print)

    Args:
        obj: the GenericObject holding the cube.
        path: the definition's path in the properties.
        layout: a layout of ``obj`` to take the size from (no GetLayout call).
        page_height: rows per page; the default is the largest that fits.
        concurrency: page requests kept in flight.
        progress: called with ``(done_rows, total_rows)``, first with 0, then
            after each page.

    Raises:
        UnsupportedCubeError: (as ``on_error``) no straight cube at ``path``.
        ValueError: (as ``on_error``) a ``page_height`` that does not fit.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    fetch_data = _data_fetcher(obj, path)

    def from_layout(current: Mapping[str, Any]) -> Observable[DataPage]:
        cube = cube_at(current, path)
        size = cube.get("qSize") or {}
        width, height = int(size.get("qcx", 0)), int(size.get("qcy", 0))
        reused = _initial_rows(cube, width)
        first_row = len(reused[0]["qMatrix"]) if reused else 0
        requests = page_requests(
            width, height, page_height=page_height, first_row=first_row
        )
        fetches = [partial(reactivex.of, page) for page in reused]
        fetches += [partial(fetch_data, request) for request in requests]
        pages: Observable[DataPage] = fetch_in_order(fetches, concurrency)
        if progress is not None:
            pages = pages.pipe(_report(progress, height))
        return pages

    def deferred(current: Mapping[str, Any]) -> Observable[DataPage]:
        return reactivex.defer(lambda _: from_layout(current))

    if layout is not None:
        return deferred(layout)
    return observe_call(obj.get_layout).pipe(ops.flat_map(deferred))


def fetch_all_pages(
    obj: Any,
    path: str = "/qHyperCubeDef",
    *,
    page_height: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> Callable[[Observable[Mapping[str, Any]]], Observable[CubeData]]:
    """Turn each layout of ``obj`` into a :class:`CubeData` with every page.

    Pages are fetched as in :func:`hypercube_pages`. A new layout drops the
    fetch of the one before (switch semantics: only the latest layout's data
    is emitted), and when the layouts complete a fetch in flight is dropped
    and the output completes.

    ::

        layouts: -a----b-c-------|
        pages:    --A               one page per layout, two ticks each
                       --x          b's fetch, dropped when c arrives
                         --C
        output:  ---A------C-----|  CubeData(a, [A]), CubeData(c, [C])

    Example:
        >>> cube.layouts().pipe(fetch_all_pages(cube)).subscribe(draw)

    Args:
        obj: the GenericObject whose layouts come in.
        path: the cube's definition path.
        page_height: rows per page; the largest that fits by default.
        concurrency: page requests kept in flight.
        progress: see :func:`hypercube_pages`; it restarts at 0 per layout.
    """

    def collect(layout: Mapping[str, Any]) -> Observable[CubeData]:
        def bundle(pages: list[DataPage]) -> CubeData:
            return CubeData(layout, pages, path)

        return hypercube_pages(
            obj,
            path,
            layout=layout,
            page_height=page_height,
            concurrency=concurrency,
            progress=progress,
        ).pipe(ops.to_list(), ops.map(bundle), until_changed(obj))

    return switch_map_latest(collect)


def until_changed(obj: Any) -> Callable[[Observable[T]], Observable[T]]:
    """Drop a fetch as soon as ``obj`` changes.

    Pages asked for after a selection hold the new state's rows, yet their
    layout has not come in yet; the change notice comes first (on the reply
    that changed the state), so a fetch still running then could mix two
    states. It ends there, with no value, and the next layout's fetch takes
    over.
    """
    changes = getattr(obj, "changes", None)
    if changes is None:
        return lambda source: source
    return ops.take_until(changes)


def switch_map_latest(
    mapper: Callable[[T], Observable[R]],
) -> Callable[[Observable[T]], Observable[R]]:
    """Map each value to an inner stream, dropping the one before; end with the source.

    Like ``switch_map``, but the output completes as soon as the source does,
    disposing the inner stream in flight rather than waiting for it.

    ::

        source: -a---b|
        inner:   --A
                     --x           disposed when the source completes
        output: ---A--|
    """

    def _switch(source: Observable[T]) -> Observable[R]:
        def subscribe(
            observer: abc.ObserverBase[R], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            inner = SerialDisposable()
            generation = [0]

            def on_next(value: T) -> None:
                generation[0] += 1
                current = generation[0]
                inner.disposable = Disposable()
                try:
                    stream = mapper(value)
                except Exception as exc:
                    observer.on_error(exc)
                    return

                def forward(item: R) -> None:
                    if generation[0] == current:
                        observer.on_next(item)

                def fail(error: Exception) -> None:
                    if generation[0] == current:
                        observer.on_error(error)

                inner.disposable = stream.subscribe(forward, fail, scheduler=scheduler)

            def on_completed() -> None:
                generation[0] += 1
                inner.dispose()
                observer.on_completed()

            outer = source.subscribe(
                on_next, observer.on_error, on_completed, scheduler=scheduler
            )
            return CompositeDisposable(outer, inner)

        return Observable(subscribe)

    return _switch


def _data_fetcher(obj: Any, path: str) -> Callable[[dict[str, int]], Observable[Any]]:
    leaf = path.rstrip("/").rsplit("/", 1)[-1]
    name = _DATA_METHODS.get(leaf, "get_hyper_cube_data")

    def fetch(request: dict[str, int]) -> Observable[Any]:
        return observe_call(getattr(obj, name), path, [request]).pipe(
            ops.flat_map(reactivex.from_iterable)
        )

    return fetch


def _initial_rows(cube: Mapping[str, Any], width: int) -> list[DataPage]:
    """The layout's first data page, when it holds whole rows from the top."""
    pages = cube.get("qDataPages") or []
    if not pages:
        return []
    page = pages[0]
    area = page.get("qArea") or {}
    matrix = page.get("qMatrix") or []
    whole = area.get("qLeft", 0) == 0 and area.get("qWidth") == width
    if whole and area.get("qTop", 0) == 0 and matrix:
        return [page]
    return []


def _report(
    progress: Progress, total: int
) -> Callable[[Observable[DataPage]], Observable[DataPage]]:
    def _count(source: Observable[DataPage]) -> Observable[DataPage]:
        def factory(_: abc.SchedulerBase) -> Observable[DataPage]:
            done = [0]
            progress(0, total)

            def count(page: DataPage) -> None:
                done[0] += len(page.get("qMatrix") or ())
                progress(done[0], total)

            return source.pipe(ops.do_action(count))

        return reactivex.defer(factory)

    return _count


def tqdm_progress(**options: Any) -> Progress:
    """A ``progress`` callback that drives a tqdm bar (tqdm is optional).

    The bar is made on the first call, closed when every row is in, and made
    afresh when a new fetch starts (a new layout of a live stream).

    Example:
        >>> hypercube_pages(cube, progress=tqdm_progress(desc="flights"))

    Args:
        options: passed to ``tqdm.auto.tqdm``; ``unit`` is "rows" by default.

    Raises:
        ImportError: tqdm is not installed.
    """
    tqdm = _optional("tqdm.auto", "tqdm_progress", "tqdm").tqdm
    bars: list[Any] = []

    def update(done: int, total: int) -> None:
        if bars and done < bars[0].n:
            bars.pop().close()
        if not bars:
            bars.append(tqdm(total=total, **{"unit": "rows", **options}))
        bar = bars[0]
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bars.pop().close()

    return update


def rich_progress(progress: Any = None, description: str = "rows") -> Progress:
    """A ``progress`` callback that drives a rich progress bar (rich is optional).

    Example:
        >>> with rich.progress.Progress() as bars:
        ...     hypercube_pages(cube, progress=rich_progress(bars, "flights"))

    Args:
        progress: a ``rich.progress.Progress`` to add a task to; by default
            one is made, started on the first call and stopped when every
            row is in.
        description: the task's description.

    Raises:
        ImportError: rich is not installed and no ``progress`` was given.
    """
    own = progress is None
    if own:
        progress = _optional("rich.progress", "rich_progress", "rich").Progress()
    state: dict[str, Any] = {"task": None, "done": 0}

    def update(done: int, total: int) -> None:
        if state["task"] is None:
            if own:
                progress.start()
            state["task"] = progress.add_task(description, total=total)
        elif done < state["done"]:
            progress.reset(state["task"], total=total)
        state["done"] = done
        progress.update(state["task"], completed=done, total=total)
        if done >= total:
            state["task"] = None
            if own:
                progress.stop()

    return update


def _optional(module: str, user: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{user} needs {package}: pip install {package}") from exc

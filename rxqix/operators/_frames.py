"""Hypercube data as pandas DataFrames, once or live.

pandas is an optional extra (``pip install 'rxqix[pandas]'``): it is imported
when a frame is first built, never by ``import rxqix.operators``.

Columns. One column per dimension, then one per measure, titled with their
``qFallbackTitle`` (a repeated title gets `` (2)``, `` (3)``...). A column is
numeric when every cell that is not null has a number in ``qNum``: its values
are ``qNum``, int64 when they are all whole and none is missing, else float64
with NaN for the missing ones (the way ``pandas.read_csv`` types a column).
Any other column is text: ``qText``, with missing values (NaN in pandas 3's
``str`` dtype) for null cells. A cell is null when it has ``qIsNull``.

Duals. With ``duals=True`` every column that holds numbers keeps both forms:
``<title>`` has the texts and ``<title> (num)`` the numbers, side by side. Use
it for dual fields such as month names, whose numbers sort and whose texts
read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops

from rxqix.operators._hypercube import (
    DEFAULT_CONCURRENCY,
    CubeData,
    DataPage,
    Progress,
    cube_at,
    hypercube_pages,
    switch_map_latest,
    until_changed,
)

if TYPE_CHECKING:
    import pandas as pd

FrameSource = Mapping[str, Any] | CubeData | Iterable[DataPage]
"""A layout, a :class:`CubeData`, or data pages."""

_INT_LIMIT = 2.0**53


def to_dataframe(
    data: FrameSource,
    *,
    path: str = "/qHyperCubeDef",
    duals: bool = False,
    titles: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Build a DataFrame from a layout's cube, a :class:`CubeData`, or pages.

    A layout gives the pages it holds (its initial data fetch); a CubeData
    gives all of them (see :func:`fetch_all_pages`). Titles come from the
    layout's ``qDimensionInfo`` and ``qMeasureInfo``; bare pages have numbered
    columns unless ``titles`` are given. Pages are joined in the order given
    and must each span every column. See the module docstring for the rules
    on types, missing values and duals.

    Example:
        >>> frame = to_dataframe(await cube.get_layout())
        >>> frame = to_dataframe(await pages.pipe(ops.to_list()), titles=["a"])

    Args:
        data: a layout, a CubeData, or an iterable of ``NxDataPage`` dicts.
        path: where the cube's definition is, for a layout.
        duals: keep the text and the number of numeric columns.
        titles: column titles, overriding the layout's.

    Raises:
        UnsupportedCubeError: a layout with no straight cube at ``path``.
        ValueError: a page that does not span every column.
        ImportError: pandas is not installed.
    """
    if isinstance(data, CubeData):
        builder = FrameBuilder(data.layout, data.path, duals=duals, titles=titles)
        pages: Iterable[DataPage] = data.pages
    elif isinstance(data, Mapping):
        builder = FrameBuilder(data, path, duals=duals, titles=titles)
        pages = cube_at(data, path).get("qDataPages") or []
    else:
        builder = FrameBuilder(None, duals=duals, titles=titles)
        pages = data
    for page in pages:
        builder.add(page)
    return builder.frame()


def pages_to_frame(
    layout: Mapping[str, Any] | None = None,
    path: str = "/qHyperCubeDef",
    *,
    duals: bool = False,
    titles: Sequence[str] | None = None,
) -> Callable[[Observable[DataPage]], Observable[pd.DataFrame]]:
    """Fold a stream of data pages into one DataFrame, page by page.

    Each page becomes columns as it arrives and its cells are let go, so the
    peak memory is the frame's, not that of every page's cells at once. The
    frame is emitted when the pages complete; titles come from ``layout``
    as in :func:`to_dataframe`.

    ::

        pages:  --a--b--c|
        output: ---------F|      F = to_dataframe([a, b, c])

    Example:
        >>> layout = await cube.get_layout()
        >>> frame = await hypercube_pages(cube, layout=layout).pipe(
        ...     pages_to_frame(layout)
        ... )
    """

    def _fold(source: Observable[DataPage]) -> Observable[pd.DataFrame]:
        def factory(_: abc.SchedulerBase) -> Observable[pd.DataFrame]:
            builder = FrameBuilder(layout, path, duals=duals, titles=titles)
            return source.pipe(
                ops.do_action(builder.add),
                ops.ignore_elements(),
                ops.concat(reactivex.defer(lambda _: reactivex.of(builder.frame()))),
            )

        return reactivex.defer(factory)

    return _fold


class FrameBuilder:
    """Builds a DataFrame from data pages, one page at a time.

    Each page is turned into column chunks (numbers as float arrays, texts as
    lists) when added, so the pages' cell dicts need not be kept.

    Args:
        layout: a layout with the cube at ``path``, for titles and width;
            None for bare pages.
        path: the cube's definition path.
        duals: see :func:`to_dataframe`.
        titles: column titles, overriding the layout's.

    Raises:
        UnsupportedCubeError: a layout with no straight cube at ``path``.
    """

    def __init__(
        self,
        layout: Mapping[str, Any] | None,
        path: str = "/qHyperCubeDef",
        *,
        duals: bool = False,
        titles: Sequence[str] | None = None,
    ) -> None:
        self.cube = cube_at(layout, path) if layout is not None else None
        self.duals = duals
        self.titles = list(titles) if titles is not None else None
        self.width: int | None = None
        size = (self.cube or {}).get("qSize") or {}
        if "qcx" in size:
            self._start(int(size["qcx"]))
        self.rows = 0

    def _start(self, width: int) -> None:
        self.width = width
        self._texts: list[list[Any]] = [[] for _ in range(width)]
        self._nums: list[list[Any]] = [[] for _ in range(width)]
        self._numeric = [True] * width

    def add(self, page: DataPage) -> None:
        """Add one page's rows.

        Raises:
            ValueError: the page does not span every column.
        """
        import numpy as np

        matrix = page.get("qMatrix") or []
        if self.width is None:
            if not matrix:
                return
            self._start(len(matrix[0]))
        width = self.width
        area = page.get("qArea") or {}
        if area.get("qLeft", 0) != 0 or any(len(row) != width for row in matrix):
            raise ValueError(f"a page does not span all {width} columns: {area}")
        for index in range(len(self._texts)):
            cells = [row[index] for row in matrix]
            self._texts[index].extend(
                [None if cell.get("qIsNull") else cell.get("qText") for cell in cells]
            )
            nums: list[Any] = [
                math.nan if cell.get("qIsNull") else cell.get("qNum") for cell in cells
            ]
            if any(type(num) is str or num is None for num in nums):
                self._numeric[index] = False
                nums = [math.nan if type(n) is str or n is None else n for n in nums]
            self._nums[index].append(np.array(nums, dtype=np.float64))
        self.rows += len(matrix)

    def frame(self) -> pd.DataFrame:
        """The DataFrame of the rows added so far."""
        import numpy as np

        pd = _pandas()
        width = self.width or 0
        titles = _titles(self.cube, width)
        if self.titles is not None:
            titles = [*self.titles[:width], *titles[len(self.titles) :]]
        columns: dict[Any, Any] = {}
        for index, name in enumerate(_unique(titles)):
            chunks = self._nums[index]
            nums = np.concatenate(chunks) if chunks else np.empty(0)
            numeric = self._numeric[index]
            if not numeric or self.duals:
                columns[name] = self._texts[index]
            if not numeric and self.duals:
                numeric = not bool(np.isnan(nums).all())
            if numeric:
                columns[f"{name} (num)" if self.duals else name] = _narrow(nums)
        return pd.DataFrame(columns, index=pd.RangeIndex(self.rows))


def to_frames(
    path: str = "/qHyperCubeDef", *, duals: bool = False
) -> Callable[[Observable[Any]], Observable[pd.DataFrame]]:
    """Map layouts (or :class:`CubeData`) to DataFrames with :func:`to_dataframe`.

    On plain layouts only the rows of the initial data fetch are there; put
    :func:`fetch_all_pages` first for every row (or use :func:`live_frames`).

    ::

        layouts: --a----b--|
        frames:  --A----B--|     A is to_dataframe(a)

    Example:
        >>> cube.layouts().pipe(to_frames()).subscribe(print)

    Args:
        path: where the cube's definition is.
        duals: see :func:`to_dataframe`.
    """
    return ops.map(partial(to_dataframe, path=path, duals=duals))


def live_frames(
    obj: Any,
    path: str = "/qHyperCubeDef",
    *,
    duals: bool = False,
    page_height: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> Observable[pd.DataFrame]:
    """A DataFrame of every row of ``obj``'s cube, again after every change.

    Each layout from ``obj.layouts()`` (one per selection or other change) has
    all its pages fetched; a layout that arrives mid-fetch drops the stale
    fetch. It completes when the object's handle closes; ``await`` gives the
    last frame.

    ::

        layouts:     a-------b-c---------|
        page fetch:  ----A                  every page of a
                             --x            b's pages, dropped when c comes
                               ----C
        live_frames: ----A---------C-----|  the DataFrames of a and c

    Example:
        >>> live_frames(cube).subscribe(lambda frame: print(frame.describe()))

    Args:
        obj: the GenericObject with the cube.
        path: where the cube's definition is.
        duals: see :func:`to_dataframe`.
        page_height: rows per page; the largest that fits by default.
        concurrency: page requests kept in flight.
        progress: see :func:`hypercube_pages`; it restarts at 0 per layout.
    """

    def frame_of(layout: Mapping[str, Any]) -> Observable[pd.DataFrame]:
        pages = hypercube_pages(
            obj,
            path,
            layout=layout,
            page_height=page_height,
            concurrency=concurrency,
            progress=progress,
        )
        return pages.pipe(pages_to_frame(layout, path, duals=duals), until_changed(obj))

    layouts: Observable[Mapping[str, Any]] = obj.layouts()
    return layouts.pipe(switch_map_latest(frame_of))


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            "DataFrames need pandas: pip install 'rxqix[pandas]'"
        ) from exc
    return pandas


def _titles(cube: Mapping[str, Any] | None, width: int) -> list[str]:
    infos: list[Any] = []
    if cube is not None:
        dims = cube.get("qDimensionInfo") or []
        infos += [dims] if isinstance(dims, Mapping) else list(dims)
        infos += list(cube.get("qMeasureInfo") or [])
    titles = [str(info.get("qFallbackTitle", "")) for info in infos[:width]]
    return titles + [str(i) for i in range(len(titles), width)]


def _unique(titles: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for title in titles:
        seen[title] = seen.get(title, 0) + 1
        names.append(title if seen[title] == 1 else f"{title} ({seen[title]})")
    return names


def _narrow(values: Any) -> Any:
    """Whole numbers with none missing become int64, as read_csv types them."""
    import numpy as np

    if values.size and not np.isnan(values).any():
        whole = np.array_equal(values, np.trunc(values))
        if whole and np.abs(values).max() < _INT_LIMIT:
            return values.astype(np.int64)
    return values

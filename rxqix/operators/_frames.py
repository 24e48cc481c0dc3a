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

from reactivex import Observable
from reactivex import operators as ops

from rxqix.operators._hypercube import (
    DEFAULT_CONCURRENCY,
    CubeData,
    DataPage,
    Progress,
    cube_at,
    fetch_all_pages,
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
    gives all of them (see :func:`hypercube_pages`). Titles come from the
    layout's ``qDimensionInfo`` and ``qMeasureInfo``; bare pages have numbered
    columns unless ``titles`` are given. Pages are joined in the order given
    and must each span every column. See the module docstring for the rules
    on types, missing values and duals.

    Example:
        >>> frame = to_dataframe(await cube.get_layout())
        >>> frame = to_dataframe(await cube_pages.pipe(ops.to_list()), titles=["a"])

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
    pd = _pandas()
    cube: Mapping[str, Any] | None = None
    if isinstance(data, CubeData):
        cube, pages = cube_at(data.layout, data.path), list(data.pages)
    elif isinstance(data, Mapping):
        cube = cube_at(data, path)
        pages = list(cube.get("qDataPages") or [])
    else:
        pages = list(data)

    rows = [row for page in pages for row in page.get("qMatrix") or ()]
    width = _width(cube, rows)
    for page in pages:
        area = page.get("qArea") or {}
        if area.get("qLeft", 0) != 0 or any(
            len(row) != width for row in page["qMatrix"]
        ):
            raise ValueError(f"a page does not span all {width} columns: {area}")
    names = _unique(titles if titles is not None else _titles(cube, width))

    columns: dict[Any, Any] = {}
    for index, name in enumerate(names):
        cells = [row[index] for row in rows]
        _add_column(columns, name, cells, duals)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


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
    layouts: Observable[Mapping[str, Any]] = obj.layouts()
    return layouts.pipe(
        fetch_all_pages(
            obj,
            path,
            page_height=page_height,
            concurrency=concurrency,
            progress=progress,
        ),
        to_frames(path, duals=duals),
    )


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            "DataFrames need pandas: pip install 'rxqix[pandas]'"
        ) from exc
    return pandas


def _width(cube: Mapping[str, Any] | None, rows: list[list[Any]]) -> int:
    if cube is not None:
        size = cube.get("qSize") or {}
        if "qcx" in size:
            return int(size["qcx"])
    return len(rows[0]) if rows else 0


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


def _add_column(
    columns: dict[Any, Any], name: str, cells: list[dict[str, Any]], duals: bool
) -> None:
    import numpy as np

    nums: list[Any] = [
        math.nan if cell.get("qIsNull") else cell.get("qNum") for cell in cells
    ]
    numeric = not any(type(num) is str or num is None for num in nums)
    if not numeric or duals:
        columns[name] = [
            None if cell.get("qIsNull") else cell.get("qText") for cell in cells
        ]
    if not numeric and duals:
        nums = [math.nan if type(num) is str or num is None else num for num in nums]
        numeric = not all(math.isnan(num) for num in nums)
    if numeric:
        name = f"{name} (num)" if duals else name
        columns[name] = _narrow(np.array(nums, dtype=np.float64))


def _narrow(values: Any) -> Any:
    """Whole numbers with none missing become int64, as read_csv types them."""
    import numpy as np

    if values.size and not np.isnan(values).any():
        whole = np.array_equal(values, np.trunc(values))
        if whole and np.abs(values).max() < _INT_LIMIT:
            return values.astype(np.int64)
    return values

"""Rx operators for QIX streams.

Protocol pipelines (used by the session, public for testing and extension):
``correlate``, ``map_engine_errors``, ``merge_deltas``, ``take_results``,
``unwrap_out_params``, ``response_pipeline``, ``notifications``,
``handle_events``. Live values: ``refetch_latest``, ``share_latest``.

Hypercube data: ``hypercube_pages``, ``fetch_all_pages``, ``fetch_in_order``,
``page_requests``, ``cube_at``, ``observe_call``, ``switch_map_latest``,
progress bars ``tqdm_progress`` and ``rich_progress``. DataFrames (pandas
imported on first use): ``to_dataframe``, ``to_frames``, ``live_frames``,
``pages_to_frame``, ``FrameBuilder``.
Selections: ``select_values``, ``select_match``, ``clear_selections``,
``field_values``, ``concat_map_latest``.
"""

from __future__ import annotations

from rxqix.operators._frames import (
    FrameBuilder,
    live_frames,
    pages_to_frame,
    to_dataframe,
    to_frames,
)
from rxqix.operators._hypercube import (
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
from rxqix.operators._live import refetch_latest, same_value, share_latest
from rxqix.operators._pipeline import (
    correlate,
    handle_events,
    map_engine_errors,
    merge_deltas,
    notifications,
    response_pipeline,
    take_results,
    unwrap_out_params,
)
from rxqix.operators._select import (
    clear_selections,
    concat_map_latest,
    field_values,
    select_match,
    select_values,
)

__all__ = [
    "MAX_PAGE_CELLS",
    "CubeData",
    "FrameBuilder",
    "UnsupportedCubeError",
    "clear_selections",
    "concat_map_latest",
    "correlate",
    "cube_at",
    "fetch_all_pages",
    "fetch_in_order",
    "field_values",
    "handle_events",
    "hypercube_pages",
    "live_frames",
    "map_engine_errors",
    "merge_deltas",
    "notifications",
    "observe_call",
    "page_requests",
    "pages_to_frame",
    "refetch_latest",
    "response_pipeline",
    "rich_progress",
    "same_value",
    "select_match",
    "select_values",
    "share_latest",
    "switch_map_latest",
    "take_results",
    "to_dataframe",
    "to_frames",
    "tqdm_progress",
    "unwrap_out_params",
]

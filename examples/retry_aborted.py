"""Retry requests that the engine aborted (code 15, LOCERR_GENERIC_ABORTED).

A long calculation is aborted when selections change under it. This response
interceptor sends such a request again, up to three times, and gives up with
the engine's error after that.

    python examples/retry_aborted.py ws://127.0.0.1:9076/app/nycflights13
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import rxqix
from rxqix.errors import EngineError

ABORTED = 15
MAX_RETRIES = 3


class RetryAborted:
    """A response interceptor: retry aborted requests up to ``max_retries`` times."""

    def __init__(self, max_retries: int = MAX_RETRIES) -> None:
        self.max_retries = max_retries

    async def on_rejected(
        self, session: rxqix.Session, request: rxqix.Request, error: BaseException
    ) -> Any:
        retries = request.tries - 1
        if isinstance(error, EngineError) and error.code == ABORTED:
            if retries < self.max_retries and request.retry is not None:
                return await request.retry()
        raise error


async def main(url: str) -> None:
    session = rxqix.Session(url, response_interceptors=[RetryAborted()])
    async with session as qix:
        doc = await qix.open_doc("nycflights13")
        total = doc.evaluate("Count(flight)")
        clears = [doc.clear_all() for _ in range(3)]
        results = await asyncio.gather(total, *clears)
        print("Count(flight) =", results[0])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9076/app/"))

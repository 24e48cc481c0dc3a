"""Turn the delta protocol off for one method with a request interceptor.

Every request asks for delta replies by default; this interceptor sends
``EngineVersion`` on Global without it, and leaves every other request alone.

    python examples/toggle_delta.py ws://127.0.0.1:9076/app/nycflights13
"""

from __future__ import annotations

import asyncio
import sys

import rxqix


class NoDeltaForEngineVersion:
    """A request interceptor: ``EngineVersion`` on Global goes without delta."""

    def on_fulfilled(
        self, session: rxqix.Session, request: rxqix.Request
    ) -> rxqix.Request:
        if request.method == "EngineVersion" and request.handle == -1:
            request.delta = False
        return request


async def main(url: str) -> None:
    session = rxqix.Session(url, request_interceptors=[NoDeltaForEngineVersion()])
    session.on(
        "traffic:sent", lambda frame: print("sent", frame["method"], frame["delta"])
    )
    async with session as qix:
        print(await qix.engine_version())
        print(await qix.get_unique_id())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9076/app/"))

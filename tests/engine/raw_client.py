"""A raw QIX client for engine tests: one socket, no library in between."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class Client:
    """A raw QIX client: one socket, replies read in order, pushes kept aside."""

    def __init__(self, ws: ClientConnection, state: str) -> None:
        self.ws = ws
        self.state = state
        self.pushed: list[dict[str, Any]] = []
        self._id = 0

    async def send(
        self, method: str, handle: int = -1, params: Any = (), **extra: Any
    ) -> dict[str, Any]:
        self._id += 1
        frame = {"jsonrpc": "2.0", "id": self._id, "handle": handle, "method": method}
        frame.update(params=list(params) if isinstance(params, tuple) else params)
        frame.update(extra)
        await self.ws.send(json.dumps(frame))
        while True:
            reply: dict[str, Any] = json.loads(
                await asyncio.wait_for(self.ws.recv(), 10)
            )
            if "id" in reply:
                return reply
            self.pushed.append(reply)

    async def result(
        self, method: str, handle: int = -1, params: Any = (), **extra: Any
    ) -> dict[str, Any]:
        reply = await self.send(method, handle, params, **extra)
        assert "error" not in reply, reply
        result: dict[str, Any] = reply["result"]
        return result

    async def ref(self, method: str, handle: int = -1, params: Any = ()) -> int:
        handle_: int = (await self.result(method, handle, params))["qReturn"]["qHandle"]
        return handle_

    async def next_push(self) -> dict[str, Any]:
        if self.pushed:
            return self.pushed.pop(0)
        push: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        assert "id" not in push, push
        return push


class Connect:
    """``async with Connect(url) as client``: open a socket, read OnConnected."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ws: ClientConnection | None = None

    async def __aenter__(self) -> Client:
        self._ws = await connect(self.url)
        hello = json.loads(await self._ws.recv())
        assert hello["method"] == "OnConnected", hello
        return Client(self._ws, hello["params"]["qSessionState"])

    async def __aexit__(self, *exc: object) -> None:
        assert self._ws is not None
        await self._ws.close()
        # Let the server see the socket go before the next one arrives.
        await asyncio.sleep(0.02)

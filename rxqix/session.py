"""Sessions: one websocket to the engine, its pipelines and its state.

Theory of operation. The transport pushes decoded frames into a hot
Observable. Four subscribers hang off it, in this order:

1. traffic: each frame goes to the traffic stream and events (the session's,
   and the API object's whose request it answers);
2. replies: frames whose id is pending run the built-in response stages
   (engine errors, delta merge, result, out-parameter) in arrival order and
   settle the waiting call;
3. handle events: ``change`` and ``close`` lists reach the API objects, which
   drive their live layouts;
4. notifications: frames with a method and no id.

A call builds a :class:`Request`, runs the request pipeline (delta flag, user
request interceptors), registers it as pending and sends it. When its reply
settles, the user response interceptors run and, last, object references
become API objects. Every way out of ``opened`` fails the pending calls.

``state`` is a BehaviorSubject of :class:`SessionState`::

    created -> opening -> opened -> closing -> closed
                  |        |  ^
                  v        v  |
                closed   suspended -> resuming
                           |   ^          |
                           |   +----------+  (resume failed)
                           +-> closing -> closed
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Generator, Mapping
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

from reactivex import Observable
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import BehaviorSubject, Subject

from rxqix import config as configuration
from rxqix import interceptors as stages
from rxqix._events import Emitter
from rxqix._protocol.rpc import Reply, Request
from rxqix._protocol.schema import Method, load_schema
from rxqix._transport import Transport, check_url, redact_url
from rxqix.api import ApiFactory, ApiObject
from rxqix.errors import (
    ConfigurationError,
    EngineError,
    NotConnectedError,
    ObjectClosedError,
    ObjectNotFoundError,
    SessionNotAttachedError,
    SessionSuspendedError,
)
from rxqix.mixins import MixinRegistry
from rxqix.operators._pipeline import handle_events, notifications, response_pipeline

T = TypeVar("T")
logger = logging.getLogger("rxqix.session")

NORMAL_CLOSURE = 1000
SUSPEND_CODE = 4000
UNRECOVERABLE = frozenset({"Field", "Variable"})


class SessionState(StrEnum):
    """The states of a session."""

    CREATED = "created"
    OPENING = "opening"
    OPENED = "opened"
    SUSPENDED = "suspended"
    RESUMING = "resuming"
    CLOSING = "closing"
    CLOSED = "closed"


class CloseEvent(NamedTuple):
    """How a socket closed: the websocket close ``code`` and ``reason``."""

    code: int
    reason: str


class Notification(NamedTuple):
    """A frame the engine pushed: ``method`` and its ``params``."""

    method: str
    params: Any


class Traffic(NamedTuple):
    """One frame on the wire: ``direction`` is "sent" or "received"."""

    direction: str
    frame: dict[str, Any]


class Call(Awaitable[Any]):
    """A method call: await it for the result.

    ``request_id`` is known at once, before the request is sent, so that
    ``Global.cancel_request(call.request_id)`` can name it (enigma.js's
    ``promise.requestId``). The request is sent when the call is awaited
    (or wrapped in a task); a retry sends it again with a new id.
    """

    __slots__ = ("_session", "request")

    def __init__(self, session: Session, request: Request) -> None:
        self._session = session
        self.request = request

    @property
    def request_id(self) -> int | None:
        """The id the request is (or will first be) sent with; None if refused."""
        return self.request.id

    def __await__(self) -> Generator[Any, None, Any]:
        return self._session.send(self.request).__await__()


class Session(Emitter):
    """A session with a QIX engine over one websocket.

    Args:
        url: the engine URL, ``ws://`` or ``wss://``.
        schema: a schema path, mapping or Schema; the bundled one by default.
        create_socket: ``create_socket(url)`` returns (an awaitable of) a
            websockets-style connection; replaces the default socket, as
            enigma.js's createSocket (auth headers, certificates, cookies).
        headers: extra HTTP headers for the handshake (never logged).
        subprotocols: websocket subprotocols to offer.
        ssl: an SSL context for ``wss://`` URLs.
        protocol: keys merged into every request; ``delta`` (default True)
            turns the delta protocol on or off.
        suspend_on_close: turn a lost socket into a suspended session.
        mixins: see :mod:`rxqix.mixins`.
        request_interceptors: run on each request, after the delta flag.
        response_interceptors: run on each reply, before API objects are made.
        logger: the logger to use instead of ``rxqix.session``.
        open_timeout: seconds to wait for the websocket handshake.
        resume_timeout: seconds :meth:`resume` waits for OnConnected (5).

    Events (``on(event, fn)`` or ``events(event)``): ``opened``, ``closed``
    ``(CloseEvent)``, ``suspended`` ``({"initiator", "code", "reason"})``,
    ``resumed``, ``notification:*`` ``(method, params)``,
    ``notification:<method>`` ``(params)``, ``traffic:*`` ``(direction,
    frame)``, ``traffic:sent`` and ``traffic:received`` ``(frame)``,
    ``socket-error`` ``(error)``.
    """

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__()
        fields = configuration.normalize(None, {"url": url, **options})
        self.config: dict[str, Any] = fields
        self.url = check_url(fields["url"])
        try:
            self.schema = load_schema(fields.get("schema"))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ConfigurationError(f"cannot load schema: {exc}", "schema") from exc
        self.protocol: dict[str, Any] = {
            "delta": True,
            **(fields.get("protocol") or {}),
        }
        self.suspend_on_close: bool = fields.get("suspend_on_close", False)
        self.request_interceptors = list(fields.get("request_interceptors", ()))
        self.response_interceptors = list(fields.get("response_interceptors", ()))
        self.resume_timeout: float = fields.get("resume_timeout") or 5.0
        self._log: logging.Logger = fields.get("logger") or logger
        self._transport_options: dict[str, Any] = {
            key: fields.get(key)
            for key in ("create_socket", "headers", "subprotocols", "ssl")
        }
        self._transport_options["open_timeout"] = fields.get("open_timeout", 10.0)

        self._factory = ApiFactory(self.schema, MixinRegistry(fields.get("mixins", ())))
        self._transport: Transport | None = None
        self._apis: dict[int, ApiObject] = {}
        self._pending: dict[int, Request] = {}
        self._waiters: dict[int, asyncio.Future[Reply]] = {}
        self._delta: stages.DeltaCache = {}
        self._next_id = 0
        self._closing_by_us = False
        self._last_close: CloseEvent | None = None
        self._open_task: asyncio.Task[ApiObject] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._open_doc_params: list[Any] | dict[str, Any] | None = None
        self._connected: asyncio.Future[str] | None = None

        self.state: BehaviorSubject[SessionState] = BehaviorSubject(
            SessionState.CREATED
        )
        self._notifications: Subject[Notification] = Subject()
        self._traffic: Subject[Traffic] = Subject()
        self.scheduler: AsyncIOScheduler | None = None
        self.global_: ApiObject | None = None

    # -- public surface -------------------------------------------------------

    @property
    def notifications(self) -> Observable[Notification]:
        """Every notification the engine pushes (hot)."""
        return self._notifications

    def notification(self, method: str) -> Observable[Any]:
        """The params of every notification named ``method`` (e.g. "OnConnected")."""

        def named(notification: Notification) -> bool:
            return notification.method == method

        def params(notification: Notification) -> Any:
            return notification.params

        return self._notifications.pipe(ops.filter(named), ops.map(params))

    @property
    def traffic(self) -> Observable[Traffic]:
        """Every frame sent and received (hot); frames are never changed after."""
        return self._traffic

    def api(self, handle: int) -> ApiObject | None:
        """Return the live API object of a handle, or None."""
        return self._apis.get(handle)

    @property
    def apis(self) -> list[ApiObject]:
        """The live API objects, in creation order."""
        return list(self._apis.values())

    async def open(self) -> ApiObject:
        """Open the socket and return the Global API; later calls return it again.

        A session that was closed opens a new socket; a failed open may be
        retried by calling ``open()`` again.

        Raises:
            ConnectionFailedError: when the socket cannot be opened.
        """
        task = self._open_task
        if task is None or self.state.value is SessionState.CLOSED:
            task = self._open_task = asyncio.ensure_future(self._open())
        return await asyncio.shield(task)

    async def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the socket; pending calls fail and every API object closes.

        ``closed`` is emitted once. Closing a session that never opened, or is
        closed already, does nothing.
        """
        opening = self._open_task
        if opening is not None and not opening.done():
            # Let the open finish (or fail) first, then close what it opened.
            await asyncio.wait([opening])
        state = self.state.value
        if state in (SessionState.CREATED, SessionState.CLOSED):
            return
        self._closing_by_us = True
        self._set_state(SessionState.CLOSING, f"close({code})")
        event = CloseEvent(code, reason)
        if self._transport is not None and self._transport.is_open:
            event = CloseEvent(*await self._transport.close(code, reason))
        self._finish_close(event)

    async def suspend(self, code: int = SUSPEND_CODE, reason: str = "") -> None:
        """Close the socket but keep the API objects, to :meth:`resume` later.

        Pending calls fail with NOT_CONNECTED; calls made while suspended fail
        with SESSION_SUSPENDED.

        Raises:
            NotConnectedError: when the session is not open.
        """
        if self.state.value is not SessionState.OPENED:
            raise NotConnectedError(
                f"cannot suspend a session that is {self.state.value}"
            )
        self._set_state(SessionState.SUSPENDED, f"suspend({code})")
        assert self._transport is not None
        event = CloseEvent(*await self._transport.close(code, reason))
        self._last_close = event
        self._fail_pending(NotConnectedError("socket closed", original=event))
        self.emit("suspended", {"initiator": "manual", "code": code, "reason": reason})

    async def resume(self, only_if_attached: bool = False) -> None:
        """Reconnect a suspended session and restore its API objects.

        Waits for OnConnected (``resume_timeout`` seconds, then assumes a new
        engine session). When the engine session was kept (SESSION_ATTACHED),
        every API object gets ``changed``. When it is new (SESSION_CREATED),
        the doc is reopened and each object looked up again by id: those found
        get ``changed`` (with a new handle), the others ``closed``.

        Raises:
            SessionNotAttachedError: ``only_if_attached`` and a new session.
            NotConnectedError: the session is not suspended, or reconnecting failed.
        """
        state = self.state.value
        if state is SessionState.OPENED:
            return
        if state is not SessionState.SUSPENDED:
            raise NotConnectedError(f"cannot resume a session that is {state.value}")
        self._set_state(SessionState.RESUMING, "resume")
        try:
            restored, lost = await self._reattach(only_if_attached)
        except BaseException:
            self._set_state(SessionState.SUSPENDED, "resume failed")
            raise
        self._commit_resume(restored, lost)

    async def __aenter__(self) -> ApiObject:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def call(self, api: ApiObject, spec: Method, params: list[Any]) -> Call:
        """Make one schema method call for an API object; await it for the result.

        The request id is taken at once, except while the session is suspended:
        such a call fails when awaited and, as in enigma.js, uses up no id.
        """
        if api.is_closed and self.state.value is SessionState.OPENED:
            raise ObjectClosedError(
                f"{api.type} {api.id or ''} is closed (handle {api.handle})".replace(
                    "  ", " "
                )
            )
        request = Request(api.handle, spec.name, params, spec.out_key, spec=spec)
        if self.state.value not in (SessionState.SUSPENDED, SessionState.RESUMING):
            self._next_id += 1
            request.id = self._next_id
        return Call(self, request)

    async def send(self, request: Request) -> Any:
        """Send a request through both pipelines and return its result.

        Raises:
            SessionSuspendedError: while the session is suspended.
            NotConnectedError: without an open socket, or when it closes first.
            EngineError: when the engine answers with an error.
        """
        if self.state.value in (SessionState.SUSPENDED, SessionState.RESUMING):
            request.id = None
            raise SessionSuspendedError("session suspended", original=self._last_close)
        transport = self._transport
        if transport is None or not transport.is_open:
            raise NotConnectedError("not connected", original=self._last_close)

        if request.id is None or request.tries:
            self._next_id += 1
            request.id = self._next_id
        request.tries += 1
        stages.delta_flag(request, bool(self.protocol.get("delta")))
        for interceptor in self.request_interceptors:
            handler = configuration.handler(interceptor, "on_fulfilled")
            if handler is not None:
                request = await _resolve(handler(self, request))
        request.retry = lambda: self.send(request)

        reply = await self._exchange(transport, request, request.to_wire(self.protocol))
        if not self.response_interceptors:
            if reply.error is not None:
                raise reply.error
            return self._to_api(reply.value)
        return await self._finish(request, reply)

    def spawn(self, work: Awaitable[T]) -> asyncio.Future[T]:
        """Run an awaitable as a task the session keeps until it ends."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._forget_task)
        return task

    def _forget_task(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        # Whoever awaited the task has its outcome; a task nobody waits for any
        # more (a live layout disposed mid-fetch) must not warn at exit.
        if not task.cancelled():
            task.exception()

    # -- the wire ---------------------------------------------------------------

    async def _exchange(
        self, transport: Transport, request: Request, wire: dict[str, Any]
    ) -> Reply:
        request_id = request.id
        assert request_id is not None
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = request
        self._waiters[request_id] = waiter
        try:
            await transport.send(wire)
        except BaseException:
            self._pending.pop(request_id, None)
            self._waiters.pop(request_id, None)
            raise
        if request.method == "OpenDoc":
            self._open_doc_params = request.params
        self._emit_traffic("sent", wire, request.handle)
        return await waiter

    async def _raw_call(self, method: str, params: list[Any], handle: int = -1) -> Any:
        """Send a request with no interceptors and no protocol keys; the result."""
        assert self._transport is not None
        self._next_id += 1
        request = Request(handle, method, params, id=self._next_id)
        wire = {"handle": handle, "method": method, "params": params, "id": request.id}
        wire["jsonrpc"] = "2.0"
        reply = await self._exchange(self._transport, request, wire)
        if reply.error is not None:
            raise reply.error
        return reply.response.get("result")

    def _emit_traffic(self, direction: str, frame: dict[str, Any], handle: Any) -> None:
        if self._traffic.observers:
            self._traffic.on_next(Traffic(direction, frame))
        if self._listeners:
            self.emit("traffic:*", direction, frame)
            self.emit(f"traffic:{direction}", frame)
        api = self._apis.get(handle) if handle is not None else None
        if api is not None and api._listeners:
            api.emit("traffic:*", direction, frame)
            api.emit(f"traffic:{direction}", frame)

    # -- opening, closing, suspending -----------------------------------------

    async def _connect(self) -> Transport:
        loop = asyncio.get_running_loop()
        self.scheduler = AsyncIOScheduler(loop)
        self._connected = loop.create_future()
        transport = Transport(self.url, logger_=None, **self._transport_options)
        self._wire(transport)
        await transport.open()
        self._transport = transport
        assert transport.closed is not None
        transport.closed.add_done_callback(
            lambda closed: self._on_socket_closed(transport, closed)
        )
        return transport

    async def _open(self) -> ApiObject:
        self._set_state(SessionState.OPENING, redact_url(self.url))
        self._closing_by_us = False
        self._delta.clear()
        try:
            await self._connect()
            self.global_ = self._api_for(-1, "Global", "Global", "Global")
        except BaseException as exc:
            self._set_state(SessionState.CLOSED, f"open failed: {exc}")
            if self._transport is not None:
                await self._transport.close()
            raise
        self._set_state(SessionState.OPENED, "socket open")
        self.emit("opened")
        return self.global_

    def _wire(self, transport: Transport) -> None:
        frames = transport.frames
        frames.subscribe(self._on_frame)
        frames.pipe(response_pipeline(self._pending, self._delta)).subscribe(
            self._settle
        )
        frames.pipe(handle_events()).subscribe(self._on_handle_event)
        frames.pipe(notifications()).subscribe(self._on_notification)
        transport.errors.subscribe(self._on_protocol_error)

    def _on_socket_closed(
        self, transport: Transport, closed: asyncio.Future[tuple[int, str]]
    ) -> None:
        if transport is not self._transport:
            return
        event = CloseEvent(*closed.result())
        self._last_close = event
        if self._closing_by_us:
            return  # close() finishes the job, API objects first
        self._fail_pending(NotConnectedError("socket closed", original=event))
        if self.state.value is not SessionState.OPENED:
            return
        if self.suspend_on_close:
            self._set_state(SessionState.SUSPENDED, f"socket lost ({event.code})")
            self.emit(
                "suspended",
                {"initiator": "network", "code": event.code, "reason": event.reason},
            )
        else:
            self._finish_close(event)

    def _finish_close(self, event: CloseEvent) -> None:
        self._last_close = event
        # API objects close first, so that their live streams complete rather
        # than fail with the calls they had in flight. enigma.js closes in its
        # cache's key order: handles up, Global last.
        for api in sorted(self._apis.values(), key=lambda a: (a.handle < 0, a.handle)):
            api._notify_closed()
        self._fail_pending(NotConnectedError("socket closed", original=event))
        self._apis.clear()
        self._delta.clear()
        self._set_state(
            SessionState.CLOSED, f"code={event.code} reason={event.reason!r}"
        )
        self.emit("closed", event)

    def _fail_pending(self, error: BaseException) -> None:
        waiters, self._waiters = self._waiters, {}
        self._pending.clear()
        for waiter in waiters.values():
            if not waiter.done():
                waiter.set_exception(error)

    def _set_state(self, state: SessionState, reason: str) -> None:
        if self.state.value is not state:
            self._log.info("= %s (%s)", state.value, reason)
            self.state.on_next(state)

    # -- resuming -----------------------------------------------------------------

    async def _reattach(
        self, only_if_attached: bool
    ) -> tuple[list[tuple[ApiObject, int]], list[ApiObject]]:
        await self._connect()
        assert self._connected is not None
        try:
            session_state = await asyncio.wait_for(
                asyncio.shield(self._connected), self.resume_timeout
            )
        except TimeoutError:
            session_state = "SESSION_CREATED"
        self._log.info("= resume: engine says %s", session_state)
        try:
            if session_state != "SESSION_ATTACHED" and only_if_attached:
                raise SessionNotAttachedError("not attached")
            self._delta.clear()
            restored = await self._restore_objects()
            if self._transport is None or not self._transport.is_open:
                raise NotConnectedError("socket closed while resuming")
            return restored
        except BaseException:
            self._closing_by_us = True
            assert self._transport is not None
            await self._transport.close(NORMAL_CLOSURE, "")
            self._closing_by_us = False
            raise

    async def _restore_objects(
        self,
    ) -> tuple[list[tuple[ApiObject, int]], list[ApiObject]]:
        restored: list[tuple[ApiObject, int]] = []
        lost: list[ApiObject] = []
        others = [a for a in self._apis.values() if a.type not in ("Global", "Doc")]
        docs = [a for a in self._apis.values() if a.type == "Doc"]
        doc = docs[-1] if docs else None
        lost += docs[:-1]
        if self.global_ is not None:
            restored.append((self.global_, -1))

        doc_handle = await self._restore_doc() if doc is not None else None
        if doc is None or doc_handle is None:
            lost += ([doc] if doc is not None else []) + others
            return restored, lost
        restored.append((doc, doc_handle))

        async def find(api: ApiObject) -> int | None:
            if api.type in UNRECOVERABLE or not api.id:
                return None
            method = (
                "GetVariableById"
                if api.type == "GenericVariable"
                else api.type.replace("Generic", "Get", 1)
            )
            try:
                result = await self._raw_call(method, [api.id], doc_handle)
            except EngineError:
                return None
            handle = (result or {}).get("qReturn", {}).get("qHandle")
            return handle if isinstance(handle, int) and handle else None

        handles = await asyncio.gather(*(find(api) for api in others))
        for api, handle in zip(others, handles, strict=True):
            if handle is None:
                lost.append(api)
            else:
                restored.append((api, handle))
        return restored, lost

    async def _restore_doc(self) -> int | None:
        try:
            result = await self._raw_call("GetActiveDoc", [])
        except EngineError:
            if self._open_doc_params is None:
                return None
            try:
                result = await self._raw_call("OpenDoc", list(self._open_doc_params))
            except EngineError:
                return None
        handle = (result or {}).get("qReturn", {}).get("qHandle")
        return handle if isinstance(handle, int) else None

    def _commit_resume(
        self, restored: list[tuple[ApiObject, int]], lost: list[ApiObject]
    ) -> None:
        self._apis.clear()
        for api in lost:
            api._notify_closed()
        for api, handle in restored:
            api.handle = handle
            self._apis[handle] = api
        self._set_state(SessionState.OPENED, "resumed")
        for api, _ in restored:
            if api is not self.global_:
                api._notify_changed()
        self.emit("resumed")

    # -- frame handlers ---------------------------------------------------------

    def _on_frame(self, frame: dict[str, Any]) -> None:
        request = self._pending.get(frame.get("id"))  # type: ignore[arg-type]
        if request is None and ("result" in frame or "error" in frame):
            self._log.warning(
                "! a reply with id %r answers no pending request", frame.get("id")
            )
        self._emit_traffic("received", frame, request.handle if request else None)

    def _settle(self, reply: Reply) -> None:
        waiter = self._waiters.pop(reply.request.id or 0, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

    def _on_handle_event(self, event: tuple[str, int]) -> None:
        if self.state.value is not SessionState.OPENED:
            return
        kind, handle = event
        api = self._apis.get(handle)
        if kind == "closed":
            self._delta.pop(handle, None)
            if api is not None:
                del self._apis[handle]
                api._notify_closed()
        elif api is not None:
            api._notify_changed()

    def _on_notification(self, frame: dict[str, Any]) -> None:
        method, params = frame["method"], frame.get("params")
        if method == "OnConnected" and self._connected is not None:
            if not self._connected.done() and isinstance(params, dict):
                self._connected.set_result(str(params.get("qSessionState")))
        self._notifications.on_next(Notification(method, params))
        if self._listeners:
            self.emit("notification:*", method, params)
            self.emit(f"notification:{method}", params)

    def _on_protocol_error(self, error: BaseException) -> None:
        # The frame may have been the answer to any pending call, so none can
        # be trusted to get one: fail them all rather than let one hang.
        self._fail_pending(error)
        self.emit("socket-error", error)

    # -- replies to values ------------------------------------------------------

    async def _finish(self, request: Request, reply: Reply) -> Any:
        value, error = reply.value, reply.error
        for interceptor in self.response_interceptors:
            name = "on_fulfilled" if error is None else "on_rejected"
            handler = configuration.handler(interceptor, name)
            if handler is None:
                continue
            try:
                if error is None:
                    value = await _resolve(handler(self, request, value))
                else:
                    value, error = await _resolve(handler(self, request, error)), None
            except Exception as exc:
                error = exc
        if error is not None:
            raise error
        return self._to_api(value)

    def _to_api(self, value: Any) -> Any:
        if stages.is_object_ref(value):
            return self._api_for(
                value["qHandle"],
                value["qType"],
                value.get("qGenericId"),
                value.get("qGenericType"),
            )
        if stages.is_null_ref(value):
            raise ObjectNotFoundError("object not found")
        return value

    def _api_for(
        self, handle: int, struct: str, id: str | None, generic_type: str | None
    ) -> ApiObject:
        api = self._apis.get(handle)
        if api is None:
            cls = self._factory.class_for(struct)
            api = cls(self, handle, struct, id, generic_type)
            mixins = self._factory.mixins
            mixins.weave_instance(api)
            mixins.run_init(api, self.config)
            self._apis[handle] = api
        return api


async def _resolve(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


def create(config: Mapping[str, Any] | None = None, **options: Any) -> Session:
    """Create a session from an enigma.js-style configuration (``enigma.create``).

    Fields may use Python or enigma.js spelling: ``rxqix.create({"url": ...,
    "suspendOnClose": True})`` or ``rxqix.create(url=..., suspend_on_close=True)``.

    Raises:
        ConfigurationError: no configuration, or a field that is wrong.
    """
    fields = configuration.normalize(config, options)
    url = fields.pop("url")
    return Session(url, **fields)

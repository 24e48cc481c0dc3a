"""Sessions: one websocket to the engine, its pipelines and its state.

Theory of operation. The transport pushes decoded frames into a hot
Observable. Three pipelines hang off it, subscribed in this order:

1. replies: frames whose id is pending run the built-in response stages
   (engine errors, delta merge, result, out-parameter) in arrival order and
   settle the waiting call;
2. handle events: ``change`` and ``close`` lists reach the API objects, which
   drive their live layouts;
3. notifications: frames with a method and no id.

A call builds a :class:`Request`, runs the request pipeline (delta flag, user
request interceptors), registers it as pending and sends it. When its reply
settles, the user response interceptors run and, last, object references
become API objects. Every way out of ``opened`` fails the pending calls.

``state`` is a BehaviorSubject of :class:`SessionState`::

    created -> opening -> opened -> closing -> closed
                  |          |
                  +--------> closed (failed open / lost socket)
                             |
                             +-> suspended (suspend_on_close)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl as ssl_module
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

from reactivex import Observable
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import BehaviorSubject, Subject

from rxqix import interceptors as stages
from rxqix._protocol.rpc import Reply, Request
from rxqix._protocol.schema import Method, Schema, load_schema
from rxqix._transport import SocketFactory, Transport, check_url, redact_url
from rxqix.api import ApiFactory, ApiObject
from rxqix.errors import (
    ConfigurationError,
    NotConnectedError,
    ObjectNotFoundError,
    SessionSuspendedError,
)
from rxqix.operators._pipeline import handle_events, notifications, response_pipeline

T = TypeVar("T")
logger = logging.getLogger("rxqix.session")


class SessionState(StrEnum):
    """The states of a session."""

    CREATED = "created"
    OPENING = "opening"
    OPENED = "opened"
    SUSPENDED = "suspended"
    CLOSING = "closing"
    CLOSED = "closed"


class Notification(NamedTuple):
    """A frame the engine pushed: ``method`` and its ``params``."""

    method: str
    params: Any


class Traffic(NamedTuple):
    """One frame on the wire: ``direction`` is "sent" or "received"."""

    direction: str
    frame: dict[str, Any]


class Session:
    """A session with a QIX engine over one websocket.

    Args:
        url: the engine URL, ``ws://`` or ``wss://``.
        schema: a schema path, mapping or Schema; the bundled one by default.
        create_socket: replaces the default websocket (enigma.js's createSocket).
        headers: extra HTTP headers for the handshake (never logged).
        subprotocols: websocket subprotocols to offer.
        ssl: an SSL context for wss:// URLs (client certificates, private CAs).
        protocol: keys merged into every request; ``delta`` (default True)
            turns the delta protocol on or off.
        suspend_on_close: turn a lost socket into a suspended session.
        request_interceptors: run on each request, after the delta flag.
        response_interceptors: run on each reply, before API objects are made.
        logger: the logger to use instead of ``rxqix.session``.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | Mapping[str, Any] | Schema | None = None,
        create_socket: SocketFactory | None = None,
        headers: Mapping[str, str] | None = None,
        subprotocols: Sequence[str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        protocol: Mapping[str, Any] | None = None,
        suspend_on_close: bool = False,
        request_interceptors: Sequence[Any] = (),
        response_interceptors: Sequence[Any] = (),
        logger: logging.Logger | None = None,
        open_timeout: float | None = 10.0,
    ) -> None:
        self.url = check_url(url)
        if create_socket is not None and not callable(create_socket):
            raise ConfigurationError("create_socket must be callable", "create_socket")
        if protocol is not None and not isinstance(protocol, Mapping):
            raise ConfigurationError("protocol must be a mapping", "protocol")
        try:
            self.schema = load_schema(schema)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigurationError(f"cannot load schema: {exc}", "schema") from exc
        self.protocol: dict[str, Any] = {"delta": True, **(protocol or {})}
        self.suspend_on_close = suspend_on_close
        self.request_interceptors = list(request_interceptors)
        self.response_interceptors = list(response_interceptors)
        self._log = logger or globals()["logger"]

        self._transport_options: dict[str, Any] = {
            "create_socket": create_socket,
            "headers": headers,
            "subprotocols": subprotocols,
            "ssl": ssl,
            "open_timeout": open_timeout,
        }
        self._transport: Transport | None = None
        self._factory = ApiFactory(self.schema)
        self._apis: dict[int, ApiObject] = {}
        self._pending: dict[int, Request] = {}
        self._waiters: dict[int, asyncio.Future[Reply]] = {}
        self._delta: stages.DeltaCache = {}
        self._next_id = 0
        self._closing_by_us = False
        self._last_close: tuple[int, str] | None = None
        self._open_task: asyncio.Task[ApiObject] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

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

        Raises:
            ConnectionFailedError: when the socket cannot be opened.
        """
        if self._open_task is None or self.state.value is SessionState.CLOSED:
            self._open_task = asyncio.ensure_future(self._open())
        return await asyncio.shield(self._open_task)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket; pending calls fail and every API object closes."""
        transport = self._transport
        if transport is None or self.state.value is SessionState.CLOSED:
            self._set_state(SessionState.CLOSED, "close before open")
            return
        self._closing_by_us = True
        self._set_state(SessionState.CLOSING, f"close({code})")
        event = await transport.close(code, reason)
        self._finish_close(event)

    async def __aenter__(self) -> ApiObject:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def call(self, api: ApiObject, spec: Method, params: list[Any]) -> Any:
        """Send one schema method call for an API object and return its result."""
        request = Request(api.handle, spec.name, params, spec.out_key, spec=spec)
        return await self.send(request)

    async def send(self, request: Request) -> Any:
        """Send a request through both pipelines and return its result.

        Raises:
            SessionSuspendedError: while the session is suspended.
            NotConnectedError: without an open socket, or when it closes first.
            EngineError: when the engine answers with an error.
        """
        if self.state.value is SessionState.SUSPENDED:
            raise SessionSuspendedError("session suspended", original=self._last_close)
        transport = self._transport
        if transport is None or not transport.is_open:
            raise NotConnectedError("not connected", original=self._last_close)

        self._next_id += 1
        request.id = self._next_id
        request.tries += 1
        stages.delta_flag(request, bool(self.protocol.get("delta")))
        for interceptor in self.request_interceptors:
            handler = getattr(interceptor, "on_fulfilled", None)
            if handler is not None:
                request = await _resolve(handler(self, request))

        request_id = request.id
        assert request_id is not None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Reply] = loop.create_future()
        self._pending[request_id] = request
        self._waiters[request_id] = waiter
        wire = request.to_wire(self.protocol)
        try:
            await transport.send(wire)
        except BaseException:
            self._pending.pop(request_id, None)
            self._waiters.pop(request_id, None)
            raise
        if self._traffic.observers:
            self._traffic.on_next(Traffic("sent", wire))
        reply = await waiter
        return await self._finish(request, reply)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run a coroutine as a task the session keeps until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- opening and closing --------------------------------------------------

    async def _open(self) -> ApiObject:
        self._loop = asyncio.get_running_loop()
        self.scheduler = AsyncIOScheduler(self._loop)
        self._set_state(SessionState.OPENING, redact_url(self.url))
        transport = Transport(self.url, **self._transport_options)
        self._closing_by_us = False
        try:
            await transport.open()
        except BaseException as exc:
            self._set_state(SessionState.CLOSED, f"open failed: {exc}")
            raise
        self._transport = transport
        self._wire(transport)
        self.global_ = self._api_for(-1, "Global", "Global", "Global")
        self._set_state(SessionState.OPENED, "socket open")
        assert transport.closed is not None
        transport.closed.add_done_callback(self._on_socket_closed)
        return self.global_

    def _wire(self, transport: Transport) -> None:
        frames = transport.frames
        frames.subscribe(self._on_traffic)
        frames.pipe(response_pipeline(self._pending, self._delta)).subscribe(
            self._settle
        )
        frames.pipe(handle_events()).subscribe(self._on_handle_event)
        frames.pipe(notifications()).subscribe(self._on_notification)
        transport.errors.subscribe(self._on_protocol_error)

    def _on_socket_closed(self, closed: asyncio.Future[tuple[int, str]]) -> None:
        event = closed.result()
        self._last_close = event
        self._fail_pending(NotConnectedError("socket closed", original=event))
        if self._closing_by_us or self.state.value is not SessionState.OPENED:
            return
        code, reason = event
        if self.suspend_on_close:
            self._set_state(SessionState.SUSPENDED, f"socket lost ({code} {reason!r})")
        else:
            self._finish_close(event)

    def _finish_close(self, event: tuple[int, str]) -> None:
        self._last_close = event
        self._fail_pending(NotConnectedError("socket closed", original=event))
        for api in list(self._apis.values()):
            api._notify_closed()
        self._apis.clear()
        self._delta.clear()
        self._set_state(SessionState.CLOSED, f"code={event[0]} reason={event[1]!r}")

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

    # -- frame handlers ---------------------------------------------------------

    def _on_traffic(self, frame: dict[str, Any]) -> None:
        if self._traffic.observers:
            self._traffic.on_next(Traffic("received", frame))

    def _settle(self, reply: Reply) -> None:
        waiter = self._waiters.pop(reply.request.id or 0, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

    def _on_handle_event(self, event: tuple[str, int]) -> None:
        if self.state.value is SessionState.SUSPENDED:
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
        self._notifications.on_next(Notification(frame["method"], frame.get("params")))

    def _on_protocol_error(self, error: BaseException) -> None:
        # The frame may have been the answer to any pending call, so none can
        # be trusted to get one: fail them all rather than let one hang.
        self._fail_pending(error)

    # -- replies to values ------------------------------------------------------

    async def _finish(self, request: Request, reply: Reply) -> Any:
        value, error = reply.value, reply.error
        for interceptor in self.response_interceptors:
            if error is None:
                handler = getattr(interceptor, "on_fulfilled", None)
                if handler is None:
                    continue
                try:
                    value = await _resolve(handler(self, request, value))
                except Exception as exc:
                    error = exc
            else:
                handler = getattr(interceptor, "on_rejected", None)
                if handler is None:
                    continue
                try:
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
            self._apis[handle] = api
        return api


async def _resolve(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


def create(url: str, **config: Any) -> Session:
    """Create a session (enigma.js's ``enigma.create``); see :class:`Session`."""
    return Session(url, **config)

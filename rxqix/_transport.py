"""The websocket: the only place rxqix does I/O.

A :class:`Transport` owns one connection. Decoded frames are pushed into the
``frames`` subject (a hot Observable of dicts); the close of the connection is
``closed``, a future of ``(code, reason)``. All writes go through :meth:`send`,
which checks the state and maps failures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import websockets
from reactivex.subject import Subject
from websockets.asyncio.client import connect

from rxqix.errors import (
    INVALID_URL,
    ConnectionFailedError,
    InvalidUrlError,
    NotConnectedError,
    ProtocolError,
)

logger = logging.getLogger("rxqix.transport")


class Socket(Protocol):
    """What a socket factory must return: a websockets-style client connection."""

    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


SocketFactory = Callable[[str], Awaitable[Any]]
"""``create_socket(url)``: an async callable (or one returning an awaitable)
that opens the connection, e.g. ``lambda url: websockets.connect(url, ...)``."""


def redact_url(url: str) -> str:
    """Return the URL without its query string, which may hold tickets or tokens."""
    parts = urlsplit(url)
    return parts._replace(query="…" if parts.query else "").geturl()


def check_url(url: Any) -> str:
    """Return the URL if it is a ws:// or wss:// URL with a host.

    Raises:
        InvalidUrlError: naming what is wrong with it.
    """
    if not isinstance(url, str) or not url:
        raise InvalidUrlError(
            f"url must be a non-empty string, got {url!r}", "url", INVALID_URL
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
        host = parts.hostname
    except ValueError as exc:
        raise InvalidUrlError(f"malformed url: {exc}", "url") from exc
    if parts.scheme not in ("ws", "wss"):
        raise InvalidUrlError(
            f"url scheme must be ws or wss, got {parts.scheme or 'none'!r}", "url"
        )
    if not host:
        raise InvalidUrlError(f"url has no host: {redact_url(url)!r}", "url")
    return url


LARGE_FRAME = 1 << 20


def _decode(loads: Callable[[Any], Any], message: str | bytes) -> Any:
    """Decode one frame; large ones with the cyclic garbage collector paused.

    Decoding a big layout makes about a million containers, none of them in a
    cycle, and the collector would run over them again and again: pausing it
    takes a third off the decode of a 40 MB layout.
    """
    if len(message) < LARGE_FRAME or not gc.isenabled():
        return loads(message)
    gc.disable()
    try:
        return loads(message)
    finally:
        gc.enable()


class Transport:
    """One websocket connection to the engine, as a hot Observable of frames."""

    def __init__(
        self,
        url: str,
        *,
        create_socket: SocketFactory | None = None,
        headers: Mapping[str, str] | None = None,
        subprotocols: Sequence[str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        open_timeout: float | None = 10.0,
        logger_: logging.Logger | None = None,
    ) -> None:
        self.url = url
        self.frames: Subject[dict[str, Any]] = Subject()
        self.errors: Subject[ProtocolError] = Subject()
        self.closed: asyncio.Future[tuple[int, str]] | None = None
        self._create_socket = create_socket
        self._headers = dict(headers or {})
        self._subprotocols = list(subprotocols) if subprotocols else None
        self._ssl = ssl
        self._open_timeout = open_timeout
        self._log = logger_ or logger
        self._debug = self._log.isEnabledFor(logging.DEBUG)
        self._socket: Any = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        """True from a successful open until the connection closes."""
        return (
            self._socket is not None
            and self.closed is not None
            and not self.closed.done()
        )

    async def open(self) -> None:
        """Open the connection and start reading frames.

        Raises:
            ConnectionFailedError: when the connection cannot be opened.
        """
        loop = asyncio.get_running_loop()
        self.closed = loop.create_future()
        try:
            if self._create_socket is not None:
                made = self._create_socket(self.url)
                self._socket = await made if isinstance(made, Awaitable) else made
            else:
                # websockets makes a default context for wss:// unless told.
                options: dict[str, Any] = (
                    {} if self._ssl is None else {"ssl": self._ssl}
                )
                self._socket = await connect(
                    self.url,
                    additional_headers=self._headers or None,
                    subprotocols=self._subprotocols,  # type: ignore[arg-type]
                    max_size=None,
                    open_timeout=self._open_timeout,
                    compression=None,
                    **options,
                )
        except (
            TimeoutError,
            OSError,
            ValueError,
            websockets.exceptions.WebSocketException,
        ) as exc:
            self.closed.set_result((1006, str(exc)))
            raise ConnectionFailedError(
                f"cannot connect to {redact_url(self.url)}: {exc}", original=exc
            ) from exc
        self._log.info("= open %s", redact_url(self.url))
        self._debug = self._log.isEnabledFor(logging.DEBUG)
        self._reader = loop.create_task(self._read())

    async def _read(self) -> None:
        socket = self._socket
        code, reason = 1006, ""
        frames = self.frames
        loads = json.loads
        debug = self._debug
        try:
            while True:
                message = await socket.recv()
                if debug:
                    self._log.debug("< %s", message)
                try:
                    frame = _decode(loads, message)
                except ValueError as exc:
                    frame = None
                    problem = f"frame is not JSON: {exc}"
                else:
                    problem = "frame is not a JSON object"
                # Let go of the text before the frame is handled: a layout can
                # be tens of megabytes.
                message = None
                if isinstance(frame, dict):
                    frames.on_next(frame)
                else:
                    self._log.error("! %s", problem)
                    self.errors.on_next(ProtocolError(problem))
                frame = None
        except websockets.exceptions.ConnectionClosed as exc:
            received = exc.rcvd or exc.sent
            if received is not None:
                code, reason = received.code, received.reason
        except asyncio.CancelledError:
            code, reason = 1000, ""
        except Exception as exc:
            self._log.error("! reading frames failed", exc_info=exc)
            reason = str(exc)
        finally:
            self._log.info(
                "= closed %s code=%s reason=%r", redact_url(self.url), code, reason
            )
            self._socket = None
            assert self.closed is not None
            if not self.closed.done():
                self.closed.set_result((code, reason))

    async def send(self, frame: Mapping[str, Any]) -> str:
        """Encode and send one frame; return the text sent.

        Raises:
            NotConnectedError: when the connection is not open.
        """
        socket = self._socket
        if socket is None or self.closed is None or self.closed.done():
            raise NotConnectedError("not connected", original=self._close_event())
        text = json.dumps(
            frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        if self._debug:
            self._log.debug("> %s", text)
        try:
            await socket.send(text)
        except websockets.exceptions.ConnectionClosed as exc:
            raise NotConnectedError(
                "socket closed", original=self._close_event()
            ) from exc
        return text

    def _close_event(self) -> tuple[int, str] | None:
        if (
            self.closed is not None
            and self.closed.done()
            and not self.closed.cancelled()
        ):
            return self.closed.result()
        return None

    async def close(self, code: int = 1000, reason: str = "") -> tuple[int, str]:
        """Close the connection and wait until it is closed; return (code, reason)."""
        if self._socket is not None:
            try:
                await self._socket.close(code, reason)
            except Exception as exc:  # the peer may already be gone
                self._log.debug("! close failed: %s", exc)
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), timeout=5)
            except TimeoutError:
                self._reader.cancel()
        if self.closed is None:
            return (code, reason)
        if not self.closed.done():
            self.closed.set_result((code, reason))
        return self.closed.result()

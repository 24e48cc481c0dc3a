"""JSON-RPC messages of the QIX protocol, free of I/O.

A :class:`Request` is what interceptors see and change; :meth:`Request.to_wire`
makes the frame that is sent. A :class:`Reply` carries one answer through the
response pipeline: each stage reads ``response`` and sets ``value`` or
``error``, and a stage never runs on a reply that already failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rxqix._protocol.schema import Method


@dataclass(eq=False)
class Request:
    """A request on its way to the engine.

    Attributes:
        handle: the engine handle (-1 is Global).
        method: the QIX method name (PascalCase).
        params: positional parameters.
        out_key: the single out-parameter name, or None; never sent.
        id: the request id, set when the request is sent.
        delta: the delta flag; None leaves the protocol default on the wire.
        extra: further keys to send, set by interceptors.
        spec: the schema method, when the call came from a generated API.
        tries: how many times the request has been sent (retries count).
        retry: sends the request again (a new id, both pipelines again); set
            once the request has been through the request pipeline.
    """

    handle: int
    method: str
    params: list[Any] | dict[str, Any]
    out_key: str | None = None
    id: int | None = None
    delta: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    spec: Method | None = field(default=None, repr=False)
    tries: int = 0
    retry: Callable[[], Awaitable[Any]] | None = field(default=None, repr=False)

    def to_wire(self, protocol: Mapping[str, Any]) -> dict[str, Any]:
        """Return the frame: protocol keys first, the request's own keys on top."""
        wire = dict(protocol)
        if self.delta is not None:
            wire["delta"] = self.delta
        wire.update(self.extra)
        wire["handle"] = self.handle
        wire["method"] = self.method
        wire["params"] = self.params
        wire["id"] = self.id
        wire["jsonrpc"] = "2.0"
        return wire


@dataclass(eq=False, slots=True)
class Reply:
    """One answer travelling through the response pipeline."""

    request: Request
    response: dict[str, Any]
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True while no stage has failed."""
        return self.error is None


def handles_of(frame: Mapping[str, Any], key: str) -> list[int]:
    """Return the handles of a frame's ``change`` or ``close`` list (empty if none)."""
    handles = frame.get(key)
    if not isinstance(handles, list):
        return []
    return [h for h in handles if isinstance(h, int) and not isinstance(h, bool)]


def is_notification(frame: Mapping[str, Any]) -> bool:
    """Tell whether an unsolicited frame is a notification (a method with params)."""
    return isinstance(frame.get("method"), str) and "id" not in frame

"""The request and response pipelines: built-in stages and user interceptors.

Built-in stages run in enigma.js's order. Requests: the delta flag, then the
user's request interceptors. Replies: engine-error mapping, delta patch
merging, result handling, out-parameter unwrapping, then the user's response
interceptors, and API object creation last.

The reply stages are plain functions of a :class:`~rxqix._protocol.rpc.Reply`;
``rxqix.operators`` lifts them into Rx operators and the session runs them on
the frames Observable, in arrival order, before any caller resumes.

A user interceptor is any object with some of these methods (sync or async)::

    on_fulfilled(session, request)                 # request interceptor
    on_fulfilled(session, request, result)         # response interceptor
    on_rejected(session, request, error)           # response interceptor

What a method returns replaces the request or result; to keep a reply failed,
``on_rejected`` raises. ``request.retry()`` sends the request again.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Protocol

from rxqix._protocol.patch import apply_patches
from rxqix._protocol.rpc import Reply, Request
from rxqix.errors import EXPECTED_ARRAY_OF_PATCHES, EngineError, PatchError

DeltaCache = MutableMapping[int, dict[tuple[str, str], Any]]
"""Per handle, the last merged value of each (method, result key)."""

_SESSION_APP_METHODS = frozenset({"CreateSessionApp", "CreateSessionAppFromApp"})
_SPURIOUS_RETURN = frozenset(
    {"GetInteract", "StoreTempSelectionState", "CreateTemporaryBookmark"}
)


class RequestInterceptor(Protocol):
    """A request interceptor: returns the request to send (or an awaitable of it)."""

    def on_fulfilled(self, session: Any, request: Request) -> Any: ...


class ResponseInterceptor(Protocol):
    """A response interceptor; either method may be left out."""

    def on_fulfilled(self, session: Any, request: Request, result: Any) -> Any: ...

    def on_rejected(
        self, session: Any, request: Request, error: BaseException
    ) -> Any: ...


def delta_flag(request: Request, protocol_delta: bool) -> Request:
    """Ask for a delta reply if the method has one out-parameter, not qSuccess.

    An explicit ``request.delta`` (set by the caller or an earlier send) stays.
    """
    if (
        request.delta is None
        and protocol_delta
        and request.out_key not in (None, "qSuccess")
    ):
        request.delta = True
    return request


def map_engine_error(reply: Reply) -> Reply:
    """Turn a JSON-RPC ``error`` object into an :class:`EngineError`."""
    error = reply.response.get("error")
    if error is not None:
        if not isinstance(error, dict):
            error = {"message": str(error)}
        reply.error = EngineError(
            code=error.get("code", -32603),
            message=str(error.get("message", "")),
            parameter=str(error.get("parameter", "")),
            method=reply.request.method,
            handle=reply.request.handle,
        )
    return reply


def merge_delta(reply: Reply, cache: DeltaCache) -> Reply:
    """Merge a delta reply's patches into the cache and put the values in the result.

    The raw frame is left as received; the merged result is a new dict.
    """
    response = reply.response
    if not response.get("delta"):
        return reply
    result = response.get("result")
    if not isinstance(result, dict):
        reply.error = PatchError(
            "unexpected RPC response, expected array of patches",
            EXPECTED_ARRAY_OF_PATCHES,
        )
        return reply
    request = reply.request
    entries = cache.setdefault(request.handle, {})
    merged: dict[str, Any] = {}
    for key, patches in result.items():
        if not isinstance(patches, list):
            reply.error = PatchError(
                "unexpected RPC response, expected array of patches",
                EXPECTED_ARRAY_OF_PATCHES,
            )
            return reply
        slot = (request.method, key)
        value = apply_patches(entries.get(slot), patches)
        if patches:
            entries[slot] = value
        merged[key] = value
    reply.response = {**response, "result": merged}
    return reply


def take_result(reply: Reply) -> Reply:
    """Take the ``result`` object of the reply."""
    reply.value = reply.response.get("result")
    return reply


def unwrap_out_param(reply: Reply) -> Reply:
    """Reduce the result object to the value the caller wants.

    ``qReturn`` wins; else the single out-parameter; else the whole result.
    """
    result = reply.value
    if not isinstance(result, dict):
        return reply
    method = reply.request.method
    if method in _SESSION_APP_METHODS and isinstance(result.get("qReturn"), dict):
        app_id = result.get("qSessionAppId")
        if app_id:
            result = {**result, "qReturn": {**result["qReturn"], "qGenericId": app_id}}
    elif method in _SPURIOUS_RETURN and "qReturn" in result:
        result = {k: v for k, v in result.items() if k != "qReturn"}

    if "qReturn" in result:
        reply.value = result["qReturn"]
    elif reply.request.out_key is not None and reply.request.out_key in result:
        reply.value = result[reply.request.out_key]
    else:
        reply.value = result
    return reply


def is_object_ref(value: Any) -> bool:
    """Tell whether a value is an engine object reference with a handle and a type.

    The handle must be a non-zero integer and the type a non-empty string.
    """
    if not isinstance(value, dict):
        return False
    handle, struct = value.get("qHandle"), value.get("qType")
    return (
        type(handle) is int and handle != 0 and isinstance(struct, str) and struct != ""
    )


def is_null_ref(value: Any) -> bool:
    """Tell whether a value is the engine's 'no such object' reference."""
    return (
        isinstance(value, dict)
        and "qHandle" in value
        and value.get("qHandle") is None
        and value.get("qType", 0) is None
    )

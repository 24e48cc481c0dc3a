"""Engine-side sessions: handles, objects, the delta cache and request dispatch.

An :class:`EngineSession` holds everything a QIX session owns (the open doc
and its selection state, the handle table, the objects) and turns one
request frame into one reply frame. It knows nothing about sockets, so a
session can outlive the connection that opened it: the server keeps it for
the session's TTL and hands it to the next socket on the same key (see
:mod:`rxqix.engine.server`).

What was last sent in delta form belongs to the socket, not the session: a
client keeps its own delta cache, and a socket that attaches to a kept
session starts with an empty one. Each socket therefore answers through its
own :class:`~rxqix.engine.delta.DeltaCache` (a *channel*); the session's
``delta`` is the channel of callers that pass none.

Session apps (``CreateSessionApp``, or ``OpenDoc`` of a ``SessionApp_<id>``
name no served app has) are empty apps that live in the session that made
them.

Error answers (``{"code", "parameter", "message"}``):

* a frame that is not JSON: -32700 "Parse error", with ``"id": null``;
* a frame that is not an object, or lacks a string ``method`` or an integer
  ``handle``: -32600 "Invalid Request";
* a handle that is not open: -32602 "Invalid Params" with parameter
  ``"Invalid handle"`` (the call's handle argument is what is wrong);
* a method the handle's class does not have, or that the local engine does
  not implement: -32601 "Method not found" with the method as parameter;
* params that are neither an array nor an object, or a value of the wrong
  JSON type: -32602 "Invalid Params" naming the parameter;
* a failure inside the engine: -32603 "Internal error" (and a log record).

Everything else is the QIX error the method itself raises (1003 App not
found, 1007 App invalid, ...), or the aborted error an :class:`Aborts` policy
asks for: 15 "Request aborted" with parameter ``"Failure"``, as a real engine
answers a calculation cut short by a selection change.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from rxqix._protocol.schema import Method, Schema, bundled_schema
from rxqix.engine import errors
from rxqix.engine.delta import DeltaCache
from rxqix.engine.errors import GENERIC_ABORTED, EngineError
from rxqix.engine.objects import (
    APP_ALREADY_OPEN,
    APP_NOT_FOUND,
    VOID,
    Call,
    DocObject,
    GenericObject,
    GlobalObject,
    QixObject,
    Result,
)

log = logging.getLogger("rxqix.engine.session")

GLOBAL_HANDLE = -1
DOC_HANDLE = 1
DEFAULT_ENGINE_VERSION = "12.2027.0"
SESSION_APP_PREFIX = "SessionApp_"

# The error a real engine answers for a request it aborted (seen in the wild
# with enigma.js's retry-aborted example).
ABORTED_PARAMETER = "Failure"
ABORTED_MESSAGE = "Request aborted"

# Traffic is logged at DEBUG, cut to this many characters per frame.
_LOG_LIMIT = 2000


@runtime_checkable
class DocStateLike(Protocol):
    """What the engine needs from the data layer's per-session DocState.

    Arguments are passed by position. Selection methods answer False rather
    than raise for an unknown or locked field; ``version`` grows on every
    change of selections or locks.
    """

    @property
    def version(self) -> int: ...

    def field_names(self) -> Sequence[str]: ...

    def has_field(self, field: str, /) -> bool: ...

    def cardinal(self, field: str, /) -> int: ...

    def state_names(self) -> list[str]: ...

    def add_state(self, name: str, /) -> None: ...

    def remove_state(self, name: str, /) -> None: ...

    def select_elements(
        self, field: str, elems: Sequence[int], toggle: bool, state: str, soft: bool, /
    ) -> bool: ...

    def select_values(
        self,
        field: str,
        field_values: Sequence[Mapping[str, Any]],
        toggle: bool,
        state: str,
        soft: bool,
        /,
    ) -> bool: ...

    def select_match(
        self, field: str, match: str, toggle: bool, state: str, soft: bool, /
    ) -> bool: ...

    def select_by_states(
        self, field: str, states: Sequence[str], state: str, soft: bool, /
    ) -> bool: ...

    def clear_field(self, field: str, state: str, /) -> bool: ...

    def clear_all(
        self, state: str, locked_also: bool = False, keep: str | None = None, /
    ) -> None: ...

    def lock_field(self, field: str, state: str, /) -> bool: ...

    def unlock_field(self, field: str, state: str, /) -> bool: ...

    def lock_all(self, state: str, /) -> None: ...

    def unlock_all(self, state: str, /) -> None: ...

    def back(self, state: str, /) -> bool: ...

    def forward(self, state: str, /) -> bool: ...

    def selection_object(self, state: str, /) -> dict[str, Any]: ...

    def hypercube_layout(
        self, hc_def: Mapping[str, Any], state: str, /
    ) -> dict[str, Any]: ...

    def hypercube_data(
        self,
        hc_def: Mapping[str, Any],
        pages: Sequence[Mapping[str, Any]],
        state: str,
        /,
    ) -> list[Any]: ...

    def hypercube_field(self, hc_def: Mapping[str, Any], dim_no: int, /) -> str: ...

    def select_hypercube_values(
        self,
        hc_def: Mapping[str, Any],
        dim_no: int,
        elems: Sequence[int],
        toggle: bool,
        state: str,
        /,
    ) -> bool: ...

    def select_hypercube_cells(
        self,
        hc_def: Mapping[str, Any],
        rows: Sequence[int],
        columns: Sequence[int],
        state: str,
        soft: bool,
        /,
    ) -> bool: ...

    def list_object_layout(
        self, lo_def: Mapping[str, Any], state: str, /
    ) -> dict[str, Any]: ...

    def list_object_data(
        self,
        lo_def: Mapping[str, Any],
        pages: Sequence[Mapping[str, Any]],
        state: str,
        /,
    ) -> list[Any]: ...

    def select_list_object_values(
        self,
        lo_def: Mapping[str, Any],
        elems: Sequence[int],
        toggle: bool,
        state: str,
        soft: bool,
        /,
    ) -> bool: ...

    def evaluate(self, expr: str, state: str, /) -> Mapping[str, Any]: ...


AppSource = Any
"""An ``AppData``, or a zero-argument callable that builds one."""

DocStateFactory = Callable[[Any], DocStateLike]


def _default_doc_state(app: Any) -> DocStateLike:
    from rxqix.engine.model import DocState

    state: DocStateLike = DocState(app)
    return state


def _default_apps() -> dict[str, AppSource]:
    def load() -> Any:
        from rxqix.engine.model import nycflights13_app

        return nycflights13_app()

    return {"nycflights13": load}


class AppCatalog:
    """The apps an engine serves, loaded on first use.

    Args:
        apps: App name to ``AppData`` or to a callable building one; None
            serves the bundled nycflights13 app.
        doc_state_factory: Builds a per-session selection state from an app.
        fallback: Name of the app that answers OpenDoc of an unknown name.
    """

    def __init__(
        self,
        apps: Mapping[str, AppSource] | None = None,
        doc_state_factory: DocStateFactory | None = None,
        fallback: str | None = None,
    ) -> None:
        self._sources: dict[str, AppSource] = dict(
            _default_apps() if apps is None else apps
        )
        if fallback is not None and fallback not in self._sources:
            raise ValueError(f"fallback app {fallback!r} is not among the apps")
        self.fallback = fallback
        self._loaded: dict[str, Any] = {}
        self._reload_times: dict[str, str] = {}
        self._users: dict[str, int] = {}
        self._app_properties: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.make_state: DocStateFactory = doc_state_factory or _default_doc_state

    @property
    def names(self) -> list[str]:
        """The app names, in the order given."""
        return list(self._sources)

    def resolve(self, name: str) -> tuple[str, Any] | None:
        """Return (served name, AppData) for a doc name, loading it if needed."""
        key = name if name in self._sources else self.fallback
        if key is None:
            return None
        with self._lock:
            if key not in self._loaded:
                source = self._sources[key]
                self._loaded[key] = source() if callable(source) else source
                self._reload_times[key] = _iso_now()
        return key, self._loaded[key]

    def reload_time(self, name: str) -> str:
        """Return when an app was loaded, as an ISO timestamp."""
        return self._reload_times.get(name, "")

    def app_properties(self, name: str) -> dict[str, Any]:
        """Return the mutable holder of an app's properties (SetAppProperties).

        App properties belong to the app, not to a session, so every session
        of the app shares one holder; apps are never saved here, so they last
        as long as the engine.
        """
        with self._lock:
            return self._app_properties.setdefault(name, {})

    def connected(self, name: str, delta: int) -> None:
        """Count a session opening (+1) or leaving (-1) an app."""
        with self._lock:
            self._users[name] = max(0, self._users.get(name, 0) + delta)

    def doc_list(self) -> list[dict[str, Any]]:
        """Return one DocListEntry per app."""
        return [self._entry(name) for name in self._sources]

    def _entry(self, name: str) -> dict[str, Any]:
        reload_time = self._reload_times.get(name, "")
        return {
            "qDocName": name,
            "qConnectedUsers": self._users.get(name, 0),
            "qFileTime": _qlik_time(reload_time),
            "qFileSize": 0,
            "qDocId": name,
            "qMeta": {},
            "qLastReloadTime": reload_time,
            "qTitle": name,
            "qThumbnail": {},
        }


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _qlik_time(iso: str) -> float:
    """Return an ISO timestamp as a Qlik date number (days since 1899-12-30)."""
    if not iso:
        return 0.0
    moment = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    epoch = datetime(1899, 12, 30, tzinfo=UTC)
    return (moment - epoch).total_seconds() / 86400.0


# ---------------------------------------------------------------------------
# Aborted requests on demand


class Aborts:
    """Which requests the engine answers with "Request aborted" (code 15).

    A real engine aborts a calculation when selections change under it, and
    clients retry such requests (enigma.js's retry-aborted example); this
    lets tests provoke that answer at will. Counts are engine-wide, whichever
    session makes the call, and each aborted call uses one up. A key is a
    QIX method name (``"Evaluate"``) or ``"Struct.Method"``
    (``"Doc.Evaluate"``) to abort on one class only. The request is checked
    as a real one would be (open handle, known method, valid params) before
    it is aborted, and an aborted request changes nothing.

    Args:
        counts: Method to the number of its next calls to abort.

    Example::

        Engine(aborts={"Evaluate": 2})  # the next two Evaluate calls abort
    """

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        for method, count in (counts or {}).items():
            self.arm(method, count)

    def arm(self, method: str, count: int = 1) -> None:
        """Abort the next ``count`` calls of ``method`` (adds to what is left).

        Raises:
            ValueError: for a negative count.
        """
        if count < 0:
            raise ValueError(f"abort count of {method!r} must not be negative")
        with self._lock:
            left = self._counts.get(method, 0) + count
            if left:
                self._counts[method] = left

    def pending(self, method: str) -> int:
        """How many calls of ``method`` (a key as given to :meth:`arm`) will abort."""
        with self._lock:
            return self._counts.get(method, 0)

    def take(self, struct: str, method: str) -> bool:
        """Use up one abort of a call, if one is armed; True if it must abort."""
        with self._lock:
            for key in (f"{struct}.{method}", method):
                left = self._counts.get(key, 0)
                if left:
                    if left == 1:
                        del self._counts[key]
                    else:
                        self._counts[key] = left - 1
                    return True
        return False


def _empty_app(name: str) -> Any:
    """Build the app behind a session app: no tables until a script reload."""
    from rxqix.engine.apps import AppData

    return AppData.from_frames(name, {})


# ---------------------------------------------------------------------------
# Parameters


def _type_ok(default: Any, value: Any) -> bool:
    """Check a value against the JSON type of the schema's default."""
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int | float):
        # Enum-typed params may come as their string names.
        return isinstance(value, int | float | str) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list)
    if isinstance(default, dict):
        return isinstance(value, dict)
    return True


def bind_params(method: Method, params: Any) -> tuple[list[Any], frozenset[str]]:
    """Bind positional or named params to the method's parameters.

    Omitted params (and ``null`` ones, which is how enigma.js sends an
    ``undefined`` argument) take a deep copy of the schema default; unknown
    named keys and extra positional values are ignored.

    Returns:
        The values in schema order, and the names the client really gave.

    Raises:
        EngineError: -32602 when params is neither an array nor an object, or
            a value does not have the parameter's JSON type.
    """
    if params is None:
        params = []
    if isinstance(params, list):
        supplied = {
            p.name: params[i]
            for i, p in enumerate(method.params)
            if i < len(params) and params[i] is not None
        }
    elif isinstance(params, dict):
        supplied = {
            p.name: params[p.name]
            for p in method.params
            if params.get(p.name) is not None
        }
    else:
        raise EngineError(
            errors.JSON_RPC_INVALID_PARAMETERS, "params", "Invalid Params"
        )
    values: list[Any] = []
    for param in method.params:
        if param.name not in supplied:
            values.append(param.default_value())
            continue
        value = supplied[param.name]
        if not _type_ok(param.default, value):
            raise EngineError(
                errors.JSON_RPC_INVALID_PARAMETERS, param.name, "Invalid Params"
            )
        values.append(value)
    return values, frozenset(supplied)


def shape_result(method: Method, value: Any) -> dict[str, Any]:
    """Key an implementation's return value by the method's out-parameters."""
    if isinstance(value, Result):
        return dict(value.values)
    if not method.out:
        return {} if value is VOID else {"qReturn": value}
    if len(method.out) == 1:
        return {method.out[0]: value}
    return dict(zip(method.out, value, strict=True))


# ---------------------------------------------------------------------------
# JSON


def _wire_default(value: Any) -> Any:
    """Serialise numpy scalars and arrays that the data layer may hand back."""
    item = getattr(value, "tolist", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=_wire_default,
)


def _finite(value: Any) -> Any:
    """Return a copy of value with non-finite floats as QIX strings."""
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    return value


def encode(message: Mapping[str, Any]) -> str:
    """Serialise one frame compactly.

    Raw NaN/Infinity floats are not JSON; QIX sends NaN as the string
    ``"NaN"``, so such values are rewritten that way (the slow path only runs
    when the fast one refuses the value).
    """
    try:
        return _ENCODER.encode(message)
    except ValueError:
        return _ENCODER.encode(_finite(message))


def _loggable(frame: str | bytes, request: Any) -> str:
    """Return a request as logged: OpenDoc's password is never written out."""
    text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
    if not isinstance(request, dict) or request.get("method") != "OpenDoc":
        return text
    params = request.get("params")
    if isinstance(params, dict) and "qPassword" in params:
        params = {**params, "qPassword": "***"}
    elif isinstance(params, list) and len(params) > 2:
        params = [*params[:2], "***", *params[3:]]
    return json.dumps({**request, "params": params})


def _clip(text: str) -> str:
    return (
        text
        if len(text) <= _LOG_LIMIT
        else f"{text[:_LOG_LIMIT]}... ({len(text)} chars)"
    )


# ---------------------------------------------------------------------------
# Session


@dataclass(frozen=True, slots=True)
class Route:
    """What a connection's URL path says about the session it wants.

    Attributes:
        doc: The app segment after ``/app/`` (unquoted), None for ``/app/``.
        identity: The ``/identity/<id>`` segment, if any.
        ttl: The ``/ttl/<seconds>`` segment, if any.
    """

    doc: str | None = None
    identity: str | None = None
    ttl: int | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """A request frame as received: its text and, if it parsed, its JSON."""

    frame: str | bytes
    request: Any
    parsed: bool = True


def _error(rid: Any, error: EngineError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": error.to_json()}


ChangeListener = Callable[[DeltaCache, list[int], list[int]], None]
"""Called with (the answering channel, change list, close list) of a reply."""


class EngineSession:
    """One QIX session: its handles, open doc, objects and delta caches.

    Handles are session-wide: every socket of a shared session sees the same
    numbers. A socket that attaches to a kept session after all others left
    starts a new view with :meth:`reattach`, which gives up every handle but
    Global while keeping the doc and its objects; looking them up again
    (GetActiveDoc, GetObject) gives them new handles.

    Args:
        catalog: The apps the engine serves.
        route: What the connection URL asked for.
        schema: The QIX schema that defines methods and their parameters.
        aborts: Requests to answer with "Request aborted" (shared by the
            sessions of an engine).
    """

    def __init__(
        self,
        catalog: AppCatalog,
        route: Route | None = None,
        schema: Schema | None = None,
        *,
        aborts: Aborts | None = None,
    ) -> None:
        self.catalog = catalog
        self.route = route or Route()
        self.schema = schema or bundled_schema()
        self.engine_version = self.schema.engine_version or DEFAULT_ENGINE_VERSION
        self.aborts = aborts
        self.delta = DeltaCache()
        self._channels: list[DeltaCache] = []
        self.on_change: ChangeListener | None = None
        self.handles: dict[int, QixObject] = {}
        self.doc: DocObject | None = None
        self._served: str | None = None
        self._next_handle = DOC_HANDLE + 1
        self.register(GlobalObject(self, GLOBAL_HANDLE))

    # -- channels -------------------------------------------------------------

    def channel(self) -> DeltaCache:
        """Open the delta cache of a socket that joins the session."""
        cache = DeltaCache()
        self._channels.append(cache)
        return cache

    def release(self, cache: DeltaCache) -> None:
        """Forget the delta cache of a socket that left."""
        if cache in self._channels:
            self._channels.remove(cache)
        cache.clear()

    def _caches(self) -> list[DeltaCache]:
        return [self.delta, *self._channels]

    # -- handles --------------------------------------------------------------

    def new_handle(self) -> int:
        """Reserve the next object handle (objects count up from 2)."""
        handle = self._next_handle
        self._next_handle += 1
        return handle

    def register(self, obj: QixObject) -> None:
        """Put an object behind its handle."""
        self.handles[obj.handle] = obj

    def close_handle(self, handle: int) -> None:
        """Close a handle: forget the object and what was sent on it."""
        obj = self.handles.pop(handle, None)
        if obj is not None:
            obj.on_close()
        for cache in self._caches():
            cache.forget(handle)

    def has_handle(self, obj: QixObject) -> bool:
        """Whether an object is open behind its handle in the current view."""
        return self.handles.get(obj.handle) is obj

    def ensure_handle(self, obj: QixObject) -> int:
        """Give a kept object a new handle if it has none in the current view."""
        if not self.has_handle(obj):
            obj.handle = self.new_handle()
            self.register(obj)
        return obj.handle

    def reattach(self) -> None:
        """Start a new socket's view of the session, as after a reconnect.

        Every handle but Global is given up without closing its object: the
        doc, its selections and session objects stay, and looking them up
        again hands out new handle numbers (clients such as enigma.js check
        that a resumed object's handle changed). Fields are not kept, as
        clients cannot restore them either.
        """
        for handle in [h for h in self.handles if h != GLOBAL_HANDLE]:
            del self.handles[handle]
        for cache in self._caches():
            cache.clear()

    def open_doc(self, name: str) -> DocObject:
        """Open an app in this session (once; reopening it gives the same doc).

        A ``SessionApp_<id>`` name that no served app has opens a new, empty
        session app (as connecting to ``/app/SessionApp_<id>`` does on Qlik
        Cloud).

        Raises:
            EngineError: 1003 when no app has that name, 1002 when another app
                is already open in the session.
        """
        if self.doc is not None:
            if name == self.doc.name:
                self.ensure_handle(self.doc)
                return self.doc
            raise EngineError(APP_ALREADY_OPEN, name, "App already open")
        if name.startswith(SESSION_APP_PREFIX) and name not in self.catalog.names:
            return self._open_session_app(name)
        found = self.catalog.resolve(name)
        if found is None:
            raise EngineError(APP_NOT_FOUND, name, "App not found")
        served, app = found
        state = self.catalog.make_state(app)
        self.doc = DocObject(
            self,
            self._doc_handle(),
            name,
            app,
            state,
            self.catalog.app_properties(served),
        )
        self._served = served
        self.catalog.connected(served, +1)
        self.register(self.doc)
        return self.doc

    def create_session_app(self) -> DocObject:
        """Open a new, empty session app named ``SessionApp_<uuid>``.

        Raises:
            EngineError: 1002 when an app is already open in the session.
        """
        name = f"{SESSION_APP_PREFIX}{uuid.uuid4()}"
        if self.doc is not None:
            raise EngineError(APP_ALREADY_OPEN, name, "App already open")
        return self._open_session_app(name)

    def _open_session_app(self, name: str) -> DocObject:
        app = _empty_app(name)
        state = self.catalog.make_state(app)
        self.doc = DocObject(self, self._doc_handle(), name, app, state, {})
        self.doc.session_app = True
        self.register(self.doc)
        return self.doc

    def _doc_handle(self) -> int:
        # The doc is handle 1 in a fresh view, like a real engine's first doc.
        return DOC_HANDLE if DOC_HANDLE not in self.handles else self.new_handle()

    def close(self) -> None:
        """End the session: close every handle and release the doc."""
        for handle in [h for h in self.handles if h != GLOBAL_HANDLE]:
            self.close_handle(handle)
        if self.doc is not None:
            if self._served is not None:
                self.catalog.connected(self._served, -1)
            self.doc = None
        for cache in self._caches():
            cache.clear()

    # -- requests -------------------------------------------------------------

    def handle_frame(self, frame: str | bytes, delta: DeltaCache | None = None) -> str:
        """Answer one request frame with exactly one reply frame.

        Args:
            frame: The request frame.
            delta: The channel answering it (the session's own by default).
        """
        return self.answer(self.receive(frame), delta)

    def receive(self, frame: str | bytes) -> Incoming:
        """Parse one request frame (never raises)."""
        try:
            request = json.loads(frame)
        except (ValueError, RecursionError):
            # RecursionError: nested too deeply to parse, as good as garbage.
            return Incoming(frame, None, parsed=False)
        return Incoming(frame, request)

    def is_light(self, incoming: Incoming) -> bool:
        """Whether answering needs no data-layer work (see ``objects.qix``)."""
        request = incoming.request
        if not isinstance(request, dict):
            return True
        handle = request.get("handle")
        method = request.get("method")
        if not isinstance(handle, int) or not isinstance(method, str):
            return True  # an error reply, answered at once
        target = self.handles.get(handle)
        return target is None or target.is_light(method)

    def answer(self, incoming: Incoming, delta: DeltaCache | None = None) -> str:
        """Answer a received frame with exactly one reply frame.

        Args:
            incoming: The frame, as :meth:`receive` parsed it.
            delta: The channel answering it (the session's own by default).
        """
        cache = self.delta if delta is None else delta
        if not incoming.parsed:
            log.debug("<- unparsable frame %s", _clip(repr(incoming.frame)))
            reply = _error(
                None, EngineError(errors.JSON_RPC_PARSE_ERROR, "", "Parse error")
            )
        else:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("<- %s", _clip(_loggable(incoming.frame, incoming.request)))
            reply = self.handle_request(incoming.request, cache)
        try:
            text = encode(reply)
        except (TypeError, ValueError, RecursionError) as exc:
            text = self._unencodable(reply, exc, cache)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("-> %s", _clip(text))
        return text

    def _unencodable(
        self, reply: Mapping[str, Any], exc: Exception, cache: DeltaCache
    ) -> str:
        log.error("reply %s cannot be serialised: %s", reply.get("id"), exc)
        # What the delta cache holds was never sent: drop it so the next
        # answer on these handles is a full value again.
        cache.clear()
        error = EngineError(errors.JSON_RPC_INTERNAL_ERROR, str(exc), "Internal error")
        return encode(_error(reply.get("id"), error))

    def handle_request(
        self, request: Any, delta: DeltaCache | None = None
    ) -> dict[str, Any]:
        """Answer one parsed request with a reply object.

        Args:
            request: The parsed request frame.
            delta: The channel answering it (the session's own by default).
        """
        cache = self.delta if delta is None else delta
        if not isinstance(request, dict):
            return _error(None, _invalid_request("request is not an object"))
        rid = request.get("id")
        method_name = request.get("method")
        handle = request.get("handle")
        if not isinstance(method_name, str) or not method_name:
            return _error(rid, _invalid_request("method"))
        if not isinstance(handle, int) or isinstance(handle, bool):
            return _error(rid, _invalid_request("handle"))
        try:
            return self._dispatch(rid, handle, method_name, request, cache)
        except EngineError as exc:
            return _error(rid, exc)
        except Exception as exc:  # a bug must not cost the client its reply
            log.exception("%s on handle %s failed", method_name, handle)
            detail = f"{type(exc).__name__}: {exc}"
            return _error(
                rid,
                EngineError(errors.JSON_RPC_INTERNAL_ERROR, detail, "Internal error"),
            )

    def _dispatch(
        self,
        rid: Any,
        handle: int,
        method_name: str,
        request: dict[str, Any],
        cache: DeltaCache,
    ) -> dict[str, Any]:
        target = self.handles.get(handle)
        if target is None:
            # A handle that is not (or no longer) open is a bad parameter of
            # the call: -32602 "Invalid Params", naming the handle.
            raise EngineError(
                errors.JSON_RPC_INVALID_PARAMETERS, "Invalid handle", "Invalid Params"
            )
        method = self.schema.method(target.qtype, method_name)
        impl = target.implementation(method_name) if method is not None else None
        if method is None or impl is None:
            raise EngineError(
                errors.JSON_RPC_METHOD_NOT_FOUND, method_name, "Method not found"
            )
        args, given = bind_params(method, request.get("params"))
        if self.aborts is not None and self.aborts.take(target.qtype, method_name):
            raise EngineError(GENERIC_ABORTED, ABORTED_PARAMETER, ABORTED_MESSAGE)
        call = Call(self, given)
        before = self._selection_version()
        result = shape_result(method, impl(call, *args))
        if self._selection_version() != before:
            self._selection_changed(call)
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": rid}
        if request.get("delta") is True:
            reply["delta"] = True
            reply["result"] = cache.encode(handle, method_name, result)
        else:
            reply["result"] = result
        changed = sorted(call.changed.difference(call.closed))
        if changed:
            reply["change"] = changed
        if call.closed:
            reply["close"] = list(call.closed)
        if (changed or call.closed) and self.on_change is not None:
            self.on_change(cache, changed, list(call.closed))
        return reply

    def _selection_version(self) -> int | None:
        return None if self.doc is None else self.doc.state.version

    def _selection_changed(self, call: Call) -> None:
        """Invalidate everything whose layout follows the selection state."""
        doc = self.doc
        assert doc is not None
        call.changed.add(doc.handle)
        call.changed.update(
            h for h, obj in self.handles.items() if isinstance(obj, GenericObject)
        )


def _invalid_request(detail: str) -> EngineError:
    return EngineError(errors.JSON_RPC_INVALID_REQUEST, detail, "Invalid Request")

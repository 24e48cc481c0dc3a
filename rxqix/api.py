"""API objects: one Python class per schema struct, generated on first use.

Every QIX object the engine hands out (Global, Doc, GenericObject, Field, ...)
becomes an instance of the class generated for its struct. Each schema method
is an ``async`` method with a snake_case name (``GetLayout`` is
``get_layout``); ``call("GetLayout")`` reaches any method by its QIX name.
"""

from __future__ import annotations

import keyword
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.subject import Subject

from rxqix._events import Emitter
from rxqix._protocol.params import build_params
from rxqix._protocol.schema import Method, Schema
from rxqix.errors import MethodNotFoundError, NotConnectedError, SchemaError
from rxqix.mixins import MixinRegistry
from rxqix.operators._live import refetch_latest, same_value, share_latest

if TYPE_CHECKING:
    from rxqix.session import Call, Session


class ApiObject(Emitter):
    """An engine object behind a handle.

    Attributes:
        session: the session the object lives in.
        handle: the engine handle; it changes when a session resumes.
        id: the object id (``qGenericId``), or None.
        type: the struct type, e.g. ``GenericObject``.
        generic_type: the object's ``qInfo.qType``, e.g. ``barchart``, or None.

    Events (``on(event, fn)`` or ``events(event)``): ``changed``, ``closed``,
    ``traffic:*`` ``(direction, frame)``, ``traffic:sent`` and
    ``traffic:received`` ``(frame)``.
    """

    _struct: str = ""
    _methods: dict[str, Method] = {}

    def __init__(
        self,
        session: Session,
        handle: int,
        type: str,
        id: str | None = None,
        generic_type: str | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.handle = handle
        self.type = type
        self.id = id
        self.generic_type = generic_type
        self._changes: Subject[None] = Subject()
        self._live: dict[str, Observable[Any]] = {}
        self.is_closed = False

    def __repr__(self) -> str:
        kind = f" {self.generic_type!r}" if self.generic_type else ""
        return f"<{self.type}{kind} id={self.id!r} handle={self.handle}>"

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]: ...

    else:

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            raise MethodNotFoundError(
                f"{self.type} has no method {name!r} in the schema"
            )

    @property
    def changes(self) -> Observable[None]:
        """Emits each time the engine lists this handle in ``change``.

        Completes when the handle closes (the engine lists it in ``close``, or
        the session closes).
        """
        return self._changes

    def call(self, method: str, *args: Any, **kwargs: Any) -> Call:
        """Call a schema method by its QIX name: ``await obj.call("GetLayout")``."""
        spec = self._methods.get(method)
        if spec is None:
            raise MethodNotFoundError(
                f"{self.type} has no method {method!r} in the schema"
            )
        return self.session.call(self, spec, build_params(spec, args, kwargs))

    def watch(
        self, method: str = "GetLayout", *args: Any, **kwargs: Any
    ) -> Observable[Any]:
        """Return a live Observable of ``method``'s result, refetched on change.

        It emits the current value on subscribe and a fresh one after each
        change of this handle. Subscribers share one fetch; at most one request
        is in flight, and changes during it coalesce into one refetch. An
        unchanged value is not emitted twice. It completes when the handle
        closes; failures arrive as ``on_error``.
        """
        key = method if not (args or kwargs) else f"{method}:{args!r}:{kwargs!r}"
        live = self._live.get(key)
        if live is None:
            live = self._live[key] = self._make_live(method, args, kwargs)
        return live

    def layouts(self) -> Observable[dict[str, Any]]:
        """The live layout (``GetLayout``): see :meth:`watch`.

        ::

            changes:   ---c-----c-c-c------|
            layouts(): L0--L1---------L2---|
        """
        return self.watch("GetLayout")

    def properties(self) -> Observable[dict[str, Any]]:
        """The live properties (``GetProperties``): see :meth:`watch`."""
        return self.watch("GetProperties")

    def _make_live(self, method: str, args: Any, kwargs: Any) -> Observable[Any]:
        session = self.session

        async def get() -> Any:
            try:
                return await self.call(method, *args, **kwargs)
            except NotConnectedError:
                # Suspended: nothing to show now; resume sends "changed".
                if session.state.value in ("suspended", "resuming"):
                    return _NOTHING
                raise

        def fetch() -> Observable[Any]:
            return reactivex.from_future(session.spawn(get())).pipe(
                ops.filter(lambda value: value is not _NOTHING)
            )

        return self._changes.pipe(
            ops.start_with(None),
            refetch_latest(fetch),
            share_latest(invalidations=self._changes, comparer=same_value),
        )

    def _notify_changed(self) -> None:
        self.emit("changed")
        self._changes.on_next(None)

    def _notify_closed(self) -> None:
        if not self.is_closed:
            self.is_closed = True
            self.emit("closed")
            self.remove_all_listeners()
            self._changes.on_completed()


_NOTHING: Any = object()

_RESERVED = frozenset(dir(ApiObject)) | {
    "session",
    "handle",
    "type",
    "id",
    "generic_type",
}


def _make_method(spec: Method) -> Callable[..., Awaitable[Any]]:
    def method(self: ApiObject, *args: Any, **kwargs: Any) -> Call:
        return self.session.call(self, spec, build_params(spec, args, kwargs))

    params = ", ".join(p.py_name + ("=..." if p.optional else "") for p in spec.params)
    outs = ", ".join(spec.out) or "qReturn"
    method.__name__ = spec.py_name
    method.__qualname__ = f"{spec.struct}.{spec.py_name}"
    method.__doc__ = f"QIX {spec.struct}.{spec.name}({params}) -> {outs}"
    return method


def python_name(spec: Method) -> str:
    """The attribute name of a method, kept clear of ApiObject's own names."""
    name = spec.py_name
    if name in _RESERVED or keyword.iskeyword(name):
        name += "_"
    return name


def build_class(schema: Schema, struct: str) -> type[ApiObject]:
    """Generate the API class of one struct.

    Raises:
        SchemaError: when the schema has no such struct (code -8).
    """
    methods = schema.structs.get(struct)
    if methods is None:
        raise SchemaError(f"{struct} not found")
    namespace: dict[str, Any] = {
        "_struct": struct,
        "_methods": dict(methods),
        "__doc__": f"QIX {struct} object, generated from the schema.",
        "__module__": "rxqix.api",
    }
    for spec in methods.values():
        namespace[python_name(spec)] = _make_method(spec)
    return type(struct, (ApiObject,), namespace)


# Generated classes, shared by every session with the same schema: a struct
# has hundreds of methods, too many to build again for each session.
_GENERATED: dict[int, tuple[Schema, dict[str, type[ApiObject]]]] = {}


def generated_class(schema: Schema, struct: str) -> type[ApiObject]:
    """Return the shared generated class of a struct (SchemaError if unknown)."""
    entry = _GENERATED.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = _GENERATED[id(schema)] = (schema, {})
    classes = entry[1]
    cls = classes.get(struct)
    if cls is None:
        cls = classes[struct] = build_class(schema, struct)
    return cls


class ApiFactory:
    """Hands out the API class of each struct for one session.

    Without struct-type mixins that is the shared generated class; with them,
    a subclass of it made for this session, with the mixins woven in.
    """

    def __init__(self, schema: Schema, mixins: MixinRegistry | None = None) -> None:
        self.schema = schema
        self.mixins = mixins or MixinRegistry()
        self._classes: dict[str, type[ApiObject]] = {}

    def class_for(self, struct: str) -> type[ApiObject]:
        """Return the class of a struct, with its struct-type mixins.

        Raises:
            SchemaError: the schema has no such struct (code -8).
            MixinError: a mixin misuses override or extend (codes -9, -10).
        """
        cls = self._classes.get(struct)
        if cls is None:
            cls = generated_class(self.schema, struct)
            if self.mixins.for_type(struct):
                cls = type(struct, (cls,), {"__module__": "rxqix.api"})
                self.mixins.weave_class(cls, struct)
            self._classes[struct] = cls
        return cls

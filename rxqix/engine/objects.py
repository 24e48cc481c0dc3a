"""QIX object classes of the local engine: Global, Doc, GenericObject, Field.

Each class answers the methods of one schema struct. A method implementation
is tagged with :func:`qix` and receives a :class:`Call` plus the request's
parameters, already bound in schema order with defaults filled. It returns:

* for a method with one out-parameter in the schema, that value;
* for a method with several, a :class:`Result` holding all of them;
* for a method with none, the ``qReturn`` value, or :data:`VOID` when the
  method returns nothing (the reply is then ``"result": {}``).
"""

from __future__ import annotations

import copy
import platform
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rxqix.engine.errors import (
    APP_INVALID,
    APP_NOT_FOUND,
    GENERIC_INVALID_PARAMETERS,
    EngineError,
)

if TYPE_CHECKING:
    from rxqix.engine.session import DocStateLike, EngineSession

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_STATE = "$"

# LocalizedErrorCode values (schema enum) that errors.py does not name.
INVALID_PATH = 4  # LOCERR_GENERIC_INVALID_PATH
APP_ALREADY_OPEN = 1002  # LOCERR_APP_ALREADY_OPEN
INVALID_PARAMETERS = GENERIC_INVALID_PARAMETERS

__all__ = [
    "APP_ALREADY_OPEN",
    "APP_NOT_FOUND",
    "VOID",
    "Call",
    "DocObject",
    "FieldObject",
    "GenericObject",
    "GlobalObject",
    "QixObject",
    "Result",
    "qix",
]


class _Void:
    """Marker for methods whose reply is ``"result": {}``."""

    def __repr__(self) -> str:
        return "VOID"


VOID: Any = _Void()


@dataclass(frozen=True, slots=True)
class Result:
    """A result given key by key, for methods with several out-parameters."""

    values: Mapping[str, Any]


@dataclass(slots=True)
class Call:
    """What one request's implementation can see and report back.

    Attributes:
        session: The engine session the request belongs to.
        given: Names of the parameters the client really sent (the others
            hold schema defaults, which are only shape samples).
        changed: Handles to list in the reply's ``change``.
        closed: Handles to list in the reply's ``close``.
    """

    session: EngineSession
    given: frozenset[str] = frozenset()
    changed: set[int] = field(default_factory=set)
    closed: list[int] = field(default_factory=list)


def qix(name: str, *, light: bool = False) -> Callable[[F], F]:
    """Mark a method as the implementation of the QIX method ``name``.

    Args:
        name: The QIX method name.
        light: The method never calls into the data layer (no DuckDB, no
            association), so the server may run it on the event loop instead
            of handing it to the compute thread.
    """

    def mark(func: F) -> F:
        func.__qix_method__ = (name, light)  # type: ignore[attr-defined]
        return func

    return mark


class QixObject:
    """Base of every object that sits behind a handle."""

    qtype: ClassVar[str] = ""
    # QIX method name -> (attribute name, light).
    _methods: ClassVar[dict[str, tuple[str, bool]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        methods = dict(cls._methods)
        for attr, value in vars(cls).items():
            mark = getattr(value, "__qix_method__", None)
            if isinstance(mark, tuple):
                methods[mark[0]] = (attr, mark[1])
        cls._methods = methods

    def __init__(self, session: EngineSession, handle: int) -> None:
        self.session = session
        self.handle = handle

    def implementation(self, method: str) -> Callable[..., Any] | None:
        """Return the bound implementation of a QIX method, or None."""
        entry = self._methods.get(method)
        return None if entry is None else getattr(self, entry[0])

    def is_light(self, method: str) -> bool:
        """Whether a method may run on the event loop (see :func:`qix`)."""
        entry = self._methods.get(method)
        return entry is None or entry[1]

    def ref(self) -> dict[str, Any]:
        """Return the object reference (``qReturn``) that names this handle."""
        return {"qType": self.qtype, "qHandle": self.handle}

    def on_close(self) -> None:
        """Release what the object holds (called when its handle closes)."""


def _state(name: Any, fallback: str = DEFAULT_STATE) -> str:
    """Map an empty state name to the inherited one."""
    return name if isinstance(name, str) and name else fallback


# ---------------------------------------------------------------------------
# Global


class GlobalObject(QixObject):
    """Handle -1: engine-wide methods."""

    qtype = "Global"

    @qix("EngineVersion", light=True)
    def engine_version(self, call: Call) -> Any:
        return {"qComponentVersion": call.session.engine_version}

    @qix("ProductVersion", light=True)
    def product_version(self, call: Call) -> Any:
        return call.session.engine_version

    @qix("QvVersion", light=True)
    def qv_version(self, call: Call) -> Any:
        return call.session.engine_version

    @qix("OSName", light=True)
    def os_name(self, call: Call) -> Any:
        return platform.system()

    @qix("OSVersion", light=True)
    def os_version(self, call: Call) -> Any:
        return platform.release()

    @qix("QTProduct", light=True)
    def qt_product(self, call: Call) -> Any:
        return "rxqix"

    @qix("IsDesktopMode", light=True)
    def is_desktop_mode(self, call: Call) -> Any:
        return False

    @qix("AllowCreateApp", light=True)
    def allow_create_app(self, call: Call) -> Any:
        return True

    @qix("GetUniqueID", light=True)
    def get_unique_id(self, call: Call) -> Any:
        return str(uuid.uuid4())

    @qix("GetAuthenticatedUser", light=True)
    def get_authenticated_user(self, call: Call) -> Any:
        return "UserDirectory=LOCAL; UserId=anonymous"

    @qix("AbortAll", light=True)
    def abort_all(self, call: Call) -> Any:
        # Requests run one at a time, so nothing is ever in flight to abort.
        return VOID

    @qix("AbortRequest", light=True)
    def abort_request(self, call: Call, request_id: Any) -> Any:
        return VOID

    @qix("GetDocList", light=True)
    def get_doc_list(self, call: Call) -> Any:
        return call.session.catalog.doc_list()

    @qix("OpenDoc")
    def open_doc(
        self,
        call: Call,
        doc_name: str,
        user_name: str,
        password: str,
        serial: str,
        no_data: bool,
    ) -> Any:
        doc = call.session.open_doc(doc_name)
        call.changed.add(doc.handle)
        return doc.ref()

    @qix("GetActiveDoc", light=True)
    def get_active_doc(self, call: Call) -> Any:
        doc = call.session.doc
        if doc is None:
            raise EngineError(APP_INVALID, "No active document", "App invalid")
        # A socket that attached to a kept session finds the doc here, under
        # a handle of its own.
        call.session.ensure_handle(doc)
        return doc.ref()

    @qix("CreateSessionApp")
    def create_session_app(self, call: Call) -> Any:
        doc = call.session.create_session_app()
        call.changed.add(doc.handle)
        # The reference has no qGenericId here (clients copy qSessionAppId).
        return Result(
            {
                "qReturn": {"qType": "Doc", "qHandle": doc.handle},
                "qSessionAppId": doc.name,
            }
        )


# ---------------------------------------------------------------------------
# Doc

_EN_US_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_EN_US_LONG_DAYS = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
]
_EN_US_MONTHS = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
]  # fmt: skip
_EN_US_LONG_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
]  # fmt: skip


def locale_info() -> dict[str, Any]:
    """Return the en-US LocaleInfo the local engine runs with."""
    return {
        "qDecimalSep": ".",
        "qThousandSep": ",",
        "qListSep": ",",
        "qMoneyDecimalSep": ".",
        "qMoneyThousandSep": ",",
        "qCurrentYear": datetime.now(UTC).year,
        "qMoneyFmt": "$#,##0.00;-$#,##0.00",
        "qTimeFmt": "h:mm:ss TT",
        "qDateFmt": "M/D/YYYY",
        "qTimestampFmt": "M/D/YYYY h:mm:ss[.fff] TT",
        "qCalendarStrings": {
            "qDayNames": list(_EN_US_DAYS),
            "qMonthNames": list(_EN_US_MONTHS),
            "qLongDayNames": list(_EN_US_LONG_DAYS),
            "qLongMonthNames": list(_EN_US_LONG_MONTHS),
        },
        "qFirstWeekDay": 6,
        "qBrokenWeeks": True,
        "qReferenceDay": 0,
        "qFirstMonthOfYear": 1,
        "qCollation": "en-US",
        "qNumericalAbbreviation": (
            "3:k;6:M;9:G;12:T;15:P;18:E;21:Z;24:Y;"
            "-3:m;-6:μ;-9:n;-12:p;-15:f;-18:a;-21:z;-24:y"
        ),
    }


class DocObject(QixObject):
    """Handle of the open app: its objects, fields and selection state."""

    qtype = "Doc"

    def __init__(
        self,
        session: EngineSession,
        handle: int,
        name: str,
        app: Any,
        state: DocStateLike,
        properties: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(session, handle)
        self.name = name
        self.app = app
        self.state = state
        self.objects: dict[str, GenericObject] = {}
        self._fields: dict[tuple[str, str], FieldObject] = {}
        # The holder of the app properties, shared with the other sessions of
        # the app (see AppCatalog.app_properties); "qProp" once they are set.
        self.properties: dict[str, Any] = {} if properties is None else properties
        self.session_app = False

    def ref(self) -> dict[str, Any]:
        # The Python SDK reads qGenericId of OpenDoc's qReturn without fallback.
        return {"qType": "Doc", "qHandle": self.handle, "qGenericId": self.name}

    def forget_object(self, obj: GenericObject) -> None:
        """Drop an object whose handle closed."""
        if self.objects.get(obj.object_id) is obj:
            del self.objects[obj.object_id]

    # -- objects ------------------------------------------------------------

    @qix("CreateSessionObject", light=True)
    def create_session_object(self, call: Call, prop: Any) -> Any:
        obj = self._create(call, prop)
        return obj.ref()

    @qix("GetObject", light=True)
    def get_object(self, call: Call, object_id: str) -> Any:
        obj = self.objects.get(object_id)
        if obj is None:
            # enigma.js maps this shape to its OBJECT_NOT_FOUND error.
            return {"qType": None, "qHandle": None}
        # An object kept for a reattached socket gets a handle of its own.
        call.session.ensure_handle(obj)
        return obj.ref()

    @qix("DestroySessionObject", light=True)
    def destroy_session_object(self, call: Call, object_id: str) -> Any:
        obj = self.objects.get(object_id)
        if obj is None:
            return False
        if call.session.has_handle(obj):
            call.session.close_handle(obj.handle)
            call.closed.append(obj.handle)
        else:
            # Kept across a reattach but not looked up again: no handle to close.
            self.forget_object(obj)
        return True

    @qix("CreateObject", light=True)
    def create_object(self, call: Call, prop: Any) -> Any:
        # Apps are never saved here, so an app object lives as long as the
        # session, like a session object; its reply also carries qInfo.
        obj = self._create(call, prop)
        return Result({"qInfo": obj.info, "qReturn": obj.ref()})

    @qix("DestroyObject", light=True)
    def destroy_object(self, call: Call, object_id: str) -> Any:
        return self.destroy_session_object(call, object_id)

    def _create(self, call: Call, prop: Any) -> GenericObject:
        info = prop.get("qInfo") if isinstance(prop, dict) else None
        qtype = info.get("qType") if isinstance(info, dict) else None
        if not isinstance(qtype, str) or not qtype:
            raise EngineError(INVALID_PARAMETERS, "qInfo.qType", "Invalid parameters")
        assert isinstance(info, dict)
        object_id = info.get("qId")
        if not isinstance(object_id, str) or not object_id or object_id in self.objects:
            # An empty or taken id gets a generated one, as for CreateObject.
            object_id = str(uuid.uuid4())
        props = dict(prop)
        # NxInfo is just these two; anything else a client put there is dropped.
        props["qInfo"] = {"qId": object_id, "qType": qtype}
        handle = call.session.new_handle()
        obj = GenericObject(call.session, handle, self, props)
        self.objects[object_id] = obj
        call.session.register(obj)
        call.changed.add(handle)
        return obj

    # -- fields and selections ----------------------------------------------

    @qix("GetField", light=True)
    def get_field(self, call: Call, field_name: str, state_name: str) -> Any:
        key = (field_name, _state(state_name))
        obj = self._fields.get(key)
        if obj is None or not call.session.has_handle(obj):
            obj = FieldObject(call.session, call.session.new_handle(), self, *key)
            self._fields[key] = obj
            call.session.register(obj)
        return obj.ref()

    @qix("ClearAll")
    def clear_all(self, call: Call, locked_also: bool, state_name: str) -> Any:
        self.state.clear_all(_state(state_name), bool(locked_also))
        return VOID

    @qix("LockAll")
    def lock_all(self, call: Call, state_name: str) -> Any:
        self.state.lock_all(_state(state_name))
        return VOID

    @qix("UnlockAll")
    def unlock_all(self, call: Call, state_name: str) -> Any:
        self.state.unlock_all(_state(state_name))
        return VOID

    @qix("Back")
    def back(self, call: Call) -> Any:
        self.state.back(DEFAULT_STATE)
        return VOID

    @qix("Forward")
    def forward(self, call: Call) -> Any:
        self.state.forward(DEFAULT_STATE)
        return VOID

    @qix("BackCount")
    def back_count(self, call: Call) -> Any:
        return self.state.selection_object(DEFAULT_STATE).get("qBackCount", 0)

    @qix("ForwardCount")
    def forward_count(self, call: Call) -> Any:
        return self.state.selection_object(DEFAULT_STATE).get("qForwardCount", 0)

    # -- alternate states -----------------------------------------------------

    @qix("AddAlternateState")
    def add_alternate_state(self, call: Call, state_name: str) -> Any:
        self._check_state_name(state_name)
        if state_name not in self.state.state_names():
            self.state.add_state(state_name)
            call.changed.add(self.handle)
        return VOID

    @qix("RemoveAlternateState")
    def remove_alternate_state(self, call: Call, state_name: str) -> Any:
        self._check_state_name(state_name)
        if state_name in self.state.state_names():
            self.state.remove_state(state_name)
            call.changed.add(self.handle)
        return VOID

    @staticmethod
    def _check_state_name(name: str) -> None:
        if not name or name == DEFAULT_STATE:
            raise EngineError(INVALID_PARAMETERS, "qStateName", "Invalid parameters")

    # -- expressions ----------------------------------------------------------

    @qix("Evaluate")
    def evaluate(self, call: Call, expression: str) -> Any:
        return self.state.evaluate(expression, DEFAULT_STATE)["qText"]

    @qix("EvaluateEx")
    def evaluate_ex(self, call: Call, expression: str) -> Any:
        return dict(self.state.evaluate(expression, DEFAULT_STATE))

    # -- app facts ------------------------------------------------------------

    @qix("GetLocaleInfo", light=True)
    def get_locale_info(self, call: Call) -> Any:
        return locale_info()

    @qix("GetAppLayout", light=True)
    def get_app_layout(self, call: Call) -> Any:
        # False booleans and empty strings are left out, as the engine does.
        layout: dict[str, Any] = {"qTitle": self.name, "qFileName": self.name}
        reload_time = self._reload_time()
        if reload_time:
            layout["qLastReloadTime"] = reload_time
        layout.update(
            qStateNames=self.state.state_names(),
            qMeta={},
            qLocaleInfo=locale_info(),
        )
        if self.state.field_names():
            # A session app has no data until a script reload.
            layout["qHasData"] = True
        layout["qThumbnail"] = {}
        return layout

    @qix("GetAppProperties", light=True)
    def get_app_properties(self, call: Call) -> Any:
        stored = self.properties.get("qProp")
        if stored is not None:
            return copy.deepcopy(stored)
        # The defaults, with false and empty values left out.
        props: dict[str, Any] = {"qTitle": self.name, "qThumbnail": {}}
        reload_time = self._reload_time()
        if reload_time:
            props["qLastReloadTime"] = reload_time
        return props

    @qix("SetAppProperties", light=True)
    def set_app_properties(self, call: Call, prop: Any) -> Any:
        if not isinstance(prop, dict):
            raise EngineError(INVALID_PARAMETERS, "qProp", "Invalid parameters")
        # Unsaved, as apps are never saved here, but seen by every session of
        # the app until the engine stops.
        self.properties["qProp"] = copy.deepcopy(prop)
        call.changed.add(self.handle)
        return VOID

    def _reload_time(self) -> str:
        if self.session_app:
            return ""
        return self.session.catalog.reload_time(self.name)


# ---------------------------------------------------------------------------
# GenericObject

# Defs the engine replaces by a computed counterpart that holds no items here
# (the local apps have no library, bookmarks, variables, children or media).
_EMPTY_LISTS = {
    "qAppObjectListDef": "qAppObjectList",
    "qChildListDef": "qChildList",
    "qDimensionListDef": "qDimensionList",
    "qMeasureListDef": "qMeasureList",
    "qBookmarkListDef": "qBookmarkList",
    "qVariableListDef": "qVariableList",
    "qMediaListDef": "qMediaList",
    "qExtensionListDef": "qExtensionList",
}


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def resolve_path(root: Any, path: Any) -> Any:
    """Return the node of a property tree a ``qPath`` points at.

    Raises:
        EngineError: LOCERR_GENERIC_INVALID_PATH when nothing is there.
    """
    if not isinstance(path, str):
        raise EngineError(INVALID_PATH, str(path), "Invalid path")
    node = root
    for token in path.strip("/").split("/") if path.strip("/") else []:
        key = _unescape(token)
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise EngineError(INVALID_PATH, path, "Invalid path")
    return node


def _expression_text(spec: Any) -> str:
    expr = spec.get("qExpr", "") if isinstance(spec, dict) else spec
    if not isinstance(expr, str):
        return ""
    # qExpr conventionally carries a leading "=" marking it as an expression.
    return expr[1:] if expr.startswith("=") else expr


class LayoutBuilder:
    """Turns an object's properties into its layout for one state."""

    def __init__(self, doc: DocObject, state: str) -> None:
        self.doc = doc
        self.state = state

    def build(self, node: Any, state: str | None = None) -> Any:
        """Return the layout form of a property node."""
        state = state or self.state
        if isinstance(node, dict):
            if "qStringExpression" in node:
                return self._string(node["qStringExpression"], state)
            if "qValueExpression" in node:
                return self._value(node["qValueExpression"], state)
            return self.build_dict(node, state)
        if isinstance(node, list):
            return [self.build(item, state) for item in node]
        return node

    def build_dict(
        self, node: Mapping[str, Any], state: str | None = None
    ) -> dict[str, Any]:
        """Return the layout form of a dict node, key by key."""
        state = state or self.state
        out: dict[str, Any] = {}
        for key, value in node.items():
            computed = self._computed(key, value, state)
            if computed is None:
                out[key] = self.build(value, state)
            else:
                out[computed[0]] = computed[1]
        return out

    def _computed(self, key: str, value: Any, state: str) -> tuple[str, Any] | None:
        """Return the (key, value) a Def turns into, or None for plain keys."""
        if not isinstance(value, dict) or not key.endswith("Def"):
            return None
        doc_state = self.doc.state
        own = _state(value.get("qStateName"), state)
        if key == "qHyperCubeDef":
            return "qHyperCube", _with_extras(
                doc_state.hypercube_layout(value, own), value
            )
        if key == "qListObjectDef":
            layout = doc_state.list_object_layout(value, own)
            return "qListObject", _with_extras(layout, value)
        if key == "qSelectionObjectDef":
            return "qSelectionObject", doc_state.selection_object(own)
        if key == "qFieldListDef":
            return "qFieldList", {"qItems": self._field_items()}
        if key in _EMPTY_LISTS:
            return _EMPTY_LISTS[key], {"qItems": []}
        return None

    def _field_items(self) -> list[dict[str, Any]]:
        state = self.doc.state
        return [
            {"qName": name, "qCardinal": state.cardinal(name)}
            for name in state.field_names()
        ]

    def _string(self, spec: Any, state: str) -> str:
        return str(self.doc.state.evaluate(_expression_text(spec), state)["qText"])

    def _value(self, spec: Any, state: str) -> Any:
        value = self.doc.state.evaluate(_expression_text(spec), state)
        return value["qNumber"] if value.get("qIsNumeric") else "NaN"


def _with_extras(computed: dict[str, Any], definition: Mapping[str, Any]) -> Any:
    """Copy user keys of a Def into its computed counterpart, as the engine does."""
    extras = {
        key: copy.deepcopy(val)
        for key, val in definition.items()
        if not key.startswith("q") and key not in computed
    }
    return {**computed, **extras} if extras else computed


# Top-level keys GetLayout renders itself rather than passing through.
_OWN_KEYS = frozenset({"qInfo", "qMetaDef"})


class GenericObject(QixObject):
    """A session object: properties in, layouts and data out."""

    qtype = "GenericObject"

    def __init__(
        self,
        session: EngineSession,
        handle: int,
        doc: DocObject,
        props: dict[str, Any],
    ) -> None:
        super().__init__(session, handle)
        self.doc = doc
        self.props = props

    @property
    def object_id(self) -> str:
        return str(self.props["qInfo"]["qId"])

    @property
    def info(self) -> dict[str, Any]:
        """Return qInfo (a fresh dict: results must not share mutable parts)."""
        return dict(self.props["qInfo"])

    @property
    def state_name(self) -> str:
        return _state(self.props.get("qStateName"))

    def ref(self) -> dict[str, Any]:
        info = self.props["qInfo"]
        return {
            "qType": "GenericObject",
            "qHandle": self.handle,
            "qGenericType": info["qType"],
            "qGenericId": info["qId"],
        }

    def on_close(self) -> None:
        self.doc.forget_object(self)

    def _def(self, path: Any) -> tuple[dict[str, Any], str]:
        """Return the Def at ``path`` and the state it computes in."""
        node = resolve_path(self.props, path)
        if not isinstance(node, dict):
            raise EngineError(INVALID_PATH, str(path), "Invalid path")
        return node, _state(node.get("qStateName"), self.state_name)

    # -- layout and properties ------------------------------------------------

    @qix("GetLayout")
    def get_layout(self, call: Call) -> Any:
        rest = {k: v for k, v in self.props.items() if k not in _OWN_KEYS}
        layout = {"qInfo": self.info}
        layout.update(LayoutBuilder(self.doc, self.state_name).build_dict(rest))
        # qMetaDef shows as qMeta; not being in selection mode is {}.
        meta = self.props.get("qMetaDef")
        layout["qMeta"] = copy.deepcopy(meta) if isinstance(meta, dict) else {}
        layout["qSelectionInfo"] = {}
        return layout

    @qix("GetProperties", light=True)
    def get_properties(self, call: Call) -> Any:
        return copy.deepcopy(self.props)

    @qix("SetProperties", light=True)
    def set_properties(self, call: Call, prop: Any) -> Any:
        if not isinstance(prop, dict):
            raise EngineError(INVALID_PARAMETERS, "qProp", "Invalid parameters")
        given = prop.get("qInfo")
        info: dict[str, Any] = given if isinstance(given, dict) else {}
        qtype = info.get("qType") or self.props["qInfo"]["qType"]
        props = copy.deepcopy(prop)
        # The object keeps its id whatever the new properties say.
        props["qInfo"] = {"qId": self.object_id, "qType": qtype}
        self.props = props
        call.changed.add(self.handle)
        return VOID

    @qix("GetInfo", light=True)
    def get_info(self, call: Call) -> Any:
        return self.info

    # -- hypercubes -----------------------------------------------------------

    @qix("GetHyperCubeData")
    def get_hyper_cube_data(self, call: Call, path: str, pages: Any) -> Any:
        definition, state = self._def(path)
        return self.doc.state.hypercube_data(definition, _pages(pages), state)

    @qix("SelectHyperCubeValues")
    def select_hyper_cube_values(
        self, call: Call, path: str, dim_no: int, values: Any, toggle_mode: bool
    ) -> Any:
        definition, state = self._def(path)
        return self.doc.state.select_hypercube_values(
            definition, int(dim_no), _ints(values), bool(toggle_mode), state
        )

    @qix("SelectHyperCubeCells")
    def select_hyper_cube_cells(
        self,
        call: Call,
        path: str,
        row_indices: Any,
        col_indices: Any,
        soft_lock: bool,
        deselect_only_one_selected: bool,
    ) -> Any:
        definition, state = self._def(path)
        return self.doc.state.select_hypercube_cells(
            definition,
            _ints(row_indices),
            _ints(col_indices),
            state,
            bool(soft_lock),
        )

    # -- list objects ---------------------------------------------------------

    @qix("GetListObjectData")
    def get_list_object_data(self, call: Call, path: str, pages: Any) -> Any:
        definition, state = self._def(path)
        return self.doc.state.list_object_data(definition, _pages(pages), state)

    @qix("SelectListObjectValues")
    def select_list_object_values(
        self,
        call: Call,
        path: str,
        values: Any,
        toggle_mode: bool,
        soft_lock: bool,
    ) -> Any:
        definition, state = self._def(path)
        return self.doc.state.select_list_object_values(
            definition, _ints(values), bool(toggle_mode), state, bool(soft_lock)
        )

    @qix("ClearSelections")
    def clear_selections(self, call: Call, path: str, col_indices: Any) -> Any:
        definition, state = self._def(path)
        chosen = _ints(col_indices) if "qColIndices" in call.given else None
        for name in self._fields_of(path, definition, chosen):
            self.doc.state.clear_field(name, state)
        return VOID

    def _fields_of(
        self, path: str, definition: dict[str, Any], columns: list[int] | None
    ) -> list[str]:
        """Return the fields behind a hypercube's dimensions or a list object."""
        if "qDimensions" in definition or "qMeasures" in definition:
            count = len(definition.get("qDimensions") or [])
            indexes = range(count) if columns is None else columns
            return [
                self.doc.state.hypercube_field(definition, i)
                for i in indexes
                if 0 <= i < count
            ]
        field_defs = (definition.get("qDef") or {}).get("qFieldDefs") or []
        if field_defs and isinstance(field_defs[0], str):
            return [field_defs[0].removeprefix("=")]
        return []


def _ints(values: Any) -> list[int]:
    if not isinstance(values, list):
        raise EngineError(INVALID_PARAMETERS, "qValues", "Invalid parameters")
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise EngineError(INVALID_PARAMETERS, "qValues", "Invalid parameters") from exc


def _pages(pages: Any) -> list[dict[str, Any]]:
    if not isinstance(pages, list) or not all(isinstance(p, dict) for p in pages):
        raise EngineError(INVALID_PARAMETERS, "qPages", "Invalid parameters")
    return pages


# ---------------------------------------------------------------------------
# Field


# Every qState code: SelectAll selects excluded values too.
_ALL_STATES = ("L", "S", "O", "D", "A", "X", "XS", "XL")


class FieldObject(QixObject):
    """A field handle from Doc.GetField, bound to one selection state."""

    qtype = "Field"

    def __init__(
        self,
        session: EngineSession,
        handle: int,
        doc: DocObject,
        name: str,
        state: str,
    ) -> None:
        super().__init__(session, handle)
        self.doc = doc
        self.name = name
        self.state_name = state

    def _exists(self) -> bool:
        # Selections on a field that is not in the data model answer false.
        return self.doc.state.has_field(self.name)

    @qix("Select")
    def select(
        self, call: Call, match: str, soft_lock: bool, excluded_values_mode: int
    ) -> Any:
        return self._exists() and self.doc.state.select_match(
            self.name, match, False, self.state_name, bool(soft_lock)
        )

    @qix("ToggleSelect")
    def toggle_select(
        self, call: Call, match: str, soft_lock: bool, excluded_values_mode: int
    ) -> Any:
        return self._exists() and self.doc.state.select_match(
            self.name, match, True, self.state_name, bool(soft_lock)
        )

    @qix("SelectValues")
    def select_values(
        self, call: Call, field_values: Any, toggle_mode: bool, soft_lock: bool
    ) -> Any:
        if not isinstance(field_values, list):
            raise EngineError(INVALID_PARAMETERS, "qFieldValues", "Invalid parameters")
        return self._exists() and self.doc.state.select_values(
            self.name, field_values, bool(toggle_mode), self.state_name, bool(soft_lock)
        )

    @qix("LowLevelSelect")
    def low_level_select(
        self, call: Call, values: Any, toggle_mode: bool, soft_lock: bool
    ) -> Any:
        return self._exists() and self.doc.state.select_elements(
            self.name,
            _ints(values),
            bool(toggle_mode),
            self.state_name,
            bool(soft_lock),
        )

    def _select_states(self, states: tuple[str, ...], soft_lock: bool) -> bool:
        return self._exists() and self.doc.state.select_by_states(
            self.name, states, self.state_name, bool(soft_lock)
        )

    @qix("SelectAll")
    def select_all(self, call: Call, soft_lock: bool) -> Any:
        return self._select_states(_ALL_STATES, soft_lock)

    @qix("SelectPossible")
    def select_possible(self, call: Call, soft_lock: bool) -> Any:
        return self._select_states(("O", "S", "L"), soft_lock)

    @qix("SelectAlternative")
    def select_alternative(self, call: Call, soft_lock: bool) -> Any:
        return self._select_states(("A",), soft_lock)

    @qix("SelectExcluded")
    def select_excluded(self, call: Call, soft_lock: bool) -> Any:
        return self._select_states(("A", "X"), soft_lock)

    @qix("Clear")
    def clear(self, call: Call) -> Any:
        return self._exists() and self.doc.state.clear_field(self.name, self.state_name)

    @qix("ClearAllButThis")
    def clear_all_but_this(self, call: Call, soft_lock: bool) -> Any:
        if not self._exists():
            return False
        self.doc.state.clear_all(self.state_name, False, self.name)
        return True

    @qix("Lock")
    def lock(self, call: Call) -> Any:
        return self._exists() and self.doc.state.lock_field(self.name, self.state_name)

    @qix("Unlock")
    def unlock(self, call: Call) -> Any:
        return self._exists() and self.doc.state.unlock_field(
            self.name, self.state_name
        )

    @qix("GetCardinal", light=True)
    def get_cardinal(self, call: Call) -> Any:
        return self.doc.state.cardinal(self.name) if self._exists() else 0

    @qix("GetAndMode", light=True)
    def get_and_mode(self, call: Call) -> Any:
        return False

    @qix("GetNxProperties", light=True)
    def get_nx_properties(self, call: Call) -> Any:
        # qOneAndOnlyOne is false, and false booleans are left out.
        return {}

"""Parity checklist rows (docs/parity.md) that no other test covers.

Each test names the row it proves: ``#N`` is item N of the enigma.js parity
checklist, ``API`` an entry of the enigma.js API reference, ``Decision N`` a
row of docs/decisions.md.
"""

from __future__ import annotations

import asyncio
import copy
import re
import traceback

import pytest
import websockets

import rxqix
from rxqix import errors
from rxqix import interceptors as stages
from rxqix._events import Emitter
from rxqix._protocol.params import build_params
from rxqix._protocol.patch import apply_patches
from rxqix._protocol.rpc import Reply, Request
from rxqix._protocol.schema import Schema, parse_schema
from rxqix.api import ApiFactory, ApiObject, python_name
from rxqix.mixins import MixinRegistry, as_mixin
from rxqix.schemas import bundled_schema
from rxqix.session import SessionState
from rxqix.testing.fake import ON_CONNECTED, FakeEngine

ATTACHED = {
    "jsonrpc": "2.0",
    "method": "OnConnected",
    "params": {"qSessionState": "SESSION_ATTACHED"},
}


def ok(frame, result, **extra):
    return {"jsonrpc": "2.0", "id": frame["id"], "result": result, **extra}


def fail(frame, code=-32601, message="Method not found", parameter=""):
    error = {"code": code, "parameter": parameter, "message": message}
    return {"jsonrpc": "2.0", "id": frame["id"], "error": error}


def ref(qtype, handle, qid=None, generic=None):
    value = {"qType": qtype, "qHandle": handle}
    if qid is not None:
        value["qGenericId"] = qid
    if generic is not None:
        value["qGenericType"] = generic
    return value


def delta(frame, key, patches, **extra):
    return {
        "jsonrpc": "2.0",
        "id": frame["id"],
        "delta": True,
        "result": {key: patches},
        **extra,
    }


class App:
    """A scripted engine: a doc, session objects with fresh handles, layouts.

    ``extra`` maps a method to a function of the request frame returning the
    reply frame (or None to send nothing); it wins over the built-in answers.
    """

    def __init__(self) -> None:
        self.next_handle = 2
        self.extra: dict = {}

    def __call__(self, frame):
        method = frame["method"]
        if method in self.extra:
            return self.extra[method](frame)
        if method == "OpenDoc":
            return ok(frame, {"qReturn": ref("Doc", 1, "app")})
        if method == "CreateSessionObject":
            handle, self.next_handle = self.next_handle, self.next_handle + 1
            generic = frame["params"][0]["qInfo"]["qType"]
            return ok(
                frame, {"qReturn": ref("GenericObject", handle, f"o{handle}", generic)}
            )
        if method == "GetObject":
            return ok(
                frame,
                {"qReturn": ref("GenericObject", 2, frame["params"][0], "barchart")},
            )
        if method == "GetLayout":
            return ok(frame, {"qLayout": {"handle": frame["handle"]}})
        if method == "EngineVersion":
            return ok(frame, {"qVersion": {"qComponentVersion": "12.1"}})
        if method == "AllowCreateApp":
            return ok(frame, {"qReturn": True})
        if method == "GetField":
            return ok(frame, {"qReturn": {"qType": None, "qHandle": None}})
        return fail(frame, parameter=method)


@pytest.fixture
async def engine():
    app = App()
    async with FakeEngine(respond=app) as fake:
        fake.app = app
        yield fake


async def settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


# -- API reference entries ----------------------------------------------------


def test_error_codes_are_enigmas():
    """API errorCodes: the twelve names and numbers, also as module constants."""
    expected = {
        "NOT_CONNECTED": -1,
        "OBJECT_NOT_FOUND": -2,
        "EXPECTED_ARRAY_OF_PATCHES": -3,
        "PATCH_HAS_NO_PARENT": -4,
        "ENTRY_ALREADY_DEFINED": -5,
        "NO_CONFIG_SUPPLIED": -6,
        "PROMISE_REQUIRED": -7,
        "SCHEMA_STRUCT_TYPE_NOT_FOUND": -8,
        "SCHEMA_MIXIN_CANT_OVERRIDE_FUNCTION": -9,
        "SCHEMA_MIXIN_EXTEND_NOT_ALLOWED": -10,
        "SESSION_SUSPENDED": -11,
        "SESSION_NOT_ATTACHED": -12,
    }
    assert errors.ERROR_CODES == expected
    assert {name: getattr(errors, name) for name in expected} == expected
    assert not set(errors.RXQIX_ERROR_CODES.values()) & set(expected.values())


async def test_api_object_properties(engine):
    """API id/type/genericType/session/handle (#60, #99): the object's identity."""
    async with rxqix.Session(engine.url) as qix:
        doc = await qix.open_doc("app")
        chart = await doc.create_session_object({"qInfo": {"qType": "barchart"}})
        assert (qix.id, qix.type, qix.generic_type, qix.handle) == (
            "Global",
            "Global",
            "Global",
            -1,
        )
        assert (doc.id, doc.type, doc.generic_type, doc.handle) == (
            "app",
            "Doc",
            None,
            1,
        )
        assert (chart.id, chart.type, chart.generic_type) == (
            "o2",
            "GenericObject",
            "barchart",
        )
        assert chart.handle == 2
        assert doc.session is chart.session is qix.session
        assert isinstance(qix.session, rxqix.Session)
        assert isinstance(chart, ApiObject)


async def test_protocol_delta_false_sends_delta_false_on_every_frame(engine):
    """API protocol.delta: false turns delta off on every request."""
    async with rxqix.Session(engine.url, protocol={"delta": False}) as qix:
        doc = await qix.open_doc("app")
        obj = await doc.create_session_object({"qInfo": {"qType": "t"}})
        await obj.get_layout()
    assert [frame["delta"] for frame in engine.received] == [False, False, False]


async def test_interceptors_may_be_mappings_in_either_spelling_and_async(engine):
    """API Interceptor: onFulfilled/on_rejected keys, sync or async handlers."""
    seen = []

    async def on_request(session, request):
        seen.append(("request", request.method))
        return request

    def on_rejected(session, request, error):
        seen.append(("rejected", type(error).__name__))
        return "recovered"

    async with rxqix.Session(
        engine.url,
        request_interceptors=[{"onFulfilled": on_request}],
        response_interceptors=[{"on_rejected": on_rejected}],
    ) as qix:
        assert await qix.get_doc_list() == "recovered"
    assert seen == [("request", "GetDocList"), ("rejected", "EngineError")]


# -- enigma / create ----------------------------------------------------------


async def test_create_leaves_the_callers_config_alone_and_reuses_it_safely(engine):
    """#1: the session checks a copy; the same config makes two working sessions."""
    config = {
        "url": engine.url,
        "suspendOnClose": True,
        "mixins": [{"types": "Global", "extend": {"tweet": lambda self: "hi"}}],
    }
    before = copy.deepcopy({k: v for k, v in config.items() if k != "mixins"})
    first, second = rxqix.create(config), rxqix.create(config)
    assert {k: v for k, v in config.items() if k != "mixins"} == before
    assert first.config["suspend_on_close"] is True
    assert first.config is not config
    async with first as a, second as b:
        assert a.tweet() == b.tweet() == "hi"


def test_a_schema_object_is_kept_and_definition_is_refused():
    """#2: a Schema passed in is used as is; enigma's internal definition is unknown."""
    schema = bundled_schema()
    session = rxqix.create(url="ws://127.0.0.1:1/app/x", schema=schema)
    assert session.schema is schema
    with pytest.raises(errors.ConfigurationError) as info:
        rxqix.create({"url": "ws://127.0.0.1:1/app/x", "definition": schema})
    assert info.value.field == "definition"


def test_promise_is_refused_with_promise_required():
    """#3 and API Promise: a Promise field is refused with code -7."""
    with pytest.raises(
        errors.ConfigurationError, match="^Promise has no meaning"
    ) as info:
        rxqix.create({"url": "ws://127.0.0.1:1/app/x", "Promise": object()})
    assert info.value.code == errors.PROMISE_REQUIRED
    assert info.value.field == "Promise"


async def test_defaults_connect_with_websockets_and_no_mixins(engine):
    """#4, #5: no create_socket means rxqix's own socket; no mixins means none."""
    session = rxqix.create({"url": engine.url})
    assert "create_socket" not in session.config
    assert session.suspend_on_close is False
    assert session.protocol == {"delta": True}
    async with session as qix:
        assert await qix.engine_version() == {"qComponentVersion": "12.1"}
        assert not hasattr(qix, "tweet")
    assert len(engine.handshakes) == 1


# -- Session ----------------------------------------------------------------------


async def test_open_twice_shares_one_socket_and_a_failed_open_can_be_retried(engine):
    """#10: concurrent open() calls share one socket; a failed open is retried."""
    session = rxqix.Session(engine.url)
    first, second = await asyncio.gather(session.open(), session.open())
    assert first is second
    assert len(engine.handshakes) == 1
    await session.close()

    attempts = []

    async def flaky(url):
        attempts.append(url)
        if len(attempts) == 1:
            raise OSError("first attempt refused")
        return await websockets.connect(url)

    session = rxqix.Session(engine.url, create_socket=flaky)
    with pytest.raises(errors.ConnectionFailedError):
        await session.open()
    qix = await session.open()
    assert await qix.engine_version() == {"qComponentVersion": "12.1"}
    assert len(attempts) == 2
    await session.close()


async def test_a_socket_factory_error_fails_open_with_that_error():
    """#11: what the factory raises is what open() raises; the session is closed."""
    problem = RuntimeError("factory broke")

    def create_socket(url):
        raise problem

    session = rxqix.Session("ws://127.0.0.1:1/app/x", create_socket=create_socket)
    with pytest.raises(RuntimeError) as info:
        await session.open()
    assert info.value is problem
    assert session.state.value is SessionState.CLOSED


async def test_the_first_request_gets_id_1(engine):
    """#14: send() sets request.id to 1 before the request interceptors run."""
    ids_seen = []

    def spy(session, request):
        ids_seen.append(request.id)
        return request

    async with rxqix.Session(
        engine.url, request_interceptors=[{"on_fulfilled": spy}]
    ) as qix:
        request = Request(-1, "EngineVersion", [], "qVersion")
        assert await qix.session.send(request) == {"qComponentVersion": "12.1"}
        assert request.id == 1
    assert ids_seen == [1]
    assert engine.received[0]["id"] == 1


async def test_pass_through_interceptors_return_the_reply_value_itself(engine):
    """#15, #72: with pass-through interceptors the call returns the very value."""
    passed = []

    class PassThrough:
        def on_fulfilled(self, session, request, result=None):
            if result is None:
                return request
            passed.append(result)
            return result

    async with rxqix.Session(
        engine.url,
        request_interceptors=[PassThrough()],
        response_interceptors=[PassThrough()],
    ) as qix:
        version = await qix.engine_version()
    assert version is passed[0]
    assert version == {"qComponentVersion": "12.1"}


async def test_extra_protocol_keys_are_on_every_frame(engine):
    """#16: protocol keys other than delta are copied onto every request."""
    async with rxqix.Session(engine.url, protocol={"foo": "bar"}) as qix:
        await qix.engine_version()
        await qix.allow_create_app()
    assert [(f["foo"], f["delta"]) for f in engine.received] == [
        ("bar", True),
        ("bar", True),
    ]


async def test_response_interceptors_get_an_awaitable_retry(engine):
    """#18: retry is set after the request stage and returns an awaitable result."""
    seen = []

    def on_request(session, request):
        seen.append(("request", request.retry is None, request.out_key))
        return request

    async def on_response(session, request, result):
        if request.tries == 1:
            retried = request.retry()
            assert asyncio.iscoroutine(retried)
            return await retried
        return result

    async with rxqix.Session(
        engine.url,
        request_interceptors=[{"on_fulfilled": on_request}],
        response_interceptors=[{"on_fulfilled": on_response}],
    ) as qix:
        assert await qix.engine_version() == {"qComponentVersion": "12.1"}
    assert seen[0] == ("request", True, "qVersion")
    assert [f["id"] for f in engine.received] == [1, 2]
    assert all("out_key" not in f and "outKey" not in f for f in engine.received)


async def test_notification_events_use_the_method_name(engine):
    """#20: a pushed FooBar notification is notification:FooBar with its params."""
    session = rxqix.Session(engine.url)
    seen = []
    session.on("notification:FooBar", seen.append)
    session.on("notification:*", lambda method, params: seen.append(method))
    await session.open()
    await engine.push({"jsonrpc": "2.0", "method": "FooBar", "params": {"a": [1]}})
    await settle()
    await session.close()
    assert seen == ["OnConnected", "FooBar", {"a": [1]}]


async def test_change_and_close_lists_reach_every_listed_api(engine):
    """#22: changed on each listed handle (before the caller resumes), then closed."""
    engine.app.extra["GetLayout"] = lambda frame: ok(
        frame, {"qLayout": {}}, change=[frame["handle"]]
    )
    async with rxqix.Session(engine.url) as qix:
        doc = await qix.open_doc("app")
        objs = [
            await doc.create_session_object({"qInfo": {"qType": "t"}}) for _ in range(3)
        ]
        seen = []
        for obj in objs:
            obj.on("changed", lambda obj=obj: seen.append(("changed", obj.handle)))
            obj.on("closed", lambda obj=obj: seen.append(("closed", obj.handle)))

        await objs[0].get_layout()
        seen.append("returned")
        assert seen == [("changed", 2), "returned"]
        seen.clear()

        handles = [obj.handle for obj in objs]
        await engine.push({"jsonrpc": "2.0", "change": handles})
        await engine.push({"jsonrpc": "2.0", "close": handles})
        await settle()
        assert seen == [("changed", h) for h in handles] + [
            ("closed", h) for h in handles
        ]
        assert all(obj.listener_count("changed") == 0 for obj in objs)
        assert all(qix.session.api(h) is None for h in handles)


async def test_a_bad_frame_is_one_socket_error(engine):
    """#23, #40: socket-error is emitted once, with the ProtocolError."""
    async with rxqix.Session(engine.url) as qix:
        problems = []
        qix.session.on("socket-error", problems.append)
        await engine.push("this is not json")
        await settle()
        assert len(problems) == 1
        assert isinstance(problems[0], errors.ProtocolError)
        assert qix.session.state.value is SessionState.OPENED


@pytest.mark.parametrize("options", [{}, {"suspend_on_close": True}])
async def test_close_emits_closed_once_whatever_the_code(engine, options):
    """#24: a second close does nothing; a custom code still gives one closed."""
    session = rxqix.Session(engine.url, **options)
    events = []
    session.on("closed", lambda event: events.append(("closed", event.code)))
    session.on("suspended", lambda event: events.append("suspended"))
    await session.open()
    await session.close(4001, "custom")
    await session.close()
    await settle()
    assert events == [("closed", 4001)]


async def test_close_before_open_does_nothing(engine):
    """Decision 4: close() on a session that never opened is a no-op."""
    session = rxqix.Session(engine.url)
    events = []
    session.on("closed", events.append)
    await session.close()
    assert events == []
    assert session.state.value is SessionState.CREATED
    assert engine.handshakes == []


@pytest.mark.parametrize(
    ("code", "reason"), [(4000, "Custom application error"), (1000, "SHUTDOWN")]
)
async def test_close_passes_code_and_reason(engine, code, reason):
    """#25, #42: close(code, reason) reaches the socket and the closed event."""
    session = rxqix.Session(engine.url)
    events = []
    session.on("closed", events.append)
    await session.open()
    assert await session.close(code, reason) is None
    assert [(e.code, e.reason) for e in events] == [(code, reason)]


async def test_suspend_passes_code_and_reason(engine):
    """#26: suspend(code, reason) closes with them and reports them."""
    session = rxqix.Session(engine.url)
    events = []
    session.on("suspended", events.append)
    await session.open()
    assert await session.suspend(4001, "maintenance") is None
    assert events == [{"initiator": "manual", "code": 4001, "reason": "maintenance"}]
    await session.close()


async def test_a_suspended_session_emits_no_close_events(engine):
    """#29: the socket closing under suspend() closes nothing; objects stay."""
    session = rxqix.Session(engine.url)
    qix = await session.open()
    doc = await qix.open_doc("app")
    events = []
    session.on("closed", lambda event: events.append("session closed"))
    doc.on("closed", lambda: events.append("doc closed"))
    doc.on("changed", lambda: events.append("doc changed"))
    await session.suspend()
    await settle()
    assert events == []
    assert engine.connections == []
    assert session.apis == [qix, doc]
    await session.close()


async def test_send_before_open_is_not_connected(engine):
    """#38: a request before open() fails with NOT_CONNECTED and sends nothing."""
    session = rxqix.Session(engine.url)
    with pytest.raises(errors.NotConnectedError, match="^not connected$") as info:
        await session.send(Request(-1, "EngineVersion", []))
    assert info.value.code == errors.NOT_CONNECTED
    assert engine.received == []


async def test_replies_are_matched_by_id_in_any_order(engine):
    """#43: each call gets the reply with its own id, whatever the order."""
    held = []
    engine.app.extra["GetLayout"] = lambda frame: held.append(frame)
    async with rxqix.Session(engine.url) as qix:
        doc = await qix.open_doc("app")
        a = await doc.create_session_object({"qInfo": {"qType": "t"}})
        b = await doc.create_session_object({"qInfo": {"qType": "t"}})
        calls = asyncio.gather(a.get_layout(), b.get_layout())
        while len(held) < 2:
            await settle(0.01)
        for frame in reversed(held):
            await engine.push(ok(frame, {"qLayout": {"handle": frame["handle"]}}))
        assert await calls == [{"handle": a.handle}, {"handle": b.handle}]


# -- Schema and generated APIs --------------------------------------------------


def test_api_classes_are_generated_once_per_struct():
    """#48: the class of a struct is made once and reused."""
    factory = ApiFactory(bundled_schema())
    assert factory.class_for("Doc") is factory.class_for("Doc")
    assert factory.class_for("Doc") is not factory.class_for("GenericObject")


def test_mixins_accumulate_per_type():
    """#50: two mixins for one type are both kept, in order."""
    first, second = (
        {"types": "Doc", "extend": {"a": 1}},
        {"types": "Doc", "extend": {"b": 2}},
    )
    registry = MixinRegistry([first, second])
    assert [dict(m.extend) for m in registry.for_type("Doc")] == [{"a": 1}, {"b": 2}]


def test_a_singular_type_is_accepted():
    """#51: type (singular) adds to types."""
    assert as_mixin({"type": "Doc"}).types == ("Doc",)
    assert as_mixin({"types": ["Doc"], "type": "Global"}).types == ("Doc", "Global")


def test_one_mixin_can_target_several_types():
    """#52: a mixin for Doc and Global extends both classes."""
    mixin = {"types": ["Doc", "Global"], "extend": {"where": lambda self: self.type}}
    factory = ApiFactory(bundled_schema(), MixinRegistry([mixin]))
    assert callable(factory.class_for("Doc").where)
    assert callable(factory.class_for("Global").where)
    assert not hasattr(factory.class_for("Field"), "where")


async def test_overrides_get_the_api_and_a_bound_base_first(engine):
    """#54: override(api, base, *args); the last registered override is outermost."""
    calls = []

    def override(label):
        async def engine_version(api, base, *args, **kwargs):
            calls.append((label, api, args, kwargs))
            return await base(*args, **kwargs)

        return {"types": "Global", "override": {"engine_version": engine_version}}

    async with rxqix.Session(
        engine.url, mixins=[override("first"), override("second")]
    ) as qix:
        assert await qix.engine_version() == {"qComponentVersion": "12.1"}
    assert calls == [("second", qix, (), {}), ("first", qix, (), {})]


async def test_global_mixins_apply_once(engine):
    """#57: type == genericType (Global): the mixin's init and override run once."""
    inits, overrides = [], []

    async def engine_version(api, base):
        overrides.append(api.type)
        return await base()

    mixin = {
        "types": "Global",
        "override": {"engine_version": engine_version},
        "init": lambda api, config: inits.append(api.type),
    }
    async with rxqix.Session(engine.url, mixins=[mixin]) as qix:
        await qix.engine_version()
    assert inits == ["Global"]
    assert overrides == ["Global"]


async def test_init_gets_the_api_and_the_config(engine):
    """#58: init(api, config) for a custom type: schema and mixin methods, the config."""
    seen = []

    def init(api, config):
        seen.append((callable(api.get_layout), api.double(), config["url"]))

    mixin = {
        "types": "custom-type",
        "extend": {"double": lambda self: self.handle * 2},
        "init": init,
    }
    async with rxqix.Session(engine.url, mixins=[mixin]) as qix:
        doc = await qix.open_doc("app")
        obj = await doc.create_session_object({"qInfo": {"qType": "custom-type"}})
    assert seen == [(True, obj.handle * 2, engine.url)]


async def test_bar2_is_bar2_and_sends_its_args(engine):
    """#59, #61: a schema method Bar2 is bar2; the wire keeps the schema name."""
    schema = {
        "structs": {
            "Global": {
                "Bar2": {
                    "In": [
                        {"Name": "qA", "DefaultValue": ""},
                        {"Name": "qB", "DefaultValue": "d", "Optional": True},
                    ],
                    "Out": [],
                }
            }
        }
    }
    engine.app.extra["Bar2"] = lambda frame: ok(frame, {})
    async with rxqix.Session(engine.url, schema=schema) as qix:
        assert await qix.bar2("abc") == {}
        assert await qix.call("Bar2", "abc", "def") == {}
    sent = [(f["method"], f["handle"], f["params"]) for f in engine.received]
    assert sent == [("Bar2", -1, ["abc", "d"]), ("Bar2", -1, ["abc", "def"])]


FOO = parse_schema(
    {
        "structs": {
            "Foo": {
                "Bar": {
                    "In": [
                        {"Name": "param1", "DefaultValue": ""},
                        {"Name": "param2", "DefaultValue": ""},
                        {"Name": "param3", "DefaultValue": "xyz", "Optional": True},
                    ],
                    "Out": [],
                },
                "Strict": {
                    "In": [
                        {"Name": "param1", "DefaultValue": ""},
                        {"Name": "param2", "DefaultValue": ""},
                        {"Name": "param3", "DefaultValue": "xyz"},
                    ],
                    "Out": [],
                },
                "One": {"In": [{"Name": "param1", "DefaultValue": ""}], "Out": []},
            }
        }
    }
)
BAR = FOO.method("Foo", "Bar")


def test_named_params_become_positional_in_schema_order():
    """#62: a named dict is sent in In order; positional args keep their order."""
    named = {"param3": "ghi", "param1": "abc", "param2": "def"}
    assert build_params(BAR, [named], {}) == ["abc", "def", "ghi"]
    assert build_params(BAR, ["abc", "def", "ghi"], {}) == ["abc", "def", "ghi"]
    assert build_params(BAR, [], {"param2": "def", "param1": "abc"}) == [
        "abc",
        "def",
        "xyz",
    ]


def test_missing_named_params_take_the_default_only_if_optional():
    """#63: a missing optional param gets its DefaultValue; a required one is an error."""
    assert build_params(BAR, [{"param1": "abc", "param2": "def"}], {}) == [
        "abc",
        "def",
        "xyz",
    ]
    assert build_params(BAR, ["abc", "def"], {}) == ["abc", "def", "xyz"]
    with pytest.raises(
        errors.InvalidArgumentsError, match="missing required argument 'param3'"
    ):
        build_params(
            FOO.method("Foo", "Strict"), [{"param1": "abc", "param2": "def"}], {}
        )


def test_a_single_array_argument_is_not_named():
    """#64: one list argument is one positional param."""
    assert build_params(FOO.method("Foo", "One"), [[]], {}) == [[]]


async def test_overrides_get_the_call_arguments_as_given(engine):
    """#65: an override sees the named dict as called; base still converts it."""
    seen = []

    async def get_object(api, base, *args, **kwargs):
        seen.append((args, kwargs))
        return await base(*args, **kwargs)

    mixin = {"types": "Doc", "override": {"get_object": get_object}}
    async with rxqix.Session(engine.url, mixins=[mixin]) as qix:
        doc = await qix.open_doc("app")
        await doc.get_object({"qId": "x"})
        await doc.get_object(qId="y")
    assert seen == [(({"qId": "x"},), {}), ((), {"qId": "y"})]
    assert [f["params"] for f in engine.received[1:]] == [["x"], ["y"]]


# -- Interceptors -------------------------------------------------------------------


async def test_a_failing_on_fulfilled_skips_later_on_fulfilled(engine):
    """#67: after a failure, later on_fulfilled handlers are skipped; the call fails."""
    later = []

    def boom(session, request, result):
        raise ValueError("first interceptor failed")

    interceptors = [
        {"on_fulfilled": boom},
        {"on_fulfilled": lambda s, r, result: later.append(result)},
    ]
    async with rxqix.Session(engine.url, response_interceptors=interceptors) as qix:
        with pytest.raises(ValueError, match="^first interceptor failed$"):
            await qix.engine_version()
    assert later == []


async def test_a_later_on_rejected_can_recover(engine):
    """#68: a later on_rejected returns a value that goes on to the next step."""
    seen = []

    def boom(session, request, result):
        raise ValueError("no")

    interceptors = [
        {"on_fulfilled": boom, "on_rejected": lambda s, r, e: seen.append("own")},
        {"on_rejected": lambda s, r, error: f"recovered from {error}"},
        {"on_fulfilled": lambda s, r, result: seen.append(result) or result},
    ]
    async with rxqix.Session(engine.url, response_interceptors=interceptors) as qix:
        assert await qix.engine_version() == "recovered from no"
    assert seen == ["recovered from no"]


async def test_object_not_found_comes_after_the_user_interceptors(engine):
    """#69: a null reference fails after every interceptor; on_rejected never sees it."""
    seen = []

    class Spy:
        def on_fulfilled(self, session, request, result):
            seen.append(("fulfilled", result))
            return result

        def on_rejected(self, session, request, error):
            seen.append(("rejected", error))
            raise error

    async with rxqix.Session(engine.url, response_interceptors=[Spy()]) as qix:
        doc = await qix.open_doc("app")
        with pytest.raises(
            errors.ObjectNotFoundError, match="^object not found$"
        ) as info:
            await doc.get_field("nope")
    assert info.value.code == errors.OBJECT_NOT_FOUND
    assert seen[-1] == ("fulfilled", {"qType": None, "qHandle": None})
    assert all(kind == "fulfilled" for kind, _ in seen)


@pytest.mark.parametrize(
    ("value", "is_ref", "is_null"),
    [
        ({"qHandle": 1, "qType": "Doc"}, True, False),
        ({"qHandle": 0, "qType": "Doc"}, False, False),
        ({"qHandle": None, "qType": None}, False, True),
        ({"qHandle": None}, False, False),
        ({"qHandle": 3}, False, False),
        ("text", False, False),
        (None, False, False),
        ([], False, False),
    ],
)
def test_only_handle_and_type_make_an_object_reference(value, is_ref, is_null):
    """#70, #71, #72: truthy qHandle and qType is an object; both null is not found."""
    assert stages.is_object_ref(value) is is_ref
    assert stages.is_null_ref(value) is is_null


async def test_an_engine_error_keeps_its_fields_and_the_call_site(engine):
    """#73: EngineError has code, parameter, message; its traceback has the caller."""
    async with rxqix.Session(engine.url) as qix:
        with pytest.raises(rxqix.EngineError) as info:
            await qix.get_doc_list()
    error = info.value
    assert (error.code, error.parameter, error.message) == (
        -32601,
        "GetDocList",
        "Method not found",
    )
    assert error.enigma_error is False
    names = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
    assert names[0] == "test_an_engine_error_keeps_its_fields_and_the_call_site"


def test_a_reply_without_error_passes_the_error_stage():
    """#74: no error object: the same reply, no error set."""
    reply = Reply(Request(1, "GetLayout", [], "qLayout", id=1), {"id": 1, "result": {}})
    assert stages.map_engine_error(reply) is reply
    assert reply.error is None


@pytest.mark.parametrize(
    ("method", "out_key", "result", "expected"),
    [
        ("GetInteract", "qDef", {"qReturn": True, "qDef": {"qType": 1}}, {"qType": 1}),
        ("CreateTemporaryBookmark", "qId", {"qReturn": True, "qId": "t1"}, "t1"),
    ],
)
def test_a_spurious_qreturn_is_dropped(method, out_key, result, expected):
    """#76: GetInteract and CreateTemporaryBookmark return their out param."""
    reply = Reply(Request(1, method, [], out_key, id=1), {"result": result})
    assert stages.unwrap_out_param(stages.take_result(reply)).value == expected


# -- Delta ----------------------------------------------------------------------------


def test_delta_d2_a_reply_with_delta_false_passes_unchanged():
    """#81 D2: delta false: the very same response object goes on."""
    response = {"delta": False, "result": {"qReturn": {"foo": {}}}}
    reply = Reply(Request(1, "Foo", [], None, id=1), response)
    assert stages.merge_delta(reply, {}).response is response


def test_delta_d4_a_root_false_is_cached_for_an_empty_patch_list():
    """#81 D4: root add false, then [] gives false again."""
    cache: stages.DeltaCache = {}

    def merged(patches):
        reply = Reply(
            Request(1, "Foo", [], None, id=1),
            {"delta": True, "result": {"qReturn": patches}},
        )
        return stages.merge_delta(reply, cache).response["result"]["qReturn"]

    assert merged([{"op": "add", "path": "/", "value": False}]) is False
    assert merged([]) is False


class DeltaLayouts:
    """GetLayout answers with the next patch list; CreateSessionObject reuses handle 2."""

    def __init__(self, app: App) -> None:
        self.patches: list = []
        app.extra["GetLayout"] = self.layout
        app.extra["CreateSessionObject"] = lambda frame: ok(
            frame, {"qReturn": ref("GenericObject", 2, "o2", "t")}
        )

    def layout(self, frame):
        return delta(frame, "qLayout", self.patches.pop(0))


ROOT_A = [{"op": "add", "path": "/", "value": {"a": 1}}]


async def test_delta_d5_a_close_list_drops_the_handle_cache(engine):
    """#81 D5: after close:[2], a new object on handle 2 starts from nothing."""
    layouts = DeltaLayouts(engine.app)
    layouts.patches = [ROOT_A, [], []]
    async with rxqix.Session(engine.url) as qix:
        doc = await qix.open_doc("app")
        obj = await doc.create_session_object({"qInfo": {"qType": "t"}})
        assert await obj.get_layout() == {"a": 1}
        assert await obj.get_layout() == {"a": 1}
        await engine.push({"jsonrpc": "2.0", "close": [2]})
        await settle()
        again = await doc.create_session_object({"qInfo": {"qType": "t"}})
        assert again is not obj
        assert await again.get_layout() == {}


async def test_delta_d6_closing_the_session_drops_its_cache(engine):
    """#81 D6: after close and open, handle 2 starts from nothing."""
    layouts = DeltaLayouts(engine.app)
    layouts.patches = [ROOT_A, []]
    session = rxqix.Session(engine.url)
    for expected in ({"a": 1}, {}):
        qix = await session.open()
        doc = await qix.open_doc("app")
        obj = await doc.create_session_object({"qInfo": {"qType": "t"}})
        assert await obj.get_layout() == expected
        await session.close()


async def test_decision_6_resume_clears_the_delta_cache(engine):
    """Decision 6: after suspend and resume, cached deltas are gone."""
    layouts = DeltaLayouts(engine.app)
    layouts.patches = [ROOT_A, []]
    engine.app.extra["GetActiveDoc"] = lambda frame: ok(
        frame, {"qReturn": ref("Doc", 1, "app")}
    )
    engine.app.extra["GetObject"] = lambda frame: ok(
        frame, {"qReturn": ref("GenericObject", 2, "o2", "t")}
    )
    session = rxqix.Session(engine.url, resume_timeout=0.1)
    qix = await session.open()
    doc = await qix.open_doc("app")
    obj = await doc.create_session_object({"qInfo": {"qType": "t"}})
    assert await obj.get_layout() == {"a": 1}
    await session.suspend()
    await session.resume()
    assert obj.handle == 2
    assert await obj.get_layout() == {}
    await session.close()


async def test_decision_8_patches_merge_in_arrival_order(engine):
    """Decision 8: two GetLayout calls in flight on one handle merge in order."""
    layouts = DeltaLayouts(engine.app)
    layouts.patches = [
        [{"op": "add", "path": "/", "value": {"n": 1, "keep": True}}],
        [{"op": "replace", "path": "/n", "value": 2}],
    ]
    async with rxqix.Session(engine.url) as qix:
        doc = await qix.open_doc("app")
        obj = await doc.create_session_object({"qInfo": {"qType": "t"}})
        first, second = await asyncio.gather(obj.get_layout(), obj.get_layout())
    assert first == {"n": 1, "keep": True}
    assert second == {"n": 2, "keep": True}


async def test_decision_16_traffic_frames_keep_their_patches(engine):
    """Decision 16: a received frame is not rewritten by the delta merge."""
    layouts = DeltaLayouts(engine.app)
    layouts.patches = [ROOT_A]
    async with rxqix.Session(engine.url) as qix:
        frames = []
        qix.session.on("traffic:received", frames.append)
        doc = await qix.open_doc("app")
        obj = await doc.create_session_object({"qInfo": {"qType": "t"}})
        assert await obj.get_layout() == {"a": 1}
    assert frames[-1]["result"] == {"qLayout": ROOT_A}


# -- JSON-Patch -------------------------------------------------------------------------


P = {
    "simpleString": "string",
    "simpleNumber": 392,
    "simpleBoolean": True,
    "simpleArray": [392, "string", False],
    "complexArray": [
        {"qInfo": {"qId": 1}, "simpleString": "string1"},
        {"qInfo": {"qId": 2}, "simpleString": "string2"},
        {"qInfo": {"qId": 3}, "simpleString": "string3"},
    ],
    "complexObject": {
        "title": "foo",
        "array": [1, 2, 3],
        "nestedObject": {"foo": True, "bar": True},
    },
    "qvObjectArray": [{"qInfo": {"qId": 2}, "hello": "yes"}],
}


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (
            {"op": "add", "path": "/prop", "value": "hello"},
            lambda d: d["prop"] == "hello",
        ),
        (
            {"op": "add", "path": "/complexObject/foo", "value": {"bar": True}},
            lambda d: d["complexObject"]["foo"] == {"bar": True},
        ),
        (
            {"op": "add", "path": "/simpleArray/-", "value": "last"},
            lambda d: len(d["simpleArray"]) == 4 and d["simpleArray"][3] == "last",
        ),
        (
            {"op": "add", "path": "/simpleArray/1", "value": "middle"},
            lambda d: len(d["simpleArray"]) == 4 and d["simpleArray"][1] == "middle",
        ),
        (
            {"op": "replace", "path": "/simpleString", "value": "hello"},
            lambda d: d["simpleString"] == "hello",
        ),
        (
            {"op": "replace", "path": "/complexObject", "value": {"anotherProp": True}},
            lambda d: d["complexObject"] == {"anotherProp": True},
        ),
        (
            {"op": "replace", "path": "/simpleArray", "value": [9, 8, 7]},
            lambda d: d["simpleArray"] == [9, 8, 7],
        ),
        (
            {"op": "replace", "path": "/simpleArray/1", "value": 5938},
            lambda d: len(d["simpleArray"]) == 3 and d["simpleArray"][1] == 5938,
        ),
        ({"op": "remove", "path": "/simpleString"}, lambda d: "simpleString" not in d),
        (
            {"op": "remove", "path": "/complexObject/title"},
            lambda d: "title" not in d["complexObject"],
        ),
        (
            {"op": "remove", "path": "/simpleArray/1"},
            lambda d: d["simpleArray"] == [392, False],
        ),
    ],
    ids=[f"A{n}" for n in range(1, 12)],
)
def test_patch_application_cases(patch, check):
    """#83 A1-A11: each patch gives enigma's value; the cached value is not touched."""
    before = copy.deepcopy(P)
    assert check(apply_patches(P, [patch]))
    assert before == P


@pytest.mark.parametrize(
    "patch",
    [
        {"op": "add", "path": "/__proto__", "value": {"polluted": True}},
        {"op": "add", "path": "/constructor", "value": {"polluted": True}},
        {"op": "add", "path": "/prototype", "value": {"polluted": True}},
        {"op": "add", "path": "/__proto__/polluted", "value": True},
        {"op": "move", "from": "/__proto__", "path": "/simpleString"},
    ],
    ids=["X1", "X2", "X3", "X4", "X5"],
)
def test_unsafe_keys_are_refused(patch):
    """#84 X1-X6: unsafe path segments fail with PatchError before any change."""
    before = copy.deepcopy(P)
    with pytest.raises(errors.PatchError, match="^unsafe key in patch path") as info:
        apply_patches(P, [patch])
    assert info.value.code == errors.PATCH_HAS_NO_PARENT
    assert before == P
    assert not hasattr(object, "polluted")
    assert "polluted" not in {}


# -- caches, errors, emitter --------------------------------------------------------------


async def test_api_lookup_by_handle(engine):
    """#86: session.api(handle) finds a live object; unknown or None gives None."""
    async with rxqix.Session(engine.url) as qix:
        session = qix.session
        assert session.api(None) is None
        assert session.api(2) is None
        doc = await qix.open_doc("app")
        obj = await doc.create_session_object({"qInfo": {"qType": "t"}})
        assert session.api(-1) is qix
        assert session.api(2) is obj
        assert session.apis == [qix, doc, obj]


def test_an_enigma_error_with_a_custom_code():
    """#87 and API EnigmaError code/enigmaError: code, message, enigma_error True."""
    error = errors.EnigmaError("My custom error", -42)
    assert isinstance(error, Exception)
    assert (error.code, error.message, str(error)) == (
        -42,
        "My custom error",
        "My custom error",
    )
    assert error.enigma_error is True
    assert error.original is None
    assert errors.SessionSuspendedError("x").enigma_error is True


def test_the_emitter_methods():
    """#88: on, once, remove_listener, remove_all_listeners and emit."""
    emitter = Emitter()
    seen = []
    listener = emitter.on("e", lambda *args: seen.append(("on", args)))
    emitter.once("e", lambda *args: seen.append(("once", args)))
    assert emitter.emit("e", 1) is True
    assert emitter.emit("e", 2) is True
    emitter.remove_listener("e", listener)
    assert emitter.emit("e", 3) is False
    emitter.on("f", seen.append)
    emitter.on("g", seen.append)
    emitter.remove_all_listeners()
    assert emitter.emit("f", 4) is False
    assert seen == [("on", (1,)), ("once", (1,)), ("on", (2,))]


# -- Suspend and resume -----------------------------------------------------------------


async def test_resume_only_if_attached_times_out_as_not_attached(engine):
    """#91: no OnConnected within resume_timeout: SESSION_NOT_ATTACHED, still suspended."""
    session = rxqix.Session(engine.url, resume_timeout=0.1)
    await session.open()
    await session.suspend()
    engine.greet = None
    with pytest.raises(errors.SessionNotAttachedError, match="^not attached$") as info:
        await session.resume(only_if_attached=True)
    assert info.value.code == errors.SESSION_NOT_ATTACHED
    assert session.state.value is SessionState.SUSPENDED
    await session.close()


async def test_resume_with_only_global_gives_global_no_event(engine):
    """#92: Global is kept, gets no changed; nothing is sent to restore."""
    session = rxqix.Session(engine.url, resume_timeout=0.1)
    qix = await session.open()
    events = []
    qix.on("changed", lambda: events.append("global changed"))
    qix.on("closed", lambda: events.append("global closed"))
    session.on("resumed", lambda: events.append("resumed"))
    await session.suspend()
    await session.resume()
    assert events == ["resumed"]
    assert session.apis == [qix]
    assert engine.received == []
    await session.close()


async def test_resume_without_active_doc_or_open_doc_closes_all_but_global(engine):
    """#93: GetActiveDoc fails and no OpenDoc was sent: doc and objects close."""
    active = iter([ok, fail])
    engine.app.extra["GetActiveDoc"] = lambda frame: (
        ok(frame, {"qReturn": ref("Doc", 1, "app")})
        if next(active) is ok
        else fail(frame)
    )
    session = rxqix.Session(engine.url, resume_timeout=0.1)
    qix = await session.open()
    doc = await qix.get_active_doc()
    obj = await doc.get_object("o1")
    events = []
    doc.on("closed", lambda: events.append("doc closed"))
    obj.on("closed", lambda: events.append("obj closed"))
    await session.suspend()
    await session.resume()
    assert events == ["doc closed", "obj closed"]
    assert session.apis == [qix]
    assert [f["method"] for f in engine.received] == [
        "GetActiveDoc",
        "GetObject",
        "GetActiveDoc",
    ]
    await session.close()


class FullRestore:
    """#94's engine: after resume, Doc 101, GenericObject 102, GenericVariable 103."""

    def __init__(self, app: App) -> None:
        self.resumed = False
        app.extra.update(
            GetObject=lambda f: self.answer(
                f, ref("GenericObject", 2, "obj", "t"), 102
            ),
            GetVariableById=lambda f: self.answer(
                f, ref("GenericVariable", 3, "var"), 103
            ),
            GetField=lambda f: ok(f, {"qReturn": ref("Field", 4)}),
            GetDimension=lambda f: ok(f, {"qReturn": ref("GenericDummy", 5, "dummy")}),
            GetDummy=lambda f: fail(f, 2, "Object not found", "dummy"),
            GetBookmark=lambda f: self.answer(
                f, ref("GenericBookmark", 6, "bm"), {"qType": None, "qHandle": None}
            ),
            GetActiveDoc=lambda f: ok(f, {"qReturn": ref("Doc", 101, "app")}),
        )

    def answer(self, frame, first, later):
        if not self.resumed:
            return ok(frame, {"qReturn": first})
        if isinstance(later, int):
            later = {**first, "qHandle": later}
        return ok(frame, {"qReturn": later})


async def test_resume_restores_what_it_can_and_closes_the_rest(engine):
    """#94: Doc, GenericObject, GenericVariable changed; Field, dummy, bookmark closed."""
    script = FullRestore(engine.app)
    base = bundled_schema()
    schema = Schema(structs={**base.structs, "GenericDummy": {}}, enums=base.enums)
    session = rxqix.Session(engine.url, schema=schema, resume_timeout=0.1)
    qix = await session.open()
    doc = await qix.open_doc("app")
    obj = await doc.get_object("obj")
    var = await doc.get_variable_by_id("var")
    field = await doc.get_field("f")
    dummy = await doc.get_dimension("dummy")
    bookmark = await doc.get_bookmark("bm")
    assert dummy.type == "GenericDummy"
    events = []
    for api, name in [
        (qix, "global"),
        (doc, "doc"),
        (obj, "obj"),
        (var, "var"),
        (field, "field"),
        (dummy, "dummy"),
        (bookmark, "bookmark"),
    ]:
        api.on("changed", lambda name=name: events.append(f"{name} changed"))
        api.on("closed", lambda name=name: events.append(f"{name} closed"))
    await session.suspend()

    with pytest.raises(errors.SessionNotAttachedError):
        await session.resume(only_if_attached=True)
    assert events == []

    script.resumed = True
    sent_before = len(engine.received)
    await session.resume()
    assert events == [
        "field closed",
        "dummy closed",
        "bookmark closed",
        "doc changed",
        "obj changed",
        "var changed",
    ]
    assert (doc.handle, obj.handle, var.handle) == (101, 102, 103)
    assert session.apis == [qix, doc, obj, var]
    restore = engine.received[sent_before:]
    assert [(f["method"], f["handle"], f["params"]) for f in restore] == [
        ("GetActiveDoc", -1, []),
        ("GetObject", 101, ["obj"]),
        ("GetVariableById", 101, ["var"]),
        ("GetDummy", 101, ["dummy"]),
        ("GetBookmark", 101, ["bm"]),
    ]
    assert all("delta" not in f for f in restore)
    await session.close()


async def test_resume_without_on_connected_counts_as_a_new_session(engine):
    """#95: no OnConnected within resume_timeout: resume() restores as SESSION_CREATED."""
    engine.app.extra["GetActiveDoc"] = lambda frame: ok(
        frame, {"qReturn": ref("Doc", 7, "app")}
    )
    session = rxqix.Session(engine.url, resume_timeout=0.1)
    qix = await session.open()
    doc = await qix.open_doc("app")
    await session.suspend()
    engine.greet = None
    await session.resume()
    assert doc.handle == 7
    assert session.state.value is SessionState.OPENED
    await session.close()


async def test_resume_only_if_attached_succeeds_when_attached(engine):
    """#96: OnConnected SESSION_ATTACHED satisfies only_if_attached."""
    session = rxqix.Session(engine.url, resume_timeout=5)
    await session.open()
    await session.suspend()
    engine.greet = ATTACHED
    await asyncio.wait_for(session.resume(only_if_attached=True), 2)
    assert session.state.value is SessionState.OPENED
    await session.close()


async def test_suspend_resume_then_close_fire_each_event_once(engine):
    """#104: suspended once, the doc still works after resume, closed once on close."""
    engine.app.extra["GetActiveDoc"] = lambda frame: fail(frame, 1007, "App invalid")
    session = rxqix.Session(engine.url, resume_timeout=0.1)
    events = []
    for name in ("suspended", "resumed", "closed"):
        session.on(name, lambda *args, name=name: events.append(name))
    qix = await session.open()
    doc = await qix.open_doc("app")
    await session.suspend()
    await session.resume()
    assert [f["method"] for f in engine.received][-2:] == ["GetActiveDoc", "OpenDoc"]
    assert await (
        await doc.create_session_object({"qInfo": {"qType": "t"}})
    ).get_layout()
    await session.close()
    assert events == ["suspended", "resumed", "closed"]


# -- Component and integration ------------------------------------------------------------

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GLOBAL_REPLIES = {
    "AbortAll": {},
    "AbortRequest": {},
    "CancelReload": {},
    "CancelRequest": {},
    "ConfigureReload": {},
    "AllowCreateApp": {"qReturn": True},
    "CreateSessionApp": {
        "qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": ""},
        "qSessionAppId": "SessionApp_1",
    },
    "GetAuthenticatedUser": {"qReturn": "UserDirectory=D; UserId=u"},
    "GetBNF": {"qBnfDefs": [{"qBnfId": 0}]},
    "GetCustomConnectors": {"qConnectors": []},
    "GetDocList": {"qDocList": [{"qDocName": "a"}]},
    "GetOdbcDsns": {"qOdbcDsns": []},
    "GetOleDbProviders": {"qOleDbProviders": []},
    "GetSupportedCodePages": {"qCodePages": [{"qNumber": 65001}]},
    "GetConfiguration": {"qReturn": {"qFeatures": {}}},
    "GetDefaultAppFolder": {"qPath": "/apps"},
    "OSName": {"qReturn": "linux"},
    "OSVersion": {"qReturn": "6"},
    "ProductVersion": {"qReturn": "12.2027.0"},
    "QTProduct": {"qReturn": "Qlik Sense"},
    "QvVersion": {"qReturn": "12.2027.0"},
    "GetUniqueID": {"qUniqueID": "4d1a2a2b-2e0c-4a5f-9d8e-1f2b3c4d5e6f"},
    "IsDesktopMode": {"qReturn": False},
    "IsPersonalMode": {"qReturn": True},
    "ReloadExtensionList": {},
}


def _is(kind):
    return lambda value: (
        isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    )


@pytest.mark.parametrize(
    ("method", "args", "check"),
    [
        ("abort_all", (), lambda v: v == {}),
        ("abort_request", (0,), lambda v: v == {}),
        ("cancel_reload", (), lambda v: v == {}),
        ("cancel_request", (0,), lambda v: v == {}),
        ("configure_reload", (False, False, False), lambda v: v == {}),
        ("allow_create_app", (), lambda v: v is True),
        (
            "create_session_app",
            (),
            lambda v: (
                isinstance(v, ApiObject) and (v.type, v.id) == ("Doc", "SessionApp_1")
            ),
        ),
        ("get_authenticated_user", (), _is(str)),
        ("get_bnf", (0,), _is(list)),
        ("get_custom_connectors", (), _is(list)),
        ("get_doc_list", (), _is(list)),
        ("get_odbc_dsns", (), _is(list)),
        ("get_ole_db_providers", (), _is(list)),
        ("get_supported_code_pages", (), _is(list)),
        ("get_configuration", (), lambda v: v == {"qFeatures": {}}),
        ("get_default_app_folder", (), _is(str)),
        ("os_name", (), _is(str)),
        ("os_version", (), _is(str)),
        ("product_version", (), _is(str)),
        ("qt_product", (), _is(str)),
        ("qv_version", (), _is(str)),
        ("get_unique_id", (), lambda v: bool(GUID.match(v))),
        ("is_desktop_mode", (), lambda v: v is False),
        ("is_personal_mode", (), lambda v: v is True),
        ("reload_extension_list", (), _is(dict)),
    ],
)
async def test_global_calls_resolve_to_unwrapped_values(method, args, check):
    """#98: each Global call resolves to its unwrapped out value."""
    async with FakeEngine(GLOBAL_REPLIES) as fake:
        async with rxqix.Session(fake.url) as qix:
            assert check(await getattr(qix, method)(*args))


async def test_named_get_object_gives_a_barchart_with_every_method(engine):
    """#100: get_object({"qId": ...}) is named; the object has every schema method."""
    async with rxqix.Session(engine.url) as qix:
        doc = await qix.open_doc("app")
        chart = await doc.get_object({"qId": "RPKdHg"})
    assert engine.received[-1]["params"] == ["RPKdHg"]
    assert (chart.type, chart.generic_type, chart.id) == (
        "GenericObject",
        "barchart",
        "RPKdHg",
    )
    methods = bundled_schema().structs["GenericObject"].values()
    assert len(methods) > 50
    assert all(callable(getattr(chart, python_name(spec))) for spec in methods)


async def test_global_calls_against_the_local_engine():
    """#101: the Global methods the local engine serves, over a real socket."""
    from rxqix.engine import Engine

    async with Engine() as local, rxqix.Session(local.url) as qix:
        assert (await qix.engine_version())["qComponentVersion"]
        for method in ("product_version", "qv_version", "os_name", "os_version"):
            assert isinstance(await getattr(qix, method)(), str), method
        assert isinstance(await qix.qt_product(), str)
        assert isinstance(await qix.get_authenticated_user(), str)
        assert GUID.match(await qix.get_unique_id())
        assert await qix.allow_create_app() is True
        assert await qix.is_desktop_mode() is False
        assert await qix.abort_all() == {}
        assert await qix.abort_request(0) == {}
        assert isinstance(await qix.get_doc_list(), list)


class Sheets:
    """#102's engine: a session app whose sheets can be created and listed."""

    def __init__(self) -> None:
        self.sheets: list[str] = []
        self.lists: set[int] = set()
        self.next_handle = 2

    def handle(self) -> int:
        handle, self.next_handle = self.next_handle, self.next_handle + 1
        return handle

    def __call__(self, frame):
        method = frame["method"]
        if method == "CreateSessionApp":
            app = {"qType": "Doc", "qHandle": 1, "qGenericId": ""}
            return ok(frame, {"qReturn": app, "qSessionAppId": "SessionApp_1"})
        if method in ("SetScript", "DestroySessionObject"):
            return ok(frame, {})
        if method == "DoReload":
            return ok(frame, {"qReturn": True})
        if method == "CreateObject":
            sheet_id = f"sheet{len(self.sheets) + 1}"
            self.sheets.append(sheet_id)
            return ok(
                frame,
                {"qReturn": ref("GenericObject", self.handle(), sheet_id, "sheet")},
            )
        if method == "CreateSessionObject":
            handle = self.handle()
            self.lists.add(handle)
            return ok(
                frame,
                {"qReturn": ref("GenericObject", handle, f"list{handle}", "list")},
            )
        if method == "GetLayout" and frame["handle"] in self.lists:
            items = [{"qInfo": {"qId": s, "qType": "sheet"}} for s in self.sheets]
            return ok(frame, {"qLayout": {"qAppObjectList": {"qItems": items}}})
        return fail(frame, parameter=method)


async def prepare_session_app(self, script):
    app = await self.create_session_app()
    await app.set_script(script)
    await app.do_reload()
    return app


async def get_list(self, qtype):
    definition = {
        "qInfo": {"qType": f"{qtype}-list"},
        "qAppObjectListDef": {"qType": qtype, "qData": {}},
    }
    listing = await self.create_session_object(definition)
    layout = await listing.get_layout()
    await self.destroy_session_object(listing.id)
    return [item["qInfo"]["qId"] for item in layout["qAppObjectList"]["qItems"]]


async def create_sheet(self, title):
    return await self.create_object(
        {"qInfo": {"qType": "sheet"}, "qMetaDef": {"title": title}}
    )


async def test_sugar_mixins_build_on_generated_methods():
    """#102: Global prepare_session_app and Doc get_list/create_sheet mixins."""
    mixins = [
        {"types": "Global", "extend": {"prepare_session_app": prepare_session_app}},
        {
            "types": "Doc",
            "extend": {"get_list": get_list, "create_sheet": create_sheet},
        },
    ]
    script = "Characters: Load Chr(RecNo()+Ord('A')-1) as Alpha Autogenerate 26;"
    async with FakeEngine(respond=Sheets()) as fake:
        async with rxqix.Session(fake.url, mixins=mixins) as qix:
            app = await qix.prepare_session_app(script)
            assert app.id == "SessionApp_1"
            assert await app.get_list("sheet") == []
            sheet = await app.create_sheet("My sheet")
            assert await app.get_list("sheet") == [sheet.id]
        sent = [(f["method"], f["params"]) for f in fake.received]
    assert sent[:3] == [
        ("CreateSessionApp", []),
        ("SetScript", [script]),
        ("DoReload", [0, False, False]),
    ]


async def test_traffic_order_as_enigma(engine):
    """#107: session and Global traffic events, in enigma.js's order."""
    session = rxqix.Session(engine.url)
    on_session: dict = {"sent": [], "received": [], "*": []}
    session.on("traffic:sent", on_session["sent"].append)
    session.on("traffic:received", on_session["received"].append)
    session.on("traffic:*", lambda *args: on_session["*"].append(args))
    qix = await session.open()
    on_global: dict = {"sent": [], "received": [], "*": []}
    qix.on("traffic:sent", on_global["sent"].append)
    qix.on("traffic:received", on_global["received"].append)
    qix.on("traffic:*", lambda *args: on_global["*"].append(args))
    await settle(0.2)
    assert await qix.allow_create_app() is True
    await session.close()

    request, response = on_session["sent"][0], on_session["received"][1]
    assert {k: request[k] for k in ("method", "handle", "params", "id")} == {
        "method": "AllowCreateApp",
        "handle": -1,
        "params": [],
        "id": 1,
    }
    assert on_session["received"][0] == ON_CONNECTED
    assert response == {"id": 1, "jsonrpc": "2.0", "result": {"qReturn": True}}
    assert on_session["*"][1:] == [("sent", request), ("received", response)]
    assert on_global["sent"] == [request]
    assert on_global["received"] == [response]
    assert on_global["*"] == [("sent", request), ("received", response)]

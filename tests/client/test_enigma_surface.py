"""The enigma.js surface in Python: configuration, events, interceptors, mixins."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from retry_aborted import RetryAborted
from toggle_delta import NoDeltaForEngineVersion

import rxqix
from rxqix import errors
from rxqix.testing.fake import FakeEngine


def ok(frame, result, **extra):
    return {"jsonrpc": "2.0", "id": frame["id"], "result": result, **extra}


def fail(frame, code, message, parameter=""):
    error = {"code": code, "parameter": parameter, "message": message}
    return {"jsonrpc": "2.0", "id": frame["id"], "error": error}


class Scripted:
    """Answers OpenDoc, CreateSessionObject, GetLayout, Evaluate (aborting on demand)."""

    def __init__(self, aborts: int = 0) -> None:
        self.aborts = aborts
        self.next_handle = 2

    def __call__(self, frame):
        method = frame["method"]
        if method == "OpenDoc":
            return ok(
                frame, {"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "a"}}
            )
        if method == "CreateSessionObject":
            handle, self.next_handle = self.next_handle, self.next_handle + 1
            info = frame["params"][0]["qInfo"]
            ref = {
                "qType": "GenericObject",
                "qHandle": handle,
                "qGenericType": info["qType"],
            }
            return ok(
                frame, {"qReturn": {**ref, "qGenericId": f"o{handle}"}}, change=[handle]
            )
        if method == "GetLayout":
            return ok(frame, {"qLayout": {"handle": frame["handle"]}})
        if method == "Evaluate":
            if self.aborts:
                self.aborts -= 1
                return fail(frame, 15, "Request aborted", "Failure")
            return ok(frame, {"qReturn": "336776"})
        if method in ("EngineVersion", "GetUniqueID"):
            return ok(frame, {"qVersion": {"qComponentVersion": "1"}, "qUniqueID": "u"})
        return fail(frame, -32601, "Method not found", method)


@pytest.fixture
async def engine():
    script = Scripted()
    async with FakeEngine(respond=script) as fake:
        fake.script = script
        yield fake


# -- configuration -----------------------------------------------------------


def test_create_without_configuration_is_code_minus_6():
    """rxqix.create() with nothing is NO_CONFIG_SUPPLIED."""
    with pytest.raises(
        errors.ConfigurationError, match="^you need to supply a configuration$"
    ) as info:
        rxqix.create()
    assert info.value.code == errors.NO_CONFIG_SUPPLIED


def test_create_takes_enigma_spelling():
    """camelCase keys map to their Python fields."""
    session = rxqix.create(
        {
            "url": "ws://127.0.0.1:1/app/x",
            "suspendOnClose": True,
            "protocol": {"delta": False},
        }
    )
    assert session.suspend_on_close is True
    assert session.protocol == {"delta": False}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "ws://h/app", "Promise": object()}, "Promise"),
        ({"url": "ws://h/app", "colour": 1}, "colour"),
        ({"schema": None}, "url"),
        ({"url": "ws://h/app", "protocol": []}, "protocol"),
        ({"url": "ws://h/app", "protocol": {"delta": "yes"}}, "protocol.delta"),
        ({"url": "ws://h/app", "suspendOnClose": "yes"}, "suspend_on_close"),
        ({"url": "ws://h/app", "createSocket": 3}, "create_socket"),
        ({"url": "ws://h/app", "headers": {"a": 1}}, "headers"),
        ({"url": "ws://h/app", "ssl": True}, "ssl"),
        ({"url": "ws://h/app", "open_timeout": 0}, "open_timeout"),
        ({"url": "ws://h/app", "mixins": {"types": "Doc"}}, "mixins"),
        ({"url": "ws://h/app", "mixins": [{"extend": {}}]}, "mixins[0]"),
        ({"url": "ws://h/app", "mixins": [{"types": "Doc", "init": 3}]}, "mixins[0]"),
        (
            {"url": "ws://h/app", "requestInterceptors": [object()]},
            "request_interceptors[0]",
        ),
        (
            {"url": "ws://h/app", "responseInterceptors": [{"onRejected": 5}]},
            "response_interceptors[0]",
        ),
        ({"url": "ws://h/app", "schema": {"nope": 1}}, "schema"),
        ({"url": "ftp://h/app"}, "url"),
    ],
)
def test_each_configuration_mistake_names_its_field(fields, field):
    """A wrong field raises ConfigurationError with .field set to it."""
    with pytest.raises(errors.ConfigurationError) as info:
        rxqix.create(fields)
    assert info.value.field == field
    assert info.value.enigma_error is True


def test_an_ssl_context_is_accepted():
    """ssl takes an SSLContext."""
    session = rxqix.create(url="wss://h/app", ssl=ssl.create_default_context())
    assert session.url == "wss://h/app"


# -- events ------------------------------------------------------------------


async def test_session_events_fire_in_order(engine):
    """opened, notification:*, notification:OnConnected, traffic:*, closed."""
    session = rxqix.Session(engine.url)
    seen = []
    session.on("opened", lambda: seen.append("opened"))
    session.on("closed", lambda event: seen.append(("closed", event.code)))
    session.on("notification:*", lambda method, params: seen.append(("n*", method)))
    session.on(
        "notification:OnConnected",
        lambda params: seen.append(("n", params["qSessionState"])),
    )
    qix = await session.open()
    await asyncio.sleep(0.05)
    await qix.engine_version()
    await session.close()
    assert seen == [
        "opened",
        ("n*", "OnConnected"),
        ("n", "SESSION_CREATED"),
        ("closed", 1000),
    ]


async def test_traffic_events_reach_the_session_and_the_calling_api(engine):
    """Session traffic sees everything; an API sees only its own requests and replies."""
    session = rxqix.Session(engine.url)
    on_session, on_global = [], []
    session.on(
        "traffic:*", lambda d, f: on_session.append((d, f.get("method") or f.get("id")))
    )
    qix = await session.open()
    qix.on(
        "traffic:*", lambda d, f: on_global.append((d, f.get("method") or f.get("id")))
    )
    await asyncio.sleep(0.05)
    await qix.engine_version()
    await session.close()
    assert on_session == [
        ("received", "OnConnected"),
        ("sent", "EngineVersion"),
        ("received", 1),
    ]
    assert on_global == [("sent", "EngineVersion"), ("received", 1)]


async def test_api_changed_and_closed_events(engine):
    """changed on a change list, closed (then no listeners) on a close list."""
    async with rxqix.Session(engine.url) as qix:
        doc = await qix.open_doc("a")
        obj = await doc.create_session_object({"qInfo": {"qType": "t"}})
        seen = []
        obj.on("changed", lambda: seen.append("changed"))
        obj.on("closed", lambda: seen.append("closed"))
        as_stream = []
        obj.events("changed").subscribe(as_stream.append)
        await engine.push({"jsonrpc": "2.0", "change": [obj.handle]})
        await engine.push({"jsonrpc": "2.0", "close": [obj.handle]})
        await asyncio.sleep(0.05)
        assert seen == ["changed", "closed"]
        assert as_stream == [()]
        assert obj.listener_count("changed") == 0


async def test_a_failing_listener_is_logged_not_raised(engine, caplog):
    """An exception in a listener goes to the rxqix.events log at ERROR."""
    session = rxqix.Session(engine.url)
    session.on("opened", lambda: 1 / 0)
    await session.open()
    await session.close()
    assert "listener of 'opened' failed" in caplog.text


# -- interceptors ------------------------------------------------------------


async def test_toggle_delta_example_turns_delta_off_for_engine_version(engine):
    """The toggle-delta interceptor sends EngineVersion with delta false, others true."""
    async with rxqix.Session(
        engine.url, request_interceptors=[NoDeltaForEngineVersion()]
    ) as qix:
        await qix.engine_version()
        await qix.get_unique_id()
    sent = {f["method"]: f["delta"] for f in engine.received}
    assert sent == {"EngineVersion": False, "GetUniqueID": True}


@pytest.mark.parametrize(
    ("aborts", "succeeds"), [(0, True), (2, True), (3, True), (4, False)]
)
async def test_retry_aborted_example_retries_three_times(engine, aborts, succeeds):
    """Aborted requests are sent again, at most three more times."""
    engine.script.aborts = aborts
    async with rxqix.Session(engine.url, response_interceptors=[RetryAborted()]) as qix:
        doc = await qix.open_doc("a")
        if succeeds:
            assert await doc.evaluate("Count(flight)") == "336776"
        else:
            with pytest.raises(rxqix.EngineError, match="^Request aborted") as info:
                await doc.evaluate("Count(flight)")
            assert info.value.code == 15
    ids = [f["id"] for f in engine.received if f["method"] == "Evaluate"]
    assert len(ids) == min(aborts, 3) + 1
    assert len(set(ids)) == len(ids)


async def test_response_interceptors_see_unwrapped_values_and_can_replace_them(engine):
    """on_fulfilled gets the out value (a raw reference for objects) and returns the new one."""
    seen = []

    class Spy:
        def on_fulfilled(self, session, request, result):
            seen.append((request.method, result))
            return {"wrapped": result} if request.method == "EngineVersion" else result

    async with rxqix.Session(engine.url, response_interceptors=[Spy()]) as qix:
        assert await qix.engine_version() == {"wrapped": {"qComponentVersion": "1"}}
        doc = await qix.open_doc("a")
        assert doc.type == "Doc"
    assert seen[1] == ("OpenDoc", {"qType": "Doc", "qHandle": 1, "qGenericId": "a"})


async def test_request_interceptor_failure_sends_nothing(engine):
    """A request interceptor that raises fails the call before anything is sent."""

    def boom(session, request):
        raise RuntimeError("no")

    async with rxqix.Session(
        engine.url, request_interceptors=[{"on_fulfilled": boom}]
    ) as qix:
        with pytest.raises(RuntimeError, match="^no$"):
            await qix.engine_version()
    assert engine.received == []


# -- mixins ------------------------------------------------------------------


async def test_mixins_extend_override_and_init(engine):
    """Struct-type extend and override, generic-type extend, init per object."""
    inits = []

    async def create_session_object(api, base, *args, **kwargs):
        obj = await base(*args, **kwargs)
        obj.created_by_mixin = True
        return obj

    mixins = [
        {
            "types": "Global",
            "extend": {"tweet": lambda self: f"hello from {self.type}"},
        },
        {
            "types": ["Doc"],
            "override": {"create_session_object": create_session_object},
        },
        {
            "types": "barchart",
            "extend": {"bars": lambda self: self.handle},
            "init": lambda api, config: inits.append(api.generic_type),
        },
    ]
    async with rxqix.Session(engine.url, mixins=mixins) as qix:
        assert qix.tweet() == "hello from Global"
        doc = await qix.open_doc("a")
        chart = await doc.create_session_object({"qInfo": {"qType": "barchart"}})
        other = await doc.create_session_object({"qInfo": {"qType": "table"}})
        assert chart.created_by_mixin is True
        assert chart.bars() == chart.handle
        assert not hasattr(other, "bars")
    assert inits == ["barchart"]


async def test_overriding_a_missing_method_is_code_minus_9(engine):
    """A struct-type override of nothing fails the call that makes the first object."""
    mixins = [{"types": "Doc", "override": {"no_such_method": lambda api, base: None}}]
    async with rxqix.Session(engine.url, mixins=mixins) as qix:
        with pytest.raises(
            errors.MixinError,
            match="^no function to override. type: Doc function: no_such_method$",
        ) as info:
            await qix.open_doc("a")
        assert info.value.code == errors.SCHEMA_MIXIN_CANT_OVERRIDE_FUNCTION


async def test_extending_an_existing_method_is_code_minus_10(engine):
    """Extending get_layout on GenericObject is refused."""
    mixins = [{"types": "GenericObject", "extend": {"get_layout": lambda self: None}}]
    async with rxqix.Session(engine.url, mixins=mixins) as qix:
        doc = await qix.open_doc("a")
        with pytest.raises(errors.MixinError, match="^extend is not allowed") as info:
            await doc.create_session_object({"qInfo": {"qType": "x"}})
        assert info.value.code == errors.SCHEMA_MIXIN_EXTEND_NOT_ALLOWED


def test_add_listener_is_on():
    """add_listener and remove_listener are the enigma.js names of on and off."""
    session = rxqix.Session("ws://127.0.0.1:1/app/x")
    seen = []
    listener = session.add_listener("opened", lambda: seen.append(1))
    session.emit("opened")
    session.remove_listener("opened", listener)
    session.emit("opened")
    assert seen == [1]


async def test_generated_classes_are_shared_and_mixins_stay_in_their_session(engine):
    """Sessions share generated classes; a struct mixin of one never reaches another."""
    mixins = [{"types": "Global", "extend": {"tweet": lambda self: "hi"}}]
    async with (
        rxqix.Session(engine.url, mixins=mixins) as mixed,
        rxqix.Session(engine.url) as plain,
        rxqix.Session(engine.url) as other,
    ):
        assert mixed.tweet() == "hi"
        assert not hasattr(plain, "tweet")
        assert type(plain) is type(other)
        assert type(mixed) is not type(plain)
        assert isinstance(mixed, type(plain))

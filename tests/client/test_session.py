"""The session over a real socket, against the scripted fake engine."""

from __future__ import annotations

import asyncio
import socket

import pytest

import rxqix
from rxqix import errors
from rxqix.session import SessionState
from rxqix.testing.fake import FakeEngine


def ok(frame, result, **extra):
    return {"jsonrpc": "2.0", "id": frame["id"], "result": result, **extra}


DOC_REF = {"qType": "Doc", "qHandle": 1, "qGenericId": "app"}
OBJ_REF = {
    "qType": "GenericObject",
    "qHandle": 2,
    "qGenericId": "o1",
    "qGenericType": "chart",
}


class App:
    """A tiny scripted app: a doc and one object whose layout counts its fetches."""

    def __init__(self) -> None:
        self.layout_calls = 0
        self.hold: asyncio.Event | None = None

    async def __call__(self, frame):
        method = frame["method"]
        if method == "OpenDoc":
            return ok(frame, {"qReturn": DOC_REF}, change=[1])
        if method == "GetObject":
            return ok(frame, {"qReturn": OBJ_REF})
        if method == "GetLayout":
            self.layout_calls += 1
            if self.hold is not None:
                await self.hold.wait()
            return ok(frame, {"qLayout": {"n": self.layout_calls}})
        if method == "EngineVersion":
            return ok(frame, {"qVersion": {"qComponentVersion": "12.1"}})
        if method == "GetField":
            return ok(frame, {"qReturn": {"qType": None, "qHandle": None}})
        if method == "GetBookmark":
            return ok(frame, {"qReturn": {"qType": "NoSuchStruct", "qHandle": 9}})
        return {
            "jsonrpc": "2.0",
            "id": frame["id"],
            "error": {
                "code": -32601,
                "parameter": method,
                "message": "Method not found",
            },
        }


@pytest.fixture
async def app_engine():
    app = App()
    async with FakeEngine(respond=app) as fake:
        fake.app = app
        yield fake


async def test_state_goes_through_open_and_close(app_engine):
    """created -> opening -> opened -> closing -> closed, on the BehaviorSubject."""
    session = rxqix.Session(app_engine.url)
    seen = []
    session.state.subscribe(seen.append)
    await session.open()
    await session.close()
    assert seen == ["created", "opening", "opened", "closing", "closed"]
    assert seen[-1] is SessionState.CLOSED


async def test_open_returns_the_same_global(app_engine):
    """A second open() gives the same Global API object."""
    session = rxqix.Session(app_engine.url)
    first = await session.open()
    assert await session.open() is first
    assert (first.handle, first.type, first.id, first.generic_type) == (
        -1,
        "Global",
        "Global",
        "Global",
    )
    await session.close()


async def test_calls_send_positional_params_with_delta_on(app_engine):
    """Requests carry the protocol keys, the handle, the params array and an id."""
    async with rxqix.Session(app_engine.url) as qix:
        doc = await qix.open_doc("app")
        assert doc.type == "Doc"
        assert doc.handle == 1
        assert doc.id == "app"
        sent = app_engine.received[-1]
        assert sent == {
            "delta": True,
            "handle": -1,
            "method": "OpenDoc",
            "params": ["app", "", "", "", False],
            "id": 1,
            "jsonrpc": "2.0",
        }


async def test_the_same_handle_gives_the_same_api_object(app_engine):
    """Two lookups answered with one handle give one object."""
    async with rxqix.Session(app_engine.url) as qix:
        doc = await qix.open_doc("app")
        a = await doc.get_object("o1")
        b = await doc.get_object(qId="o1")
        assert a is b
        assert (a.type, a.generic_type, a.id) == ("GenericObject", "chart", "o1")


async def test_engine_errors_raise_engine_error(app_engine):
    """A JSON-RPC error object becomes EngineError with the engine's fields."""
    async with rxqix.Session(app_engine.url) as qix:
        with pytest.raises(
            rxqix.EngineError, match=r"^Method not found \(-32601\) in GetDocList"
        ) as info:
            await qix.get_doc_list()
        assert info.value.code == -32601
        assert info.value.parameter == "GetDocList"


async def test_null_object_reference_raises_object_not_found(app_engine):
    """qType and qHandle null is enigma.js's OBJECT_NOT_FOUND."""
    async with rxqix.Session(app_engine.url) as qix:
        doc = await qix.open_doc("app")
        with pytest.raises(errors.ObjectNotFoundError) as info:
            await doc.get_field("nope")
        assert info.value.code == errors.OBJECT_NOT_FOUND


async def test_unknown_struct_type_raises_schema_error(app_engine):
    """A qType the schema lacks fails the call with code -8."""
    async with rxqix.Session(app_engine.url) as qix:
        doc = await qix.open_doc("app")
        with pytest.raises(
            errors.SchemaError, match="^NoSuchStruct not found$"
        ) as info:
            await doc.get_bookmark("b")
        assert info.value.code == errors.SCHEMA_STRUCT_TYPE_NOT_FOUND


async def test_a_method_missing_from_the_schema_raises(app_engine):
    """With a schema lacking EngineVersion, calling it raises MethodNotFoundError."""
    schema = {
        "structs": {
            "Global": {
                "OpenDoc": {"In": [{"Name": "qDocName", "DefaultValue": ""}], "Out": []}
            }
        }
    }
    async with rxqix.Session(app_engine.url, schema=schema) as qix:
        with pytest.raises(
            errors.MethodNotFoundError,
            match="^Global has no method 'engine_version' in the schema$",
        ):
            await qix.engine_version()
        with pytest.raises(errors.MethodNotFoundError):
            await qix.call("EngineVersion")


@pytest.mark.parametrize(
    ("url", "pattern"),
    [
        ("", r"^url must be a non-empty string"),
        ("http://127.0.0.1:1/app", r"^url scheme must be ws or wss, got 'http'$"),
        ("ws:///app", r"^url has no host"),
        ("ws://127.0.0.1:notaport/app", r"^malformed url"),
        (None, r"^url must be a non-empty string"),
    ],
)
def test_malformed_urls_raise_invalid_url(url, pattern):
    """A bad URL fails at construction with InvalidUrlError naming the field."""
    with pytest.raises(errors.InvalidUrlError, match=pattern) as info:
        rxqix.Session(url)
    assert info.value.code == errors.INVALID_URL
    assert info.value.field == "url"


async def test_refused_connection_raises_connection_failed():
    """Nothing listening: open() fails with ConnectionFailedError and state closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = rxqix.Session(f"ws://127.0.0.1:{port}/app/x")
    with pytest.raises(
        errors.ConnectionFailedError, match="^cannot connect to "
    ) as info:
        await session.open()
    assert info.value.code == errors.NOT_CONNECTED
    assert session.state.value is SessionState.CLOSED


async def test_dropped_connection_fails_pending_calls(app_engine):
    """A socket that drops mid-call fails the call with NotConnectedError; none hang."""
    app_engine.app.hold = asyncio.Event()
    session = rxqix.Session(app_engine.url)
    qix = await session.open()
    doc = await qix.open_doc("app")
    obj = await doc.get_object("o1")
    completed = asyncio.Event()
    obj.changes.subscribe(on_completed=completed.set)
    pending = asyncio.ensure_future(obj.get_layout())
    await asyncio.sleep(0.05)
    await app_engine.drop(1011, "engine went away")
    with pytest.raises(errors.NotConnectedError, match="^socket closed$") as info:
        await asyncio.wait_for(pending, 5)
    assert info.value.original == (1011, "engine went away")
    await asyncio.wait_for(completed.wait(), 5)
    assert session.state.value is SessionState.CLOSED
    with pytest.raises(errors.NotConnectedError, match="^not connected$"):
        await qix.engine_version()
    app_engine.app.hold.set()


async def test_non_json_frame_fails_pending_calls(app_engine):
    """Garbage on the wire fails every pending call with ProtocolError."""
    app_engine.app.hold = asyncio.Event()
    async with rxqix.Session(app_engine.url) as qix:
        doc = await qix.open_doc("app")
        obj = await doc.get_object("o1")
        pending = asyncio.ensure_future(obj.get_layout())
        await asyncio.sleep(0.05)
        await app_engine.push("this is not json")
        with pytest.raises(errors.ProtocolError, match="^frame is not JSON") as info:
            await asyncio.wait_for(pending, 5)
        assert info.value.code == errors.PROTOCOL_ERROR
        app_engine.app.hold.set()
        assert await qix.engine_version() == {"qComponentVersion": "12.1"}


async def test_an_unsolicited_frame_is_never_a_reply(app_engine):
    """A pushed frame with a future id does not answer the call that later gets it."""
    async with rxqix.Session(app_engine.url) as qix:
        await app_engine.push(
            {"jsonrpc": "2.0", "id": 2, "result": {"qVersion": "bogus"}}
        )
        await asyncio.sleep(0.05)
        assert await qix.engine_version() == {"qComponentVersion": "12.1"}


async def test_notifications_are_routed_by_name(app_engine):
    """OnConnected and pushed notifications arrive on session.notification(name)."""
    session = rxqix.Session(app_engine.url)
    connected, other = [], []
    session.notification("OnConnected").subscribe(connected.append)
    session.notifications.subscribe(other.append)
    await session.open()
    await app_engine.push(
        {
            "jsonrpc": "2.0",
            "method": "OnSessionTimedOut",
            "params": {"severity": "fatal"},
        }
    )
    await asyncio.sleep(0.05)
    assert connected == [{"qSessionState": "SESSION_CREATED"}]
    assert [n.method for n in other] == ["OnConnected", "OnSessionTimedOut"]
    await session.close()


async def test_traffic_shows_sent_and_received_frames(app_engine):
    """Every frame passes the traffic stream with its direction."""
    session = rxqix.Session(app_engine.url)
    seen = []
    session.traffic.subscribe(seen.append)
    qix = await session.open()
    await qix.engine_version()
    await session.close()
    directions = [
        (t.direction, t.frame.get("method") or t.frame.get("id")) for t in seen
    ]
    assert directions == [
        ("received", "OnConnected"),
        ("sent", "EngineVersion"),
        ("received", 1),
    ]


async def test_layouts_emit_on_subscribe_and_after_each_change(app_engine):
    """layouts() fetches once, refetches on change, and completes on close."""
    async with rxqix.Session(app_engine.url) as qix:
        doc = await qix.open_doc("app")
        obj = await doc.get_object("o1")
        seen, done = [], asyncio.Event()
        obj.layouts().subscribe(seen.append, on_completed=done.set)
        await asyncio.sleep(0.05)
        await app_engine.push({"jsonrpc": "2.0", "change": [2]})
        await asyncio.sleep(0.05)
        await app_engine.push({"jsonrpc": "2.0", "close": [2]})
        await asyncio.wait_for(done.wait(), 5)
        assert seen == [{"n": 1}, {"n": 2}]
        assert session_api_gone(qix, 2)


def session_api_gone(qix, handle):
    return qix.session.api(handle) is None


async def test_layouts_coalesce_a_storm_of_changes(app_engine):
    """Changes during a GetLayout coalesce into one refetch; subscribers share it."""
    app = app_engine.app
    async with rxqix.Session(app_engine.url) as qix:
        doc = await qix.open_doc("app")
        obj = await doc.get_object("o1")
        app.hold = asyncio.Event()
        first, second = [], []
        obj.layouts().subscribe(first.append)
        obj.layouts().subscribe(second.append)
        await asyncio.sleep(0.05)
        for _ in range(20):
            await app_engine.push({"jsonrpc": "2.0", "change": [2]})
        await asyncio.sleep(0.05)
        app.hold.set()
        await asyncio.sleep(0.1)
        assert app.layout_calls == 2
        assert first == second == [{"n": 2}]


async def test_close_during_open_waits_and_ends_closed(app_engine):
    """A close() while open() runs lets it finish, then closes: no live socket is left."""
    session = rxqix.Session(app_engine.url)
    started = asyncio.Event()
    session.state.subscribe(
        lambda state: state is SessionState.OPENING and started.set()
    )
    opening = asyncio.ensure_future(session.open())
    await started.wait()
    events = []
    session.on("closed", lambda event: events.append("closed"))
    await session.close()
    await opening
    assert session.state.value is SessionState.CLOSED
    assert events == ["closed"]
    await asyncio.sleep(0.05)
    assert app_engine.connections == []


async def test_a_call_knows_its_request_id_before_it_is_sent(app_engine):
    """call.request_id names the request, as enigma.js's promise.requestId."""
    async with rxqix.Session(app_engine.url) as qix:
        call = qix.engine_version()
        request_id = call.request_id
        assert await call == {"qComponentVersion": "12.1"}
        assert app_engine.received[-1]["id"] == request_id
        later = qix.engine_version()
        assert later.request_id == request_id + 1
        await later

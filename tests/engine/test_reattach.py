"""Sessions that outlive their socket: keys, TTL, reattach, sharing, aborts.

A raw websockets client drives the engine so that each frame can be checked;
the last tests run rxqix and its retry example against the same engine.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pandas as pd
import pytest
from raw_client import Client, Connect
from retry_aborted import RetryAborted
from websockets.protocol import State

import rxqix
from rxqix.engine import Engine
from rxqix.engine.apps import AppData
from rxqix.engine.model import DocState
from rxqix.engine.session import Aborts
from rxqix.errors import EngineError

ABORTED = {"code": 15, "parameter": "Failure", "message": "Request aborted"}
LIST = {
    "qInfo": {"qId": "regions", "qType": "region-list"},
    "qListObjectDef": {
        "qDef": {"qFieldDefs": ["region"]},
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 10}],
    },
    "title": "Regions",
}


def shop_app() -> AppData:
    return AppData.from_frames(
        "shop",
        {
            "orders": pd.DataFrame(
                {
                    "region": ["East", "West", "East", "North"],
                    "amount": [10.0, 20.0, 5.0, 7.0],
                }
            )
        },
    )


@pytest.fixture(scope="module")
def app() -> AppData:
    return shop_app()


@pytest.fixture
async def engine(app: AppData) -> AsyncIterator[Engine]:
    async with Engine({"shop": app}) as running:
        yield running


async def build_state(client: Client) -> dict[str, int]:
    """Open the doc, make a list object, select East; return the handles."""
    doc = await client.ref("OpenDoc", -1, ["shop"])
    obj = await client.ref("CreateSessionObject", doc, [LIST])
    field = await client.ref("GetField", doc, ["region"])
    assert (await client.result("Select", field, ["East"]))["qReturn"] is True
    return {"doc": doc, "obj": obj, "field": field}


def selected(layout: dict[str, Any]) -> list[str]:
    matrix = layout["qListObject"]["qDataPages"][0]["qMatrix"]
    return [row[0]["qText"] for row in matrix if row[0]["qState"] == "S"]


# -- TTL and reattach -------------------------------------------------------------


async def test_within_the_ttl_a_new_socket_attaches_with_new_handles(
    engine: Engine,
) -> None:
    url = engine.url_for("shop", ttl=30)
    async with Connect(url) as first:
        assert first.state == "SESSION_CREATED"
        old = await build_state(first)
        props = await first.result("GetProperties", old["obj"])
        await first.result("SetAppProperties", old["doc"], [{"test": True}])
    assert engine.kept_sessions == 1

    async with Connect(url) as second:
        assert second.state == "SESSION_ATTACHED"
        assert engine.kept_sessions == 0
        doc_ref = (await second.result("GetActiveDoc"))["qReturn"]
        assert doc_ref["qGenericId"] == "shop"
        doc = doc_ref["qHandle"]
        obj = await second.ref("GetObject", doc, ["regions"])
        # New handles for the same doc and object (enigma.js checks this).
        assert doc not in old.values()
        assert obj not in old.values()
        assert (await second.result("GetProperties", obj)) == props
        # Selections and app properties were kept with the session.
        layout = (await second.result("GetLayout", obj))["qLayout"]
        assert selected(layout) == ["East"]
        assert (await second.result("GetAppProperties", doc))["qProp"] == {"test": True}
        # The handles of the old socket are gone, fields included.
        reply = await second.send("GetLayout", old["obj"])
        assert reply["error"]["parameter"] == "Invalid handle"
        assert "error" in await second.send("GetCardinal", old["field"])
        field = await second.ref("GetField", doc, ["region"])
        assert field not in old.values()
        # GetObject keeps giving the handle this socket got.
        assert await second.ref("GetObject", doc, ["regions"]) == obj


async def test_a_reattached_socket_starts_a_fresh_delta_cache(engine: Engine) -> None:
    url = engine.url_for("shop", ttl=30)
    async with Connect(url) as first:
        handles = await build_state(first)
        reply = await first.send("GetLayout", handles["obj"], delta=True)
        assert reply["result"]["qLayout"][0]["path"] == "/"
        assert (await first.send("GetLayout", handles["obj"], delta=True))["result"][
            "qLayout"
        ] == []
    async with Connect(url) as second:
        doc = await second.ref("GetActiveDoc")
        obj = await second.ref("GetObject", doc, ["regions"])
        patches = (await second.send("GetLayout", obj, delta=True))["result"]["qLayout"]
        # The client has nothing cached for its new handle: a whole value.
        assert [p["op"] for p in patches] == ["add"]
        assert patches[0]["path"] == "/"


async def test_without_a_ttl_the_session_ends_with_its_socket(engine: Engine) -> None:
    url = engine.url_for("shop")
    async with Connect(url) as first:
        await build_state(first)
    assert engine.kept_sessions == 0
    async with Connect(url) as second:
        assert second.state == "SESSION_CREATED"
        reply = await second.send("GetActiveDoc")
        assert reply["error"] == {
            "code": 1007,
            "parameter": "No active document",
            "message": "App invalid",
        }
        doc = await second.ref("OpenDoc", -1, ["shop"])
        assert doc == 1
        reply = await second.send("GetObject", doc, ["regions"])
        assert reply["result"]["qReturn"] == {"qType": None, "qHandle": None}


async def test_the_ttl_runs_out(app: AppData) -> None:
    async with Engine({"shop": app}) as engine:
        url = engine.url_for("shop", ttl=1)
        async with Connect(url) as first:
            await build_state(first)
        assert engine.kept_sessions == 1
        await asyncio.sleep(1.3)
        assert engine.kept_sessions == 0
        async with Connect(url) as second:
            assert second.state == "SESSION_CREATED"
            assert "error" in await second.send("GetActiveDoc")


async def test_the_ttl_is_capped(app: AppData) -> None:
    async with Engine({"shop": app}, max_session_ttl=1) as engine:
        async with Connect(engine.url_for("shop", ttl=600)) as first:
            await build_state(first)
        await asyncio.sleep(1.3)
        assert engine.kept_sessions == 0


async def test_the_engine_default_ttl_applies_without_a_segment(app: AppData) -> None:
    async with Engine({"shop": app}, session_ttl=30) as engine:
        async with Connect(engine.url_for("shop")) as first:
            await build_state(first)
        async with Connect(engine.url_for("shop")) as second:
            assert second.state == "SESSION_ATTACHED"
        # A ttl of 0 in the URL turns keeping off for this session.
        async with Connect(engine.url_for("shop", ttl=0)) as third:
            assert third.state == "SESSION_ATTACHED"
        assert engine.kept_sessions == 0


async def test_the_most_recent_ttl_wins(engine: Engine) -> None:
    async with Connect(engine.url_for("shop", identity="a", ttl=30)) as first:
        await build_state(first)
    # No ttl segment: the session keeps the ttl it had.
    async with Connect(engine.url_for("shop", identity="a")) as second:
        assert second.state == "SESSION_ATTACHED"
    assert engine.kept_sessions == 1
    async with Connect(engine.url_for("shop", identity="a", ttl=0)) as third:
        assert third.state == "SESSION_ATTACHED"
    assert engine.kept_sessions == 0


async def test_sessions_are_keyed_by_doc_and_identity(engine: Engine) -> None:
    async with Connect(engine.url_for("shop", identity="alice", ttl=30)) as alice:
        await build_state(alice)
    async with Connect(engine.url_for("shop", identity="bob", ttl=30)) as bob:
        assert bob.state == "SESSION_CREATED"
    async with Connect(engine.url_for("other", identity="alice", ttl=30)) as other:
        assert other.state == "SESSION_CREATED"
    async with Connect(engine.url_for("shop", identity="alice", ttl=30)) as again:
        assert again.state == "SESSION_ATTACHED"
        doc = await again.ref("GetActiveDoc")
        layout = (
            await again.result(
                "GetLayout", await again.ref("GetObject", doc, ["regions"])
            )
        )["qLayout"]
        assert selected(layout) == ["East"]


async def test_one_session_is_kept_per_key(engine: Engine) -> None:
    url = engine.url_for("shop", ttl=30)
    async with Connect(url) as first:
        await build_state(first)
        async with Connect(url) as second:
            # Not shared: two sessions, the second without the object.
            assert second.state == "SESSION_CREATED"
            await second.ref("OpenDoc", -1, ["shop"])
        assert engine.kept_sessions == 1
    # The first closed last and replaced the second.
    assert engine.kept_sessions == 1
    async with Connect(url) as third:
        assert third.state == "SESSION_ATTACHED"
        doc = await third.ref("GetActiveDoc")
        assert await third.ref("GetObject", doc, ["regions"])


async def test_kept_objects_can_be_destroyed_before_being_looked_up(
    engine: Engine,
) -> None:
    url = engine.url_for("shop", ttl=30)
    async with Connect(url) as first:
        await build_state(first)
    async with Connect(url) as second:
        doc = await second.ref("GetActiveDoc")
        reply = await second.send("DestroySessionObject", doc, ["regions"])
        assert reply["result"] == {"qSuccess": True}
        # There was no handle for this socket to close.
        assert "close" not in reply
        reply = await second.send("GetObject", doc, ["regions"])
        assert reply["result"]["qReturn"]["qHandle"] is None


async def test_open_doc_on_an_attached_session_gives_the_kept_doc(
    engine: Engine,
) -> None:
    url = engine.url_for("shop", ttl=30)
    async with Connect(url) as first:
        old = await build_state(first)
    async with Connect(url) as second:
        doc = (await second.result("OpenDoc", -1, ["shop"]))["qReturn"]
        assert doc["qHandle"] not in old.values()
        assert (await second.result("GetActiveDoc"))["qReturn"] == doc
        obj = await second.ref("GetObject", doc["qHandle"], ["regions"])
        layout = (await second.result("GetLayout", obj))["qLayout"]
        assert selected(layout) == ["East"]


async def test_stopping_the_engine_ends_kept_sessions(app: AppData) -> None:
    engine = Engine({"shop": app})
    await engine.start()
    async with Connect(engine.url_for("shop", ttl=30)) as first:
        await build_state(first)
    assert engine.kept_sessions == 1
    await engine.stop()
    assert engine.kept_sessions == 0
    assert engine.catalog.doc_list()[0]["qConnectedUsers"] == 0


async def test_a_socket_arriving_before_the_old_one_is_seen_gone_still_attaches(
    engine: Engine,
) -> None:
    """A client reconnecting within the TTL may beat the server to the old close."""
    url = engine.url_for("shop", ttl=30)
    async with Connect(url) as first:
        old = await build_state(first)
        # The old socket is closing (its close frame is out) but its handler
        # has not finished yet.
        [old_socket] = [
            ws for group in engine._live.values() for h in group for ws in h.sockets
        ]
        old_socket.protocol.state = State.CLOSING
        async with Connect(url) as second:
            assert second.state == "SESSION_ATTACHED"
            doc = await second.ref("GetActiveDoc")
            obj = await second.ref("GetObject", doc, ["regions"])
            assert obj not in old.values()
            old_socket.protocol.state = State.OPEN
    # Both gone: the session is kept once, not twice nor ended.
    assert (engine.live_sessions, engine.kept_sessions) == (0, 1)


# -- concurrent sockets -------------------------------------------------------------


async def test_by_default_concurrent_sockets_have_their_own_sessions(
    engine: Engine,
) -> None:
    url = engine.url_for("shop", identity="same")
    async with Connect(url) as first, Connect(url) as second:
        assert (first.state, second.state) == ("SESSION_CREATED", "SESSION_CREATED")
        await build_state(first)
        doc = await second.ref("OpenDoc", -1, ["shop"])
        obj = await second.ref("CreateSessionObject", doc, [LIST])
        assert selected((await second.result("GetLayout", obj))["qLayout"]) == []
        assert first.pushed == []
        assert second.pushed == []
        assert engine.live_sessions == 2


async def test_shared_sessions_share_state_and_push_changes(app: AppData) -> None:
    async with Engine({"shop": app}, share_sessions=True) as engine:
        url = engine.url_for("shop")
        async with Connect(url) as first, Connect(url) as second:
            assert (first.state, second.state) == (
                "SESSION_CREATED",
                "SESSION_ATTACHED",
            )
            assert engine.live_sessions == 1
            doc = await first.ref("OpenDoc", -1, ["shop"])
            obj = await first.ref("CreateSessionObject", doc, [LIST])
            # What the replies to the first socket listed in change is pushed
            # to the other one.
            assert await second.next_push() == {"jsonrpc": "2.0", "change": [doc]}
            assert await second.next_push() == {"jsonrpc": "2.0", "change": [obj]}
            # Handles are session-wide.
            assert await second.ref("GetActiveDoc") == doc
            assert await second.ref("GetObject", doc, ["regions"]) == obj
            # Each socket has its own delta cache.
            for client in (first, second):
                patches = (await client.send("GetLayout", obj, delta=True))["result"]
                assert patches["qLayout"][0]["path"] == "/"

            field = await second.ref("GetField", doc, ["region"])
            await second.result("Select", field, ["West"])
            assert await first.next_push() == {
                "jsonrpc": "2.0",
                "change": sorted([doc, obj]),
            }
            layout = (await first.result("GetLayout", obj))["qLayout"]
            assert selected(layout) == ["West"]

            await first.result("DestroySessionObject", doc, ["regions"])
            assert await second.next_push() == {"jsonrpc": "2.0", "close": [obj]}
            assert "error" in await second.send("GetLayout", obj)
        # Both sockets gone and no ttl: the session ended.
        assert (engine.live_sessions, engine.kept_sessions) == (0, 0)


async def test_shared_sessions_answer_one_request_at_a_time(app: AppData) -> None:
    gate = threading.Event()

    class Gated(DocState):
        def evaluate(self, expr: str, state: str) -> Mapping[str, Any]:
            if expr == "wait":
                gate.wait(10)
            return super().evaluate(expr, state)

    async with Engine(
        {"shop": app}, doc_state_factory=Gated, share_sessions=True
    ) as engine:
        url = engine.url_for("shop")
        async with Connect(url) as first, Connect(url) as second:
            doc = await first.ref("OpenDoc", -1, ["shop"])
            slow = asyncio.ensure_future(first.send("Evaluate", doc, ["wait"]))
            await asyncio.sleep(0.05)
            # A light request of the other socket would run on the event loop
            # while the compute thread works; it waits its turn instead.
            quick = asyncio.ensure_future(
                second.send("CreateSessionObject", doc, [LIST])
            )
            await asyncio.sleep(0.1)
            assert not quick.done()
            gate.set()
            assert "result" in await asyncio.wait_for(slow, 5)
            assert "result" in await asyncio.wait_for(quick, 5)


# -- aborted requests on demand ---------------------------------------------------


async def test_armed_methods_are_aborted_then_answered(app: AppData) -> None:
    async with Engine({"shop": app}, aborts={"Evaluate": 2}) as engine:
        async with Connect(engine.url_for("shop")) as client:
            doc = await client.ref("OpenDoc", -1, ["shop"])
            for _ in range(2):
                assert (await client.send("Evaluate", doc, ["Sum(amount)"]))[
                    "error"
                ] == ABORTED
            assert (await client.result("Evaluate", doc, ["Sum(amount)"]))[
                "qReturn"
            ] == "42"
            assert engine.aborts.pending("Evaluate") == 0

            # Armed later, by qualified name; other methods are untouched.
            engine.abort_next("Field.Select")
            field = await client.ref("GetField", doc, ["region"])
            reply = await client.send("Select", field, ["East"])
            assert reply["error"] == ABORTED
            # An aborted selection changed nothing.
            assert "change" not in reply
            assert (await client.result("Evaluate", doc, ["Sum(amount)"]))[
                "qReturn"
            ] == "42"
            assert (await client.result("Select", field, ["East"]))["qReturn"] is True


async def test_a_bad_request_is_refused_before_it_could_be_aborted(
    app: AppData,
) -> None:
    async with Engine({"shop": app}, aborts={"Evaluate": 1}) as engine:
        async with Connect(engine.url_for("shop")) as client:
            reply = await client.send("Evaluate", 99, ["1"])
            assert reply["error"]["parameter"] == "Invalid handle"
            assert engine.aborts.pending("Evaluate") == 1


def test_abort_counts_add_up_and_must_not_be_negative() -> None:
    aborts = Aborts({"Evaluate": 1})
    aborts.arm("Evaluate", 2)
    assert aborts.pending("Evaluate") == 3
    assert aborts.take("Doc", "Evaluate")
    assert not aborts.take("Doc", "GetLayout")
    assert aborts.pending("Evaluate") == 2
    with pytest.raises(ValueError, match="negative"):
        aborts.arm("Evaluate", -1)


async def test_the_retry_example_gets_past_aborted_evaluations(app: AppData) -> None:
    """examples/retry_aborted.py against the engine: two aborts, then the value."""
    async with Engine({"shop": app}, aborts={"Evaluate": 2}) as engine:
        session = rxqix.Session(
            engine.url_for("shop"), response_interceptors=[RetryAborted()]
        )
        sent: list[str] = []
        session.on("traffic:sent", lambda frame: sent.append(frame["method"]))
        async with session as qix:
            doc = await qix.open_doc("shop")
            assert await doc.evaluate("Sum(amount)") == "42"
        assert sent.count("Evaluate") == 3


async def test_the_retry_example_gives_up_after_three_retries(app: AppData) -> None:
    async with Engine({"shop": app}, aborts={"Evaluate": 5}) as engine:
        session = rxqix.Session(
            engine.url_for("shop"), response_interceptors=[RetryAborted()]
        )
        async with session as qix:
            doc = await qix.open_doc("shop")
            with pytest.raises(EngineError) as info:
                await doc.evaluate("Sum(amount)")
            assert (info.value.code, info.value.parameter) == (15, "Failure")
            # One try and three retries used four of the five aborts.
            assert engine.aborts.pending("Evaluate") == 1


# -- rxqix's suspend and resume against the engine ------------------------------------


async def test_rxqix_resumes_attached_with_a_ttl(engine: Engine) -> None:
    session = rxqix.Session(engine.url_for("shop", identity="rx", ttl=30))
    states: list[Any] = []
    session.on("notification:OnConnected", states.append)
    qix = await session.open()
    doc = await qix.open_doc("shop")
    obj = await doc.create_session_object(LIST)
    field = await doc.get_field("region")
    await field.select("East")
    props = await obj.get_properties()
    old_handle = obj.handle
    await session.suspend()
    await session.resume(only_if_attached=True)
    assert [s["qSessionState"] for s in states] == [
        "SESSION_CREATED",
        "SESSION_ATTACHED",
    ]
    assert obj.handle != old_handle
    assert await obj.get_properties() == props
    assert selected(await obj.get_layout()) == ["East"]
    await session.close()


async def test_rxqix_resumes_created_without_a_ttl(engine: Engine) -> None:
    session = rxqix.Session(engine.url_for("shop", identity="rx"))
    qix = await session.open()
    doc = await qix.open_doc("shop")
    await doc.set_app_properties({"test": True})
    obj = await doc.create_session_object(LIST)
    closed: list[str] = []
    obj.on("closed", lambda: closed.append("obj"))
    await session.suspend()
    with pytest.raises(rxqix.errors.SessionNotAttachedError):
        await session.resume(only_if_attached=True)
    await session.resume()
    # The doc was opened again; the session object is gone with the session,
    # while unsaved app properties belong to the app and are still there.
    assert closed == ["obj"]
    assert (await doc.get_app_properties())["test"] is True
    await session.close()

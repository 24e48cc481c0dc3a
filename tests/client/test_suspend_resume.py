"""Suspend and resume against a scripted engine that keeps or loses the session."""

from __future__ import annotations

import asyncio

import pytest

import rxqix
from rxqix import errors
from rxqix.session import SessionState
from rxqix.testing.fake import FakeEngine


def ok(frame, result):
    return {"jsonrpc": "2.0", "id": frame["id"], "result": result}


class Reattaching:
    """Each connection gets new handles; objects in ``known`` can be found again."""

    def __init__(self) -> None:
        self.connection = 0
        self.known = {"o1"}
        self.doc_open = False
        self.hold: asyncio.Event | None = None
        self.active_doc_fails = False

    def handles(self):
        base = 10 * self.connection
        return {"doc": base + 1, "o1": base + 2}

    async def __call__(self, frame):
        method, handles = frame["method"], self.handles()
        if method == "OpenDoc":
            return ok(
                frame,
                {
                    "qReturn": {
                        "qType": "Doc",
                        "qHandle": handles["doc"],
                        "qGenericId": "a",
                    }
                },
            )
        if method == "GetActiveDoc":
            if self.active_doc_fails:
                error = {
                    "code": 1007,
                    "parameter": "No active document",
                    "message": "App invalid",
                }
                return {"jsonrpc": "2.0", "id": frame["id"], "error": error}
            return ok(
                frame,
                {
                    "qReturn": {
                        "qType": "Doc",
                        "qHandle": handles["doc"],
                        "qGenericId": "a",
                    }
                },
            )
        if method == "GetObject":
            object_id = frame["params"][0]
            if object_id not in self.known:
                return ok(frame, {"qReturn": {"qType": None, "qHandle": None}})
            ref = {
                "qType": "GenericObject",
                "qHandle": handles["o1"],
                "qGenericId": object_id,
                "qGenericType": "t",
            }
            return ok(frame, {"qReturn": ref})
        if method == "GetField":
            return ok(frame, {"qReturn": {"qType": "Field", "qHandle": 99}})
        if method == "GetLayout":
            if self.hold is not None:
                await self.hold.wait()
            return ok(frame, {"qLayout": {"handle": frame["handle"]}})
        return ok(frame, {})


@pytest.fixture
async def engine():
    script = Reattaching()
    fake = FakeEngine(respond=script)

    original = fake._handle

    async def handle(connection):
        script.connection += 1
        fake.greet = {
            "jsonrpc": "2.0",
            "method": "OnConnected",
            "params": {
                "qSessionState": "SESSION_CREATED"
                if script.connection == 1
                else script.next_state
            },
        }
        await original(connection)

    script.next_state = "SESSION_ATTACHED"
    fake._handle = handle
    async with fake:
        fake.script = script
        yield fake


async def open_with_objects(url, **options):
    session = rxqix.Session(url, **options)
    qix = await session.open()
    doc = await qix.open_doc("a")
    obj = await doc.get_object("o1")
    field = await doc.get_field("f")
    return session, qix, doc, obj, field


async def test_suspend_fails_pending_and_refuses_new_calls(engine):
    """Pending calls fail with NOT_CONNECTED; new ones with SESSION_SUSPENDED."""
    session, qix, doc, obj, _ = await open_with_objects(engine.url)
    engine.script.hold = asyncio.Event()
    events = []
    session.on("suspended", events.append)
    pending = asyncio.ensure_future(obj.get_layout())
    await asyncio.sleep(0.05)
    await session.suspend()
    with pytest.raises(errors.NotConnectedError, match="^socket closed$"):
        await asyncio.wait_for(pending, 5)
    with pytest.raises(
        errors.SessionSuspendedError, match="^session suspended$"
    ) as info:
        await obj.get_layout()
    assert info.value.code == errors.SESSION_SUSPENDED
    assert events == [{"initiator": "manual", "code": 4000, "reason": ""}]
    assert session.state.value is SessionState.SUSPENDED
    engine.script.hold.set()
    await session.close()


async def test_resume_attached_keeps_objects_with_new_handles(engine):
    """SESSION_ATTACHED: doc and objects come back, get changed; Field is closed."""
    session, qix, doc, obj, field = await open_with_objects(engine.url)
    seen = []
    obj.on("changed", lambda: seen.append("obj changed"))
    doc.on("changed", lambda: seen.append("doc changed"))
    field.on("closed", lambda: seen.append("field closed"))
    qix.on("changed", lambda: seen.append("global changed"))
    session.on("resumed", lambda: seen.append("resumed"))
    old_handle = obj.handle
    await session.suspend()
    await session.resume()
    assert session.state.value is SessionState.OPENED
    assert obj.handle != old_handle
    assert session.api(obj.handle) is obj
    assert seen == ["field closed", "doc changed", "obj changed", "resumed"]
    assert await obj.get_layout() == {"handle": obj.handle}
    await session.close()


async def test_resume_created_reopens_the_doc_and_closes_what_is_gone(engine):
    """SESSION_CREATED: OpenDoc is sent again; a vanished object gets closed."""
    engine.script.next_state = "SESSION_CREATED"
    engine.script.active_doc_fails = True
    session, qix, doc, obj, _ = await open_with_objects(engine.url)
    closed = []
    obj.on("closed", lambda: closed.append(obj.id))
    engine.script.known = set()
    await session.suspend()
    await session.resume()
    methods = [f["method"] for f in engine.received]
    assert methods == [
        "OpenDoc",
        "GetObject",
        "GetField",
        "GetActiveDoc",
        "OpenDoc",
        "GetObject",
    ]
    assert engine.received[4]["params"] == engine.received[0]["params"]
    assert closed == ["o1"]
    assert doc.handle == 21
    await session.close()


async def test_resume_only_if_attached_fails_on_a_new_session_and_stays_suspended(
    engine,
):
    """only_if_attached with SESSION_CREATED is SESSION_NOT_ATTACHED; a plain resume then works."""
    engine.script.next_state = "SESSION_CREATED"
    session, qix, doc, obj, _ = await open_with_objects(engine.url)
    await session.suspend()
    with pytest.raises(errors.SessionNotAttachedError, match="^not attached$") as info:
        await session.resume(only_if_attached=True)
    assert info.value.code == errors.SESSION_NOT_ATTACHED
    assert session.state.value is SessionState.SUSPENDED
    await session.resume()
    assert session.state.value is SessionState.OPENED
    await session.close()


async def test_suspend_on_close_turns_a_lost_socket_into_suspended(engine):
    """With suspend_on_close, a drop emits suspended (network) and no closed."""
    session, *_ = await open_with_objects(engine.url, suspend_on_close=True)
    events = []
    session.on("suspended", events.append)
    session.on("closed", lambda e: events.append("closed"))
    await engine.drop(4029, "gone")
    await asyncio.sleep(0.1)
    assert events == [{"initiator": "network", "code": 4029, "reason": "gone"}]
    assert session.state.value is SessionState.SUSPENDED
    await session.resume()
    assert session.state.value is SessionState.OPENED
    await session.close()


async def test_without_suspend_on_close_a_lost_socket_closes_once(engine):
    """Without suspend_on_close, a drop emits closed once and closes every API."""
    session, qix, doc, obj, _ = await open_with_objects(engine.url)
    events = []
    session.on("suspended", events.append)
    session.on("closed", lambda e: events.append(("closed", e.code)))
    obj.on("closed", lambda: events.append("obj closed"))
    await engine.drop(4029, "gone")
    await asyncio.sleep(0.1)
    assert events == ["obj closed", ("closed", 4029)]
    await session.close()
    assert events == ["obj closed", ("closed", 4029)]


async def test_resume_when_open_does_nothing_and_when_closed_fails(engine):
    """resume() on an open session is a no-op; on a closed one it raises."""
    session = rxqix.Session(engine.url)
    await session.open()
    await session.resume()
    await session.close()
    with pytest.raises(
        errors.NotConnectedError, match="^cannot resume a session that is closed$"
    ):
        await session.resume()


async def test_a_closed_session_can_be_opened_again(engine):
    """open() after close() opens a new socket and a working Global."""
    session = rxqix.Session(engine.url)
    first = await session.open()
    await session.close()
    second = await session.open()
    assert second is not first
    assert (await second.open_doc("a")).type == "Doc"
    await session.close()


async def test_resume_fails_and_stays_suspended_when_the_socket_dies(engine):
    """A socket lost while restoring fails resume(); no object is closed."""
    session, qix, doc, obj, _ = await open_with_objects(engine.url)
    closed = []
    doc.on("closed", lambda: closed.append("doc"))
    await session.suspend()
    script = engine.script
    original = script.__call__

    async def drop_on_active_doc(frame):
        if frame["method"] == "GetActiveDoc":
            asyncio.get_running_loop().call_later(
                0.05, lambda: asyncio.ensure_future(engine.drop(1011, "gone"))
            )
            return None
        return await original(frame)

    engine.respond = drop_on_active_doc
    with pytest.raises(errors.NotConnectedError):
        await session.resume()
    assert session.state.value is SessionState.SUSPENDED
    assert closed == []
    engine.respond = original
    await session.resume()
    assert session.state.value is SessionState.OPENED
    await session.close()

"""Regression tests for problems a hostile trial found."""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess

import pandas as pd
import pytest

import rxqix
from rxqix import errors
from rxqix.testing.fake import FakeEngine

REPLIES = {"EngineVersion": {"qVersion": {"qComponentVersion": "12.1"}}}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, cert


async def test_wss_uses_a_verifying_default_context(certificate):
    """wss:// without ssl= verifies the certificate (and fails on a self-signed one)."""
    server, _ = certificate
    async with FakeEngine(REPLIES, ssl=server) as fake:
        assert fake.url.startswith("wss://")
        with pytest.raises(
            errors.ConnectionFailedError, match="CERTIFICATE_VERIFY_FAILED"
        ):
            await rxqix.Session(fake.url).open()


async def test_wss_with_a_trusting_context_works(certificate):
    """ssl= takes a context that trusts the engine's certificate."""
    server, cert = certificate
    client = ssl.create_default_context(cafile=str(cert))
    async with FakeEngine(REPLIES, ssl=server) as fake:
        async with rxqix.Session(fake.url, ssl=client) as qix:
            assert await qix.engine_version() == {"qComponentVersion": "12.1"}


def ok(frame, result, **extra):
    return {"jsonrpc": "2.0", "id": frame["id"], "result": result, **extra}


class Slow:
    """An object whose layout counts fetches; GetLayout can be held."""

    def __init__(self) -> None:
        self.calls = 0
        self.hold: asyncio.Event | None = None

    async def __call__(self, frame):
        method = frame["method"]
        if method == "OpenDoc":
            return ok(
                frame, {"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "a"}}
            )
        if method == "GetObject":
            return ok(
                frame,
                {
                    "qReturn": {
                        "qType": "GenericObject",
                        "qHandle": 2,
                        "qGenericId": "o",
                    }
                },
            )
        if method == "GetLayout":
            self.calls += 1
            n = self.calls
            if self.hold is not None:
                await self.hold.wait()
            return ok(frame, {"qLayout": {"n": n}})
        return ok(frame, {})


@pytest.fixture
async def slow():
    app = Slow()
    async with FakeEngine(respond=app) as fake:
        fake.app = app
        yield fake


async def test_a_late_subscriber_after_a_change_waits_for_the_fresh_layout(slow):
    """After a change, a new subscriber gets the refetched layout, not the stale one."""
    async with rxqix.Session(slow.url) as qix:
        obj = await (await qix.open_doc("a")).get_object("o")
        seen = []
        got = asyncio.Event()
        keep = obj.layouts().subscribe(lambda layout: (seen.append(layout), got.set()))
        await asyncio.wait_for(got.wait(), 5)
        assert seen == [{"n": 1}]
        slow.app.hold = asyncio.Event()
        await slow.push({"jsonrpc": "2.0", "change": [2]})
        for _ in range(500):  # until the change is in and the refetch is held
            if slow.app.calls >= 2:
                break
            await asyncio.sleep(0.01)
        late = asyncio.ensure_future(rxqix.first(obj.layouts()))
        await asyncio.sleep(0.05)
        assert not late.done()
        slow.app.hold.set()
        assert await asyncio.wait_for(late, 5) == {"n": 2}
        assert seen == [{"n": 1}, {"n": 2}]
        keep.dispose()


async def test_closing_during_a_refetch_completes_the_layouts(slow):
    """A session closed while a GetLayout is in flight completes layouts(), no error."""
    session = rxqix.Session(slow.url)
    qix = await session.open()
    obj = await (await qix.open_doc("a")).get_object("o")
    events = []
    done = asyncio.Event()
    obj.layouts().subscribe(
        lambda layout: events.append("layout"),
        lambda error: (events.append(f"error {error!r}"), done.set()),
        lambda: (events.append("completed"), done.set()),
    )
    await asyncio.sleep(0.05)
    slow.app.hold = asyncio.Event()
    await slow.push({"jsonrpc": "2.0", "change": [2]})
    await asyncio.sleep(0.05)
    await session.close()
    await asyncio.wait_for(done.wait(), 5)
    assert events == ["layout", "completed"]
    slow.app.hold.set()


async def test_a_closed_object_refuses_calls(slow):
    """After the engine closes a handle, its API object raises ObjectClosedError."""
    async with rxqix.Session(slow.url) as qix:
        obj = await (await qix.open_doc("a")).get_object("o")
        await slow.push({"jsonrpc": "2.0", "close": [2]})
        await asyncio.sleep(0.05)
        with pytest.raises(errors.ObjectClosedError, match="is closed") as info:
            obj.get_layout()
        assert info.value.code == errors.NOT_CONNECTED


async def test_a_reply_nobody_waits_for_is_logged(slow, caplog):
    """A reply whose id is not pending is dropped with a warning, never taken as a reply."""
    async with rxqix.Session(slow.url) as qix:
        await slow.push({"jsonrpc": "2.0", "id": 999, "result": {}})
        await asyncio.sleep(0.05)
        assert await qix.engine_version() == {}
    assert "a reply with id 999 answers no pending request" in caplog.text


def test_a_field_given_in_both_spellings_is_refused():
    """createSocket and create_socket together are a configuration error."""
    with pytest.raises(errors.ConfigurationError, match="given twice") as info:
        rxqix.create(
            {"url": "ws://h/app", "createSocket": print, "create_socket": print}
        )
    assert info.value.field == "create_socket"


def test_logger_must_be_a_logger():
    """logger= takes a logging.Logger."""
    with pytest.raises(errors.ConfigurationError) as info:
        rxqix.Session("ws://h/app", logger="rxqix")
    assert info.value.field == "logger"
    assert (
        rxqix.Session("ws://h/app", logger=logging.getLogger("x")).url == "ws://h/app"
    )


async def test_csv_missing_values_stay_numeric(tmp_path):
    """Empty, NA and N/A cells are missing values: the column stays numeric, like pandas."""
    from rxqix.engine import Engine
    from rxqix.engine.model import AppData

    path = tmp_path / "t.csv"
    path.write_text("k,v\na,5\nb,\nc,N/A\nd,7\ne,NA\n")
    expected = pd.read_csv(path)["v"]
    app = AppData.from_files("t", [path])
    async with Engine({"t": app}) as engine, rxqix.Session(engine.url_for("t")) as qix:
        doc = await qix.open_doc("t")
        assert float(await doc.evaluate("Sum(v)")) == expected.sum()
        assert float(await doc.evaluate("Count(v)")) == expected.count()
        assert float(await doc.evaluate("Avg(v)")) == expected.mean()

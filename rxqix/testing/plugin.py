"""The rxqix pytest plugin (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rxqix.testing.fake import FakeEngine


@pytest.fixture
async def fake_engine() -> AsyncIterator[FakeEngine]:
    """A scripted fake engine on 127.0.0.1; set ``replies`` or ``respond`` on it."""
    async with FakeEngine() as engine:
        yield engine

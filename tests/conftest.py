"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

PEERS = Path(__file__).resolve().parent / "peers"
ENIGMA_PACKAGE = PEERS / "node_modules" / "enigma.js"


@pytest.fixture(scope="session")
def enigma_package() -> Path:
    """The enigma.js package of the peer tests (``npm ci`` in tests/peers)."""
    if not (ENIGMA_PACKAGE / "package.json").exists():
        pytest.fail(
            "enigma.js is not installed: run `npm ci --prefix tests/peers` "
            "(the README's test command does it)"
        )
    return ENIGMA_PACKAGE

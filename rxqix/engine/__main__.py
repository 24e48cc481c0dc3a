"""``python -m rxqix.engine [--host H] [--port P] [FILES...]``: run the engine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from rxqix.engine.server import DEFAULT_HOST, DEFAULT_PORT, serve_forever


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m rxqix.engine", description="Run the local QIX engine."
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("files", nargs="*", help="CSV/Parquet files forming one app")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(args.host, args.port, args.files))


if __name__ == "__main__":
    main()

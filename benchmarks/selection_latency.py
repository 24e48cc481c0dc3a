"""Selection-to-fresh-layout time on the full flights table.

Starts the local engine in its own process (``rxqix serve``), then times, for a
cycle of selections, the span from sending the selection to the moment the live
per-carrier layout has re-emitted. The same cycle runs once more over bare
websockets (select, then GetLayout, no library) as the floor a client can reach
on this engine, so the ratio shows what rxqix itself costs.

    python benchmarks/selection_latency.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import websockets

import rxqix
from rxqix.cli import CARRIER_CUBE

SELECTIONS: list[tuple[str, str]] = [
    ("origin", "JFK"),
    ("origin", "LGA"),
    ("month", "7"),
    ("airline", "Delta Air Lines Inc."),
    ("dest", "LAX"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_engine(url: str, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            async with websockets.connect(url):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def rxqix_round(url: str, rounds: int) -> list[float]:
    times: list[float] = []
    async with rxqix.Session(url) as qix:
        doc = await qix.open_doc("nycflights13")
        cube = await doc.create_session_object(CARRIER_CUBE)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cube.layouts().subscribe(queue.put_nowait, queue.put_nowait)
        await queue.get()
        fields = {name: await doc.get_field(name) for name, _ in SELECTIONS}
        for _ in range(rounds):
            for name, value in SELECTIONS:
                started = time.perf_counter()
                await fields[name].select(value)
                await queue.get()
                times.append((time.perf_counter() - started) * 1000)
                await doc.clear_all()  # back to all flights: a new layout too
                await queue.get()
    return times


async def bare_round(url: str, rounds: int) -> list[float]:
    times: list[float] = []
    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()
        ids = iter(range(1, 10**9))

        async def call(handle: int, method: str, params: list[Any]) -> Any:
            request_id = next(ids)
            await ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "handle": handle,
                        "method": method,
                        "params": params,
                    }
                )
            )
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("id") == request_id:
                    return frame["result"]

        doc = (await call(-1, "OpenDoc", ["nycflights13"]))["qReturn"]["qHandle"]
        cube = (await call(doc, "CreateSessionObject", [CARRIER_CUBE]))["qReturn"][
            "qHandle"
        ]
        await call(cube, "GetLayout", [])
        fields = {}
        for name, _ in SELECTIONS:
            fields[name] = (await call(doc, "GetField", [name]))["qReturn"]["qHandle"]
        for _ in range(rounds):
            for name, value in SELECTIONS:
                await call(doc, "ClearAll", [])
                await call(cube, "GetLayout", [])
                started = time.perf_counter()
                await call(fields[name], "Select", [value])
                await call(cube, "GetLayout", [])
                times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    median = statistics.median(times)
    return f"median {median:6.1f} ms  p95 {p95:6.1f} ms  (n={len(times)})"


async def measure(url: str, rounds: int) -> tuple[list[float], list[float]]:
    await wait_for_engine(url)
    await rxqix_round(url, 1)  # warm the engine's caches and the app load
    bare = await bare_round(url, rounds)
    live = await rxqix_round(url, rounds)
    return live, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    port = free_port()
    engine = subprocess.Popen(
        [sys.executable, "-m", "rxqix", "serve", "--port", str(port)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = f"ws://127.0.0.1:{port}/app/nycflights13"
        live, bare = asyncio.run(measure(url, args.rounds))
    finally:
        engine.terminate()
        engine.wait(10)

    ratio = statistics.median(live) / statistics.median(bare)
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"rxqix {rxqix.__version__}"
    )
    print("selection to fresh per-carrier layout, 336,776 flights:")
    print(f"  rxqix live layouts   {summary(live)}")
    print(f"  bare websockets      {summary(bare)}")
    print(f"  ratio (median)       {ratio:.2f}x")


if __name__ == "__main__":
    main()

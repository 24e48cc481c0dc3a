"""The floor: bare websockets and json, no library.

What any Python client on asyncio pays at least: encode a frame, send it,
receive the reply, decode it, match its id. Run by the runner with a job on
stdin; see ``worker.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import websockets
from worker import Job, Result, memory_result, ms_since, rss_bytes, serve


class Bare:
    """One socket, sequential calls; frames without the awaited id are dropped."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.next_id = 0

    @classmethod
    async def connect(cls, url: str) -> Bare:
        socket = await websockets.connect(url, max_size=None, compression=None)
        await socket.recv()  # OnConnected
        return cls(socket)

    async def call(self, handle: int, method: str, params: Any) -> Any:
        self.next_id += 1
        request_id = self.next_id
        frame = {
            "jsonrpc": "2.0",
            "id": request_id,
            "handle": handle,
            "method": method,
            "params": params,
        }
        await self.socket.send(json.dumps(frame))
        while True:
            reply = json.loads(await self.socket.recv())
            if reply.get("id") == request_id:
                return reply["result"]

    async def close(self) -> None:
        await self.socket.close()


async def sequential(job: Job) -> Result:
    """Figure 1: EngineVersion calls one after another."""
    bare = await Bare.connect(job["url"])
    for _ in range(job["warmup"]):
        await bare.call(-1, "EngineVersion", [])
    rates, cpu = [], []
    for _ in range(job["rounds"]):
        started, used = time.perf_counter(), time.process_time()
        for _ in range(job["calls"]):
            await bare.call(-1, "EngineVersion", [])
        rates.append(job["calls"] / (time.perf_counter() - started))
        cpu.append((time.process_time() - used) / job["calls"] * 1e6)
    await bare.close()
    return {"metrics": {"calls/s": rates, "client CPU us per call": cpu}}


async def pipelined(job: Job) -> Result:
    """Figure 2: send every call, while one task reads and decodes the replies."""
    bare = await Bare.connect(job["url"])
    socket = bare.socket
    rates, cpu = [], []
    for round_ in range(job["rounds"] + 1):
        calls = job["calls"] if round_ else 100

        async def read(calls: int = calls) -> int:
            seen = 0
            while seen < calls:
                reply = json.loads(await socket.recv())
                if "id" in reply:
                    seen += 1
            return seen

        started, used = time.perf_counter(), time.process_time()
        reader = asyncio.ensure_future(read())
        for _ in range(calls):
            bare.next_id += 1
            frame = {
                "jsonrpc": "2.0",
                "id": bare.next_id,
                "handle": -1,
                "method": "EngineVersion",
                "params": [],
            }
            await socket.send(json.dumps(frame))
        await reader
        if round_:
            rates.append(calls / (time.perf_counter() - started))
            cpu.append((time.process_time() - used) / calls * 1e6)
    await bare.close()
    return {"metrics": {"calls/s": rates, "client CPU us per call": cpu}}


async def layouts(job: Job) -> Result:
    """Figure 3: GetLayout replies received and decoded with json.loads."""
    bare = await Bare.connect(job["url"])
    doc = (await bare.call(-1, "OpenDoc", [job["app"]]))["qReturn"]["qHandle"]
    small = await bare.call(doc, "CreateSessionObject", [job["props"]])
    big = await bare.call(doc, "GetObject", [job["big_id"]])
    metrics: dict[str, list[float]] = {}
    for name, ref, rounds, rows in (
        ("small", small, job["small_rounds"], job["small_rows"]),
        ("big", big, job["big_rounds"], job["big_rows"]),
    ):
        handle = ref["qReturn"]["qHandle"]
        # Each layout is kept until the next one replaces it, as a client
        # does, so freeing the previous one is paid inside the next call.
        result = await bare.call(handle, "GetLayout", [])
        samples = metrics[f"{name} layout ms"] = []
        cpu = metrics[f"{name} layout client CPU ms"] = []
        for _ in range(rounds):
            started, used = time.perf_counter(), time.process_time()
            result = await bare.call(handle, "GetLayout", [])
            samples.append(ms_since(started))
            cpu.append((time.process_time() - used) * 1000)
            pages = result["qLayout"]["qHyperCube"]["qDataPages"]
            assert len(pages[0]["qMatrix"]) == rows
    await bare.close()
    return {"metrics": metrics}


async def memory(job: Job) -> Result:
    """Figure 6: a socket per session, the latest layout of each object kept."""

    async def open_one() -> tuple[Bare, int]:
        bare = await Bare.connect(job["url"])
        doc = await bare.call(-1, "OpenDoc", [job["app"]])
        return bare, doc["qReturn"]["qHandle"]

    async def live_objects(bare: Bare, doc: int, count: int) -> list[Any]:
        kept = []
        for _ in range(count):
            ref = await bare.call(doc, "CreateSessionObject", [job["props"]])
            handle = ref["qReturn"]["qHandle"]
            kept.append((handle, await bare.call(handle, "GetLayout", [])))
        return kept

    warm = await open_one()
    warm_objects = await live_objects(*warm, job["objects"])
    base = rss_bytes()
    opened: list[tuple[Bare, int]] = []
    batch = 50
    for start in range(0, job["sessions"], batch):
        count = min(batch, job["sessions"] - start)
        opened += await asyncio.gather(*(open_one() for _ in range(count)))
    with_sessions = rss_bytes()
    kept = []
    for start in range(0, len(opened), batch):
        kept += await asyncio.gather(
            *(
                live_objects(bare, doc, job["objects"])
                for bare, doc in opened[start : start + batch]
            )
        )
    with_objects = rss_bytes()
    assert len(kept) == job["sessions"]
    assert warm_objects
    return memory_result(
        base, with_sessions, with_objects, job["sessions"], job["objects"]
    )


HANDLERS = {
    "f1": sequential,
    "f2": pipelined,
    "f3": layouts,
    "f6": memory,
}

if __name__ == "__main__":
    serve(HANDLERS)

"""rxqix as a benchmark peer: every figure's workload through rxqix.Session.

Run by the runner (``run.py``) with a job on stdin; see ``worker.py``. The
workload functions are also imported by ``profile_rxqix.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import websockets
from worker import Job, Result, memory_result, ms_since, rss_bytes, serve

import rxqix
from rxqix.api import ApiObject


async def sequential(job: Job) -> Result:
    """Figure 1: EngineVersion calls one after another."""
    session = rxqix.Session(job["url"], protocol={"delta": False})
    qix = await session.open()
    for _ in range(job["warmup"]):
        await qix.engine_version()
    rates, cpu = [], []
    for _ in range(job["rounds"]):
        started, used = time.perf_counter(), time.process_time()
        for _ in range(job["calls"]):
            await qix.engine_version()
        rates.append(job["calls"] / (time.perf_counter() - started))
        cpu.append((time.process_time() - used) / job["calls"] * 1e6)
    await session.close()
    return {"metrics": {"calls/s": rates, "client CPU us per call": cpu}}


async def pipelined(job: Job) -> Result:
    """Figure 2: ``calls`` EngineVersion calls in flight at once."""
    session = rxqix.Session(job["url"], protocol={"delta": False})
    qix = await session.open()
    await asyncio.gather(*(qix.engine_version() for _ in range(100)))
    rates, cpu = [], []
    for _ in range(job["rounds"]):
        started, used = time.perf_counter(), time.process_time()
        versions = await asyncio.gather(
            *(qix.engine_version() for _ in range(job["calls"]))
        )
        rates.append(job["calls"] / (time.perf_counter() - started))
        cpu.append((time.process_time() - used) / job["calls"] * 1e6)
        assert len(versions) == job["calls"]
    await session.close()
    return {"metrics": {"calls/s": rates, "client CPU us per call": cpu}}


def rows_of(layout: dict[str, Any]) -> int:
    return len(layout["qHyperCube"]["qDataPages"][0]["qMatrix"])


async def layouts(job: Job) -> Result:
    """Figure 3: GetLayout of a small and a big cube, fetched and decoded."""
    session = rxqix.Session(job["url"], protocol={"delta": False})
    qix = await session.open()
    doc = await qix.open_doc(job["app"])
    small = await doc.create_session_object(job["props"])
    big = await doc.get_object(job["big_id"])
    metrics: dict[str, list[float]] = {}
    for name, obj, rounds, rows in (
        ("small", small, job["small_rounds"], job["small_rows"]),
        ("big", big, job["big_rounds"], job["big_rows"]),
    ):
        assert rows_of(await obj.get_layout()) == rows
        samples = metrics[f"{name} layout ms"] = []
        cpu = metrics[f"{name} layout client CPU ms"] = []
        for _ in range(rounds):
            started, used = time.perf_counter(), time.process_time()
            layout = await obj.get_layout()
            samples.append(ms_since(started))
            cpu.append((time.process_time() - used) * 1000)
            assert rows_of(layout) == rows
    await session.close()
    return {"metrics": metrics}


class CountingSocket:
    """A websockets client connection that counts the bytes it receives."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.received = 0

    async def send(self, message: str) -> None:
        await self.connection.send(message)

    async def recv(self) -> str | bytes:
        message = await self.connection.recv()
        self.received += len(message.encode() if isinstance(message, str) else message)
        return message

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.connection.close(code, reason)


async def delta(job: Job) -> Result:
    """Figure 4: ``changes`` rounds of SetProperties (a new title) and GetLayout."""
    sockets: list[CountingSocket] = []

    async def create_socket(url: str) -> CountingSocket:
        connection = await websockets.connect(url, max_size=None, compression=None)
        sockets.append(CountingSocket(connection))
        return sockets[-1]

    session = rxqix.Session(
        job["url"], protocol={"delta": job["delta"]}, create_socket=create_socket
    )
    qix = await session.open()
    doc = await qix.open_doc(job["app"])
    props = dict(job["props"])
    obj = await doc.create_session_object(props)
    await obj.get_layout()
    scale = 100 / job["changes"]
    kilobytes, times = [], []
    for round_ in range(job["rounds"]):
        before = sockets[0].received
        started = time.perf_counter()
        for i in range(job["changes"]):
            props["title"] = f"round {round_} change {i}"
            await obj.set_properties(props)
            layout = await obj.get_layout()
        times.append(ms_since(started) * scale)
        kilobytes.append((sockets[0].received - before) / 1024 * scale)
        assert layout["title"] == props["title"]
    await session.close()
    return {
        "metrics": {
            "KB received per 100 GetLayouts": kilobytes,
            "ms per 100 GetLayouts": times,
        }
    }


async def storm(job: Job) -> Result:
    """Figure 5: live layouts of many objects under a storm of selections."""
    session = rxqix.Session(job["url"])
    qix = await session.open()
    doc = await qix.open_doc(job["app"])
    objects: list[ApiObject] = [
        await doc.create_session_object(props) for props in job["objects"]
    ]
    latest: dict[int, Any] = {}
    first = asyncio.get_running_loop().create_future()

    def keep(handle: int) -> Any:
        def on_layout(layout: Any) -> None:
            latest[handle] = layout
            if len(latest) == len(objects) and not first.done():
                first.set_result(None)

        return on_layout

    for obj in objects:
        obj.layouts().subscribe(keep(obj.handle))
    await first
    field = await doc.get_field(job["field"])

    wire = WireLog()
    subscription = session.traffic.subscribe(
        lambda t: wire.on_frame(t.direction, t.frame)
    )
    started = time.perf_counter()
    interval = job["interval_ms"] / 1000
    selections = []
    for k, value in enumerate(job["values"]):
        delay = started + k * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        selections.append(asyncio.ensure_future(field.select(value)))
    last_sent = time.perf_counter()
    await asyncio.gather(*selections)
    await wire.quiet()
    subscription.dispose()

    stale = 0
    for obj in objects:
        if latest[obj.handle] != await obj.get_layout():
            stale += 1
    await session.close()
    return wire.result(started, last_sent, [o.handle for o in objects], stale)


class WireLog:
    """GetLayout requests seen on the wire and when their replies came."""

    def __init__(self) -> None:
        self.sent = 0
        self.pending: dict[int, int] = {}
        self.last_reply: dict[int, float] = {}
        self.last_activity = time.perf_counter()

    def on_frame(self, direction: str, frame: dict[str, Any]) -> None:
        now = time.perf_counter()
        if direction == "sent":
            if frame.get("method") == "GetLayout":
                self.sent += 1
                self.pending[frame["id"]] = frame["handle"]
                self.last_activity = now
        else:
            handle = self.pending.pop(frame.get("id", -1), None)
            if handle is not None:
                self.last_reply[handle] = now
                self.last_activity = now

    async def quiet(self, idle: float = 0.3) -> None:
        """Wait until no GetLayout is pending and nothing happened for ``idle`` s."""
        while True:
            await asyncio.sleep(0.02)
            if not self.pending and time.perf_counter() - self.last_activity > idle:
                return

    def result(
        self, started: float, last_sent: float, handles: list[int], stale: int
    ) -> Result:
        fresh = max(self.last_reply[h] for h in handles)
        return {
            "metrics": {
                "GetLayout requests": [self.sent],
                "ms to fresh after last selection": [(fresh - last_sent) * 1000],
                "stale layouts at the end": [stale],
                "ms to send every selection": [(last_sent - started) * 1000],
            },
        }


async def memory(job: Job) -> Result:
    """Figure 6: RSS per session and per live object."""

    async def open_one() -> Any:
        session = rxqix.Session(job["url"])
        qix = await session.open()
        return session, await qix.open_doc(job["app"])

    async def live_objects(doc: ApiObject, count: int) -> list[Any]:
        kept: list[Any] = []
        got = asyncio.get_running_loop().create_future()
        for _ in range(count):
            obj = await doc.create_session_object(job["props"])

            def on_layout(layout: Any) -> None:
                kept.append(layout)
                if len(kept) == count and not got.done():
                    got.set_result(None)

            obj.layouts().subscribe(on_layout)
        await got
        return kept

    warm_session, warm_doc = await open_one()
    warm = await live_objects(warm_doc, job["objects"])
    base = rss_bytes()
    opened: list[Any] = []
    batch = 50
    for start in range(0, job["sessions"], batch):
        count = min(batch, job["sessions"] - start)
        opened += await asyncio.gather(*(open_one() for _ in range(count)))
    with_sessions = rss_bytes()
    kept = []
    for start in range(0, len(opened), batch):
        kept += await asyncio.gather(
            *(
                live_objects(doc, job["objects"])
                for _, doc in opened[start : start + batch]
            )
        )
    with_objects = rss_bytes()
    assert len(kept) == job["sessions"]
    assert warm
    return memory_result(
        base, with_sessions, with_objects, job["sessions"], job["objects"]
    )


async def engine(job: Job) -> Result:
    """Figure 7: the local engine's answers, timed from the client."""
    session = rxqix.Session(job["url"], protocol={"delta": False})
    qix = await session.open()
    doc = await qix.open_doc(job["app"])
    flights = await doc.create_session_object(job["flights_cube"])
    agg = await doc.create_session_object(job["agg_cube"])
    lists = [await doc.create_session_object(props) for props in job["lists"]]
    name, value = job["selection"]
    field = await doc.get_field(name)

    async def new_state() -> None:
        # A selection and its clearing give a new state version, so the
        # engine computes from scratch instead of answering from its cache.
        await field.select(value)
        await doc.clear_all()

    metrics: dict[str, list[float]] = {key: [] for key in job["metric_names"]}
    cube_name, agg_name, lists_name = job["metric_names"]
    for round_ in range(job["rounds"] + 1):
        await new_state()
        started = time.perf_counter()
        layout = await flights.get_layout()
        flights_ms = ms_since(started)
        assert layout["qHyperCube"]["qSize"]["qcy"] == job["flight_rows"]
        await new_state()
        started = time.perf_counter()
        await agg.get_layout()
        agg_ms = ms_since(started)
        await field.select(value)
        started = time.perf_counter()
        for obj in lists:
            await obj.get_layout()
        lists_ms = ms_since(started)
        await doc.clear_all()
        if round_:  # the first round warms the engine
            metrics[cube_name].append(flights_ms)
            metrics[agg_name].append(agg_ms)
            metrics[lists_name].append(lists_ms)
    await session.close()
    return {"metrics": metrics}


HANDLERS = {
    "f1": sequential,
    "f2": pipelined,
    "f3": layouts,
    "f4": delta,
    "f5": storm,
    "f6": memory,
    "f7": engine,
}

if __name__ == "__main__":
    serve(HANDLERS)

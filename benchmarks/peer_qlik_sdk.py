"""Qlik's Python SDK (qlik-sdk) as a benchmark peer, through its RpcSession.

The SDK is synchronous: ``RpcSession.send`` blocks until its reply, which a
reader thread hands over through a condition variable; results become the
SDK's generated classes. Run by the runner with a job on stdin; see
``worker.py``.
"""

from __future__ import annotations

import time
from typing import Any

from worker import Job, Result, memory_result, ms_since, rss_bytes, serve, skipped

try:
    from qlik_sdk.apis.Qix import Global
    from qlik_sdk.interceptors.types import InterceptorHandler
    from qlik_sdk.rpc import RpcSession
except ImportError:  # the runner reports the peer as not installed
    Global = InterceptorHandler = RpcSession = None

PIPELINE_REASON = (
    "not run: RpcSession.send blocks until its reply, and from several "
    "threads the request ids race (send reads self._id after releasing its lock)"
)


def open_session(url: str) -> tuple[Any, Any]:
    """An open RpcSession and its Global object."""
    interceptors = {"request": InterceptorHandler(), "response": InterceptorHandler()}
    rpc = RpcSession(url, interceptors=interceptors)
    rpc.open()
    return rpc, Global(_session=rpc, qHandle=-1, qType="Global")


def sequential(job: Job) -> Result:
    """Figure 1: EngineVersion calls one after another."""
    _, root = open_session(job["url"])
    for _ in range(job["warmup"]):
        root.engine_version()
    rates, cpu = [], []
    for _ in range(job["rounds"]):
        started, used = time.perf_counter(), time.process_time()
        for _ in range(job["calls"]):
            root.engine_version()
        rates.append(job["calls"] / (time.perf_counter() - started))
        cpu.append((time.process_time() - used) / job["calls"] * 1e6)
    return {"metrics": {"calls/s": rates, "client CPU us per call": cpu}}


def layouts(job: Job) -> Result:
    """Figure 3: GetLayout, decoded into the SDK's layout classes."""
    _, root = open_session(job["url"])
    doc = root.open_doc(job["app"])
    small = doc.create_session_object(job["props"])
    big = doc.get_object(job["big_id"])
    metrics: dict[str, list[float]] = {}
    for name, obj, rounds, rows in (
        ("small", small, job["small_rounds"], job["small_rows"]),
        ("big", big, job["big_rounds"], job["big_rows"]),
    ):
        samples = metrics[f"{name} layout ms"] = []
        cpu = metrics[f"{name} layout client CPU ms"] = []
        layout = obj.get_layout()
        for _ in range(rounds):
            started, used = time.perf_counter(), time.process_time()
            layout = obj.get_layout()
            samples.append(ms_since(started))
            cpu.append((time.process_time() - used) * 1000)
            assert len(layout.qHyperCube.qDataPages[0].qMatrix) == rows
    return {"metrics": metrics}


def memory(job: Job) -> Result:
    """Figure 6: sessions with objects that refetch their layout on ``changed``."""

    def open_one() -> Any:
        _, root = open_session(job["url"])
        return root.open_doc(job["app"])

    def live_objects(doc: Any, count: int) -> list[Any]:
        kept = []
        for _ in range(count):
            obj = doc.create_session_object(job["props"])
            slot = {"layout": obj.get_layout()}

            def refetch(obj: Any = obj, slot: dict[str, Any] = slot) -> None:
                slot["layout"] = obj.get_layout()

            obj.on("changed", refetch)
            kept.append((obj, slot))
        return kept

    warm = live_objects(open_one(), job["objects"])
    base = rss_bytes()
    docs = [open_one() for _ in range(job["sessions"])]
    with_sessions = rss_bytes()
    kept = [live_objects(doc, job["objects"]) for doc in docs]
    with_objects = rss_bytes()
    assert len(kept) == job["sessions"]
    assert warm
    return memory_result(
        base, with_sessions, with_objects, job["sessions"], job["objects"]
    )


HANDLERS = {
    "f1": sequential,
    "f2": skipped(PIPELINE_REASON),
    "f3": layouts,
    "f6": memory,
}

if __name__ == "__main__":
    serve(HANDLERS)

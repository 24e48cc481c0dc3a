"""The side of a peer process that talks to the runner.

A peer is started once per job: it reads the job as JSON on stdin, runs the
figure's workload and writes one JSON object on stdout, either
``{"metrics": {name: [samples...]}, "info": {...}}`` or ``{"skipped": why}``.
Nothing else may go to stdout.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

Job = dict[str, Any]
Result = dict[str, Any]
Handler = Callable[[Job], Any]


def serve(handlers: dict[str, Handler]) -> None:
    """Run the job on stdin with the handler of its figure; print the result."""
    job = json.loads(sys.stdin.read())
    handler = handlers.get(job["figure"])
    if handler is None:
        result: Result = {"skipped": f"no workload for {job['figure']}"}
    else:
        outcome = handler(job)
        if inspect.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
        result = outcome
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    # Some clients leave threads or sockets behind; the job is done.
    os._exit(0)


def skipped(reason: str) -> Handler:
    """A handler for a figure this peer cannot run, saying why."""

    def handler(job: Job) -> Result:
        return {"skipped": reason}

    return handler


def ms_since(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` value)."""
    return (time.perf_counter() - started) * 1000


def rss_bytes() -> int:
    """The resident set size of this process, after a full collection."""
    gc.collect()
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_result(
    base: int, with_sessions: int, with_objects: int, sessions: int, objects: int
) -> Result:
    """Per-session and per-live-object memory from three RSS readings."""
    return {
        "metrics": {
            "KB per session": [(with_sessions - base) / sessions / 1024],
            "KB per live object": [
                (with_objects - with_sessions) / (sessions * objects) / 1024
            ],
        },
        "info": {"sessions": sessions, "objects_per_session": objects},
    }

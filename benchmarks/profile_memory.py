"""Where rxqix's memory per session and per live object goes (tracemalloc).

    python benchmarks/profile_memory.py [--sessions 200] [--objects 10] [--top 15]

Opens sessions (Global, then the doc) against a canned engine with 10-row
layouts, then gives each session live objects (``layouts()`` subscribed), as
figure 6 does, and prints the allocation sites that grew most per session
and per live object, grouped by source line.
"""

from __future__ import annotations

import argparse
import asyncio
import tracemalloc
from typing import Any

import harness
import workloads as w

import rxqix


def top_growth(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, per: int, top: int
) -> str:
    stats = after.compare_to(before, "lineno")
    total = sum(s.size_diff for s in stats)
    lines = [f"  total {total / per / 1024:.1f} KB each"]
    for stat in stats[:top]:
        frame = stat.traceback[0]
        where = "/".join(frame.filename.replace("\\", "/").split("/")[-2:])
        lines.append(
            f"  {stat.size_diff / per / 1024:7.2f} KB  "
            f"{100 * stat.size_diff / total:5.1f}%  {where}:{frame.lineno}"
        )
    return "\n".join(lines)


async def measure(url: str, sessions: int, objects: int, top: int) -> None:
    async def open_one() -> tuple[rxqix.Session, Any]:
        session = rxqix.Session(url)
        qix = await session.open()
        return session, await qix.open_doc(w.CANNED_APP)

    async def live(doc: Any) -> list[Any]:
        kept: list[Any] = []
        done = asyncio.get_running_loop().create_future()

        def keep(layout: Any) -> None:
            kept.append(layout)
            if len(kept) == objects and not done.done():
                done.set_result(None)

        for _ in range(objects):
            obj = await doc.create_session_object(w.CANNED_CUBE)
            obj.layouts().subscribe(keep)
        await done
        return kept

    warm = await open_one()
    await live(warm[1])
    tracemalloc.start(1)
    start = tracemalloc.take_snapshot()
    opened = [await open_one() for _ in range(sessions)]
    with_sessions = tracemalloc.take_snapshot()
    kept = [await live(doc) for _, doc in opened]
    with_objects = tracemalloc.take_snapshot()
    tracemalloc.stop()
    print(f"per session ({sessions} sessions, Global and Doc open):")
    print(top_growth(start, with_sessions, sessions, top))
    print(f"per live object ({objects} per session):")
    print(top_growth(with_sessions, with_objects, sessions * objects, top))
    assert len(kept) == sessions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    with harness.canned_engine(w.MEMORY_ROWS, w.MEMORY_ROWS) as engine:
        asyncio.run(measure(engine.url, args.sessions, args.objects, args.top))


if __name__ == "__main__":
    main()

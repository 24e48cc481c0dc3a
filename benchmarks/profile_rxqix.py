"""Profile rxqix (or the floor) on one figure's workload, canned engine.

    python benchmarks/profile_rxqix.py f2 [--tool cprofile|pyinstrument]
                                          [--peer rxqix|floor]
                                          [--calls 5000] [--top 25]

The canned engine runs in its own process, so the profile holds the client
alone; ``--peer floor`` profiles bare websockets on the same workload, to
tell rxqix's own cost from what any asyncio client pays. ``cprofile`` (the
default, from the standard library) prints the own time per package and the
functions with the most own time, with their share of the total;
``pyinstrument`` (``pip install pyinstrument``) prints its sampled call tree,
which distorts small functions less.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
from pathlib import Path
from typing import Any

import harness
import peer_floor
import peer_rxqix
import workloads as w

WORKLOADS = {
    peer: {
        "f1": module.sequential,
        "f2": module.pipelined,
        "f3": module.layouts,
    }
    for peer, module in (("rxqix", peer_rxqix), ("floor", peer_floor))
}


def job(figure: str, url: str, calls: int | None) -> dict[str, Any]:
    counts = w.counts(figure, quick=False)
    if calls is not None and "calls" in counts:
        counts["calls"] = calls
    return {
        "figure": figure,
        "url": url,
        "app": w.CANNED_APP,
        "props": w.CANNED_CUBE,
        "big_id": w.BIG_OBJECT,
        **counts,
    }


PACKAGES = ("rxqix", "reactivex", "websockets", "asyncio", "json", "benchmarks")


def package_of(path: str) -> str:
    """The package a profiled function belongs to, by its file's path."""
    parts = path.replace("\\", "/").split("/")
    for package in PACKAGES:
        if package in parts[:-1] or (package == "json" and "json" in parts):
            return package
    return "other (builtins, sockets, selectors)"


def own_time_table(profile: cProfile.Profile, top: int) -> str:
    """Own time per package, then the ``top`` functions by own time."""
    stats = pstats.Stats(profile)
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = [
        (own, total, calls, package_of(path), f"{Path(path).name}:{line} {name}")
        for (path, line, name), (_, calls, own, total, _) in entries.items()
    ]
    everything = sum(r[0] for r in rows) or 1.0
    shares: dict[str, float] = {}
    for own, _, _, package, _ in rows:
        shares[package] = shares.get(package, 0.0) + own
    out = io.StringIO()
    out.write("own time by package:\n")
    for package, own in sorted(shares.items(), key=lambda kv: -kv[1]):
        out.write(f"{100 * own / everything:6.1f}%  {package}\n")
    out.write(f"\n{'own %':>6} {'own s':>7} {'cum s':>7} {'calls':>9}  function\n")
    rows.sort(reverse=True)
    for own, total, calls, _, where in rows[:top]:
        share = 100 * own / everything
        out.write(f"{share:6.1f} {own:7.3f} {total:7.3f} {calls:9d}  {where}\n")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure", choices=sorted(WORKLOADS["rxqix"]))
    parser.add_argument("--peer", choices=sorted(WORKLOADS), default="rxqix")
    parser.add_argument(
        "--tool", choices=["cprofile", "pyinstrument"], default="cprofile"
    )
    parser.add_argument("--calls", type=int, help="calls per round (figures 1, 2)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    rows = w.counts("f3", quick=False)
    with harness.canned_engine(rows["small_rows"], rows["big_rows"]) as engine:
        workload = WORKLOADS[args.peer][args.figure]
        work = workload(job(args.figure, engine.url, args.calls))
        if args.tool == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            with profiler:
                result = asyncio.run(work)
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        else:
            profile = cProfile.Profile()
            profile.enable()
            result = asyncio.run(work)
            profile.disable()
            print(own_time_table(profile, args.top))
    print({k: [round(x, 1) for x in v] for k, v in result["metrics"].items()})


if __name__ == "__main__":
    main()

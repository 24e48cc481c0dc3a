"""Profile the local engine's data layer on figure 7's questions, in process.

    python benchmarks/profile_engine.py [flights|agg|lists] [--rounds 5]

Runs ``DocState`` directly (no socket, no JSON) on the bundled app, with a
selection and its clearing before each round so that nothing comes from the
engine's cache, and prints the own time per package and the hottest
functions (cProfile), plus the median time per round without the profiler.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import time
from collections.abc import Callable

import workloads as w
from profile_rxqix import own_time_table

from rxqix.engine.apps import nycflights13_app
from rxqix.engine.model import DocState


def question(
    state: DocState, name: str
) -> tuple[Callable[[], object], Callable[[], object]]:
    """How to get a fresh state version for a question, and the question."""
    field, value = w.SELECTION

    def select() -> None:
        state.select_values(field, [{"qText": value}])

    def select_and_clear() -> None:
        select()
        state.clear_all()

    def clear_and_select() -> None:
        state.clear_all()
        select()

    if name == "flights":
        cube = w.FLIGHTS_CUBE["qHyperCubeDef"]
        return select_and_clear, lambda: state.hypercube_layout(cube)
    if name == "agg":
        agg = w.AGG_CUBE["qHyperCubeDef"]
        return select_and_clear, lambda: state.hypercube_layout(agg)
    lists = [
        w.list_object("bench-list", f, w.LIST_HEIGHT)["qListObjectDef"]
        for f in w.app_fields()
    ]
    return clear_and_select, lambda: [state.list_object_layout(d) for d in lists]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", choices=["flights", "agg", "lists"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    state = DocState(nycflights13_app())
    fresh, ask = question(state, args.question)
    fresh()
    ask()
    times = []
    for _ in range(args.rounds):
        fresh()
        started = time.perf_counter()
        ask()
        times.append((time.perf_counter() - started) * 1000)
    profile = cProfile.Profile()
    for _ in range(args.rounds):
        fresh()
        profile.enable()
        ask()
        profile.disable()
    print(own_time_table(profile, args.top))
    print(f"median {statistics.median(times):.1f} ms per round (no profiler)")


if __name__ == "__main__":
    main()

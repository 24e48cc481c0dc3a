"""What every peer runs: object definitions and counts, shared by all figures.

The runner puts these into each job it hands a peer (Python or node), so every
client runs exactly the same requests.
"""

from __future__ import annotations

from typing import Any

APP = "nycflights13"
CANNED_APP = "canned"
MEMORY_ROWS = 10
BIG_OBJECT = "big"


def cube(
    qtype: str,
    dimensions: list[str],
    measures: list[str],
    height: int,
) -> dict[str, Any]:
    """Properties of a session object with a straight hypercube."""
    width = len(dimensions) + len(measures)
    return {
        "qInfo": {"qType": qtype},
        "qHyperCubeDef": {
            "qDimensions": [{"qDef": {"qFieldDefs": [d]}} for d in dimensions],
            "qMeasures": [{"qDef": {"qDef": m}} for m in measures],
            "qInitialDataFetch": [
                {"qLeft": 0, "qTop": 0, "qWidth": width, "qHeight": height}
            ],
        },
    }


def list_object(qtype: str, field: str, height: int = 100) -> dict[str, Any]:
    """Properties of a session object with a list object over ``field``."""
    return {
        "qInfo": {"qType": qtype},
        "qListObjectDef": {
            "qDef": {"qFieldDefs": [field]},
            "qInitialDataFetch": [
                {"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": height}
            ],
        },
    }


# Canned engine: the engine ignores the definition; any props will do.
CANNED_CUBE = cube("bench-canned", ["carrier"], ["Count(x)", "Avg(x)"], 100)

# Figure 4: a cube of a few hundred rows whose title changes each round.
DELTA_CUBE = cube(
    "bench-delta",
    ["dest", "carrier"],
    ["Count(flight)", "Avg(dep_delay)", "Avg(arr_delay)"],
    2000,
)

# Figure 5: twenty live objects; selections go to ``dest``.
STORM_CUBES = [
    "carrier",
    "origin",
    "month",
    "day",
    "hour",
    "airline",
    "manufacturer",
    "engines",
    "type",
    "dest_tzone",
]
STORM_LISTS = [
    "carrier",
    "origin",
    "month",
    "day",
    "hour",
    "dest",
    "airline",
    "manufacturer",
    "model",
    "tailnum",
]
STORM_FIELD = "dest"


def storm_objects(count: int) -> list[dict[str, Any]]:
    """``count`` object definitions for the selection storm, cubes and lists."""
    objects: list[dict[str, Any]] = []
    for cube_field, list_field in zip(STORM_CUBES, STORM_LISTS, strict=True):
        objects.append(
            cube(
                "bench-storm-cube",
                [cube_field],
                ["Count(flight)", "Avg(dep_delay)"],
                100,
            )
        )
        objects.append(list_object("bench-storm-list", list_field, 100))
    return objects[:count]


# Figure 7: the engine against DuckDB on the same questions.
FLIGHT_DIMENSIONS = ["time_hour", "carrier", "flight", "tailnum"]
FLIGHTS_CUBE = cube("bench-flights", FLIGHT_DIMENSIONS, ["Sum(dep_delay)"], 1000)
AGG_DIMENSIONS = ["carrier", "origin", "month"]
AGG_MEASURES = ["Count(flight)", "Avg(dep_delay)", "Sum(distance)", "Max(arr_delay)"]
AGG_CUBE = cube("bench-agg", AGG_DIMENSIONS, AGG_MEASURES, 1000)
SELECTION = ("origin", "JFK")
LIST_HEIGHT = 100

# The fields of the nycflights13 app and the table each comes from; key
# fields are in more than one table (flights first).
APP_TABLES: dict[str, list[str]] = {
    "flights": [
        "year",
        "month",
        "day",
        "dep_time",
        "sched_dep_time",
        "dep_delay",
        "arr_time",
        "sched_arr_time",
        "arr_delay",
        "carrier",
        "flight",
        "tailnum",
        "origin",
        "dest",
        "air_time",
        "distance",
        "hour",
        "minute",
        "time_hour",
    ],
    "airlines": ["carrier", "airline"],
    "planes": [
        "tailnum",
        "plane_year",
        "type",
        "manufacturer",
        "model",
        "engines",
        "seats",
        "speed",
        "engine",
    ],
    "airports": [
        "dest",
        "dest_name",
        "dest_lat",
        "dest_lon",
        "dest_alt",
        "dest_tz",
        "dest_dst",
        "dest_tzone",
    ],
}
KEYS = {"airlines": "carrier", "planes": "tailnum", "airports": "dest"}


def app_fields() -> list[str]:
    """Every field of the app once, in load order."""
    seen: dict[str, None] = {}
    for fields in APP_TABLES.values():
        for name in fields:
            seen.setdefault(name)
    return list(seen)


# Counts per mode: (quick, full).
COUNTS: dict[str, dict[str, tuple[int, int]]] = {
    "f1": {"calls": (300, 2000), "rounds": (2, 5), "warmup": (50, 300)},
    "f2": {"calls": (1000, 5000), "rounds": (2, 5)},
    "f3": {
        "small_rows": (5_000, 5_000),
        "big_rows": (20_000, 200_000),
        "small_rounds": (3, 15),
        "big_rounds": (2, 3),
    },
    "f4": {"changes": (20, 100), "rounds": (1, 3)},
    "f5": {"objects": (10, 20), "selections": (30, 100), "interval_ms": (10, 10)},
    "f6": {"sessions": (40, 1000), "objects": (10, 10)},
    "f7": {"rounds": (2, 7)},
}
REPEATS = (1, 3)


def counts(figure: str, quick: bool) -> dict[str, int]:
    """The counts of one figure in quick or full mode."""
    index = 0 if quick else 1
    return {key: pair[index] for key, pair in COUNTS[figure].items()}

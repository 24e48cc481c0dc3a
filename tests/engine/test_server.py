"""The engine's QIX protocol over real sockets, driven by a raw websockets client.

Most tests run against a tiny in-memory selection model (``TinyState``) so that
they check the protocol layer alone; the last ones use the real data layer on
a CSV file and compare with DuckDB reading the same file.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.sync.client import connect as connect_sync

from rxqix._protocol.schema import bundled_schema
from rxqix.engine import Engine, parse_route, run_engine_in_thread
from rxqix.engine.session import AppCatalog, DocStateLike, EngineSession, bind_params

ROWS = [
    {"Country": "Sweden", "City": "Lund", "Sales": 10},
    {"Country": "Sweden", "City": "Malmo", "Sales": 20},
    {"Country": "Norway", "City": "Oslo", "Sales": 5},
    {"Country": "Denmark", "City": "Aarhus", "Sales": 7},
]


class TinyState:
    """One table, OR within a field, AND across fields; enough for the protocol."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.symbols = {f: list(dict.fromkeys(r[f] for r in rows)) for f in rows[0]}
        self.selected: dict[tuple[str, str], set[int]] = {}
        self.locked: set[tuple[str, str]] = set()
        self.states: list[str] = []
        self.version = 0

    def field_names(self) -> list[str]:
        return list(self.symbols)

    def has_field(self, field: str) -> bool:
        return field in self.symbols

    def cardinal(self, field: str) -> int:
        return len(self.symbols[field])

    def state_names(self) -> list[str]:
        return list(self.states)

    def add_state(self, name: str) -> None:
        self.states.append(name)

    def remove_state(self, name: str) -> None:
        self.states.remove(name)
        self.version += 1

    def _set(
        self, field: str, elems: set[int], toggle: bool, state: str, soft: bool = False
    ) -> bool:
        key = (state, field)
        if key in self.locked and not soft:
            return False
        now = self.selected.get(key, set()) ^ elems if toggle else elems
        if now == self.selected.get(key, set()):
            return True
        if now:
            self.selected[key] = now
        else:
            self.selected.pop(key, None)
        self.version += 1
        return True

    def select_elements(
        self,
        field: str,
        elems: Sequence[int],
        toggle: bool,
        state: str = "$",
        soft: bool = False,
    ) -> bool:
        return self._set(field, set(elems), toggle, state, soft)

    def select_values(
        self,
        field: str,
        field_values: Sequence[Mapping[str, Any]],
        toggle: bool,
        state: str = "$",
        soft: bool = False,
    ) -> bool:
        texts = {v.get("qText") for v in field_values}
        elems = {i for i, s in enumerate(self.symbols[field]) if str(s) in texts}
        return self._set(field, elems, toggle, state, soft)

    def select_match(
        self, field: str, match: str, toggle: bool, state: str = "$", soft: bool = False
    ) -> bool:
        elems = {i for i, s in enumerate(self.symbols[field]) if str(s) == match}
        return self._set(field, elems, toggle, state, soft)

    def select_by_states(
        self, field: str, states: Sequence[str], state: str = "$", soft: bool = False
    ) -> bool:
        # Enough for SelectAll: every value is in some state.
        everything = set(range(self.cardinal(field)))
        return self._set(field, everything, False, state, soft)

    def lock_field(self, field: str, state: str = "$") -> bool:
        if (state, field) in self.selected and (state, field) not in self.locked:
            self.locked.add((state, field))
            self.version += 1
        return True

    def unlock_field(self, field: str, state: str = "$") -> bool:
        if (state, field) in self.locked:
            self.locked.discard((state, field))
            self.version += 1
        return True

    def lock_all(self, state: str = "$") -> None:
        for s, f in list(self.selected):
            if s == state:
                self.lock_field(f, state)

    def unlock_all(self, state: str = "$") -> None:
        for s, f in list(self.locked):
            if s == state:
                self.unlock_field(f, state)

    def back(self, state: str = "$") -> bool:
        return False

    def forward(self, state: str = "$") -> bool:
        return False

    def clear_field(self, field: str, state: str = "$") -> bool:
        if (state, field) in self.locked:
            return False
        if self.selected.pop((state, field), None) is not None:
            self.version += 1
        return True

    def clear_all(
        self, state: str = "$", locked_also: bool = False, keep: str | None = None
    ) -> None:
        for key in [k for k in self.selected if k[0] == state and k[1] != keep]:
            if key in self.locked and not locked_also:
                continue
            self.locked.discard(key)
            del self.selected[key]
            self.version += 1

    def _possible(self, state: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.rows
            if all(
                self.symbols[f].index(r[f]) in elems
                for (s, f), elems in self.selected.items()
                if s == state
            )
        ]

    def selection_object(self, state: str = "$") -> dict[str, Any]:
        items = [
            {"qField": f, "qSelectedCount": len(e)}
            for (s, f), e in sorted(self.selected.items())
            if s == state
        ]
        return {"qBackCount": 0, "qForwardCount": 0, "qSelections": items}

    def hypercube_field(self, hc_def: Mapping[str, Any], dim_no: int) -> str:
        return str(hc_def["qDimensions"][dim_no]["qDef"]["qFieldDefs"][0])

    def _matrix(self, hc_def: Mapping[str, Any], state: str) -> list[list[Any]]:
        fields = [
            self.hypercube_field(hc_def, i) for i in range(len(hc_def["qDimensions"]))
        ]
        rows = dict.fromkeys(tuple(r[f] for f in fields) for r in self._possible(state))
        return [
            [
                {
                    "qText": str(v),
                    "qElemNumber": self.symbols[f].index(v),
                    "qState": "O",
                }
                for f, v in zip(fields, row, strict=True)
            ]
            for row in rows
        ]

    def hypercube_layout(self, hc_def: Mapping[str, Any], state: str = "$") -> dict:
        matrix = self._matrix(hc_def, state)
        pages = self.hypercube_data(hc_def, hc_def.get("qInitialDataFetch", []), state)
        return {
            "qSize": {"qcx": len(hc_def["qDimensions"]), "qcy": len(matrix)},
            "qDataPages": pages,
        }

    def hypercube_data(
        self, hc_def: Mapping[str, Any], pages: Sequence[Mapping[str, Any]], state: str
    ) -> list[Any]:
        matrix = self._matrix(hc_def, state)
        return [
            {"qMatrix": matrix[p["qTop"] : p["qTop"] + p["qHeight"]], "qArea": dict(p)}
            for p in pages
        ]

    def select_hypercube_values(
        self,
        hc_def: Mapping[str, Any],
        dim_no: int,
        elems: Sequence[int],
        toggle: bool,
        state: str = "$",
    ) -> bool:
        return self._set(
            self.hypercube_field(hc_def, dim_no), set(elems), toggle, state
        )

    def list_object_layout(self, lo_def: Mapping[str, Any], state: str = "$") -> dict:
        field = lo_def["qDef"]["qFieldDefs"][0]
        return {"qSize": {"qcx": 1, "qcy": self.cardinal(field)}, "qDataPages": []}

    def list_object_data(
        self, lo_def: Mapping[str, Any], pages: Sequence[Mapping[str, Any]], state: str
    ) -> list[Any]:
        field = lo_def["qDef"]["qFieldDefs"][0]
        chosen = self.selected.get((state, field), set())
        matrix = [
            [{"qText": str(v), "qElemNumber": i, "qState": "S" if i in chosen else "O"}]
            for i, v in enumerate(self.symbols[field])
        ]
        return [{"qMatrix": matrix, "qArea": dict(p)} for p in pages]

    def select_list_object_values(
        self,
        lo_def: Mapping[str, Any],
        elems: Sequence[int],
        toggle: bool,
        state: str = "$",
        soft: bool = False,
    ) -> bool:
        field = lo_def["qDef"]["qFieldDefs"][0]
        return self._set(field, set(elems), toggle, state, soft)

    def select_hypercube_cells(
        self,
        hc_def: Mapping[str, Any],
        rows: Sequence[int],
        columns: Sequence[int],
        state: str = "$",
        soft: bool = False,
    ) -> bool:
        matrix = self._matrix(hc_def, state)
        picked = rows or range(len(matrix))
        for col in columns or range(len(hc_def["qDimensions"])):
            elems = {matrix[r][col]["qElemNumber"] for r in picked}
            self._set(self.hypercube_field(hc_def, col), elems, False, state, soft)
        return True

    def evaluate(self, expr: str, state: str = "$") -> dict[str, Any]:
        # Understands Sum(Sales), Count(Country) and number literals.
        rows = self._possible(state)
        if expr == "Sum(Sales)":
            value: float = sum(r["Sales"] for r in rows)
        elif expr == "Count(Country)":
            value = len(rows)
        else:
            try:
                value = float(expr)
            except ValueError:
                return {"qText": expr, "qIsNumeric": False, "qNumber": 0}
        return {"qText": f"{value:g}", "qIsNumeric": True, "qNumber": value}


def tiny_engine(**options: Any) -> Engine:
    return Engine(
        {"tiny": object()}, doc_state_factory=lambda app: TinyState(ROWS), **options
    )


class Client:
    """A raw QIX client: sends frames, reads replies in order."""

    def __init__(self, ws: ClientConnection, connected: dict[str, Any]) -> None:
        self.ws = ws
        self.connected = connected
        self._id = 0

    async def send(self, method: str, handle: int = -1, params: Any = (), **extra: Any):
        self._id += 1
        params = list(params) if isinstance(params, tuple) else params
        frame = {"jsonrpc": "2.0", "id": self._id, "handle": handle, "method": method}
        frame.update(params=params, **extra)
        await self.ws.send(json.dumps(frame))
        return json.loads(await self.ws.recv())

    async def result(self, method: str, handle: int = -1, params: Any = (), **extra):
        reply = await self.send(method, handle, params, **extra)
        assert "error" not in reply, reply
        return reply["result"]

    async def open(self, doc: str = "tiny") -> int:
        return (await self.result("OpenDoc", -1, [doc]))["qReturn"]["qHandle"]


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with tiny_engine() as running:
        yield running


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[Client]:
    async with connect(engine.url) as ws:
        yield Client(ws, json.loads(await ws.recv()))


HC_PROPS = {
    "qInfo": {"qType": "table"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["Country"]}}],
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 10}],
        "customProperty": "kept",
    },
    "title": {"qStringExpression": {"qExpr": "=Sum(Sales)"}},
    "nested": {"deep": [{"value": {"qValueExpression": {"qExpr": "=Count(Country)"}}}]},
    "userProp": {"a": [1, 2]},
}


async def make_object(client: Client, props: Mapping[str, Any] = HC_PROPS) -> int:
    doc = await client.open()
    ref = (await client.result("CreateSessionObject", doc, [copy.deepcopy(props)]))[
        "qReturn"
    ]
    handle: int = ref["qHandle"]
    return handle


# -- connection -----------------------------------------------------------------


async def test_on_connected_is_the_first_frame(client: Client) -> None:
    assert client.connected == {
        "jsonrpc": "2.0",
        "method": "OnConnected",
        "params": {"qSessionState": "SESSION_CREATED"},
    }


async def test_url_forms_all_connect(engine: Engine) -> None:
    for path in ["/app/tiny", "/app/", "/app/tiny/identity/x/ttl/30?reloadUri=y"]:
        async with connect(f"{engine.base_url}{path}") as ws:
            assert json.loads(await ws.recv())["method"] == "OnConnected"
            client = Client(ws, {})
            assert (await client.result("OpenDoc", -1, ["tiny"]))["qReturn"][
                "qHandle"
            ] == 1


def test_routes() -> None:
    assert parse_route("/app/my%20doc.qvf").doc == "my doc.qvf"
    assert parse_route("/app/").doc is None
    route = parse_route("/prefix/app/d/identity/alice/ttl/30?QlikTicket=t")
    assert (route.doc, route.identity, route.ttl) == ("d", "alice", 30)
    assert parse_route("/app/d/ttl/nope").ttl is None


# -- JSON-RPC framing -----------------------------------------------------------


async def test_garbage_frame_gets_parse_error_and_socket_lives_on(
    client: Client,
) -> None:
    await client.ws.send("{not json")
    reply = json.loads(await client.ws.recv())
    assert reply["id"] is None
    assert reply["error"]["code"] == -32700
    assert "result" not in reply
    assert (await client.result("EngineVersion"))["qVersion"]["qComponentVersion"]


@pytest.mark.parametrize(
    "frame",
    [
        {"jsonrpc": "2.0", "id": 7, "handle": -1},
        {"jsonrpc": "2.0", "id": 7, "method": "EngineVersion"},
        {"jsonrpc": "2.0", "id": 7, "handle": "-1", "method": "EngineVersion"},
    ],
)
async def test_missing_method_or_handle_is_invalid_request(
    client: Client, frame: dict[str, Any]
) -> None:
    await client.ws.send(json.dumps(frame))
    reply = json.loads(await client.ws.recv())
    assert reply["id"] == 7
    assert reply["error"]["code"] == -32600


async def test_non_object_frame_is_invalid_request(client: Client) -> None:
    await client.ws.send("[1, 2]")
    assert json.loads(await client.ws.recv())["error"]["code"] == -32600


async def test_unknown_method_names_the_method(client: Client) -> None:
    reply = await client.send("NoSuchMethod", -1)
    assert reply["error"] == {
        "code": -32601,
        "parameter": "NoSuchMethod",
        "message": "Method not found",
    }
    # A Field method on a GenericObject handle is not found either.
    handle = await make_object(client)
    reply = await client.send("Clear", handle)
    assert reply["error"]["code"] == -32601
    assert reply["error"]["parameter"] == "Clear"


async def test_unknown_handle(client: Client) -> None:
    reply = await client.send("GetLayout", 42)
    assert reply["error"] == {
        "code": -32602,
        "parameter": "Invalid handle",
        "message": "Invalid Params",
    }


async def test_wrongly_typed_param_is_invalid_params(client: Client) -> None:
    reply = await client.send("OpenDoc", -1, {"qDocName": 5})
    assert reply["error"]["code"] == -32602
    assert reply["error"]["parameter"] == "qDocName"
    reply = await client.send("OpenDoc", -1, "tiny")
    assert reply["error"]["code"] == -32602


async def test_replies_echo_id_and_version(client: Client) -> None:
    reply = await client.send("EngineVersion")
    assert reply["jsonrpc"] == "2.0"
    assert reply["id"] == client._id


async def test_pipelined_requests_are_answered_in_order(client: Client) -> None:
    handle = await make_object(client)
    ids = list(range(100, 140))
    for i in ids:
        method = "GetLayout" if i % 2 else "GetProperties"
        frame = {
            "jsonrpc": "2.0",
            "id": i,
            "handle": handle,
            "method": method,
            "params": [],
        }
        await client.ws.send(json.dumps(frame))
    replies = [json.loads(await client.ws.recv()) for _ in ids]
    assert [r["id"] for r in replies] == ids
    assert all("result" in r for r in replies)


# -- params ---------------------------------------------------------------------


async def test_positional_and_named_params_give_the_same_result(engine: Engine) -> None:
    results = []
    for style in ("positional", "named"):
        async with connect(engine.url) as ws:
            await ws.recv()
            client = Client(ws, {})
            if style == "positional":
                doc = await client.result("OpenDoc", -1, ["tiny", "", "", "", False])
                obj = await client.result("CreateSessionObject", 1, [HC_PROPS])
                field = await client.result("GetField", 1, ["Country"])
                sel = await client.result("Select", 3, ["Sweden"])
            else:
                doc = await client.result("OpenDoc", -1, {"qDocName": "tiny"})
                obj = await client.result("CreateSessionObject", 1, {"qProp": HC_PROPS})
                field = await client.result(
                    "GetField", 1, {"qFieldName": "Country", "qUnknownKey": 1}
                )
                sel = await client.result("Select", 3, {"qMatch": "Sweden"})
            obj["qReturn"].pop("qGenericId")
            layout = await client.result("GetLayout", 2)
            layout["qLayout"].pop("qInfo")
            results.append((doc, obj, field, sel, layout))
    assert results[0] == results[1]


def test_defaults_are_filled_with_fresh_copies() -> None:
    method = bundled_schema().method("Field", "SelectValues")
    assert method is not None
    values, given = bind_params(method, [])
    assert values == [[{"qText": "", "qIsNumeric": False, "qNumber": 0}], False, False]
    assert given == frozenset()
    values[0][0]["qText"] = "changed"
    again, _ = bind_params(method, {"qToggleMode": True})
    assert again[0][0]["qText"] == ""
    assert again[1] is True
    # null stands for an omitted argument (enigma.js sends undefined that way).
    nulls, given = bind_params(method, [None, True])
    assert nulls[0] == [{"qText": "", "qIsNumeric": False, "qNumber": 0}]
    assert given == frozenset({"qToggleMode"})


async def test_omitted_optional_params_work_on_the_wire(client: Client) -> None:
    await client.open()
    assert await client.result("ClearAll", 1) == {}
    field = (await client.result("GetField", 1, ["Country"]))["qReturn"]["qHandle"]
    assert await client.result("Select", field, ["Norway"]) == {"qReturn": True}


# -- handles and objects --------------------------------------------------------


async def test_open_doc_ref_and_active_doc(client: Client) -> None:
    reply = await client.send("GetActiveDoc")
    assert reply["error"] == {
        "code": 1007,
        "parameter": "No active document",
        "message": "App invalid",
    }
    reply = await client.send("OpenDoc", -1, ["tiny"])
    ref = {"qType": "Doc", "qHandle": 1, "qGenericId": "tiny"}
    assert reply["result"] == {"qReturn": ref}
    assert reply["change"] == [1]
    reply = await client.send("GetActiveDoc")
    assert reply["result"] == {"qReturn": ref}
    assert "change" not in reply


async def test_unknown_app_is_not_found(client: Client) -> None:
    reply = await client.send("OpenDoc", -1, ["nope"])
    assert reply["error"]["code"] == 1003
    assert reply["error"]["message"] == "App not found"


async def test_default_app_answers_any_name() -> None:
    async with tiny_engine(default_app="tiny") as engine, connect(engine.url) as ws:
        await ws.recv()
        reply = await Client(ws, {}).result("OpenDoc", -1, ["whatever.qvf"])
        assert reply["qReturn"]["qGenericId"] == "whatever.qvf"


async def test_create_session_object_ref_and_change(client: Client) -> None:
    await client.open()
    reply = await client.send(
        "CreateSessionObject", 1, [{"qInfo": {"qId": "o1", "qType": "x"}}]
    )
    ref = {
        "qType": "GenericObject",
        "qHandle": 2,
        "qGenericType": "x",
        "qGenericId": "o1",
    }
    assert reply["result"] == {"qReturn": ref}
    assert reply["change"] == [2]
    # A generated id when empty; handles count up.
    reply = await client.send("CreateSessionObject", 1, [{"qInfo": {"qType": "x"}}])
    assert reply["result"]["qReturn"]["qHandle"] == 3
    assert reply["result"]["qReturn"]["qGenericId"]
    # GetObject gives the same handle again.
    assert (await client.result("GetObject", 1, ["o1"]))["qReturn"] == ref
    assert (await client.result("GetObject", 1, {"qId": "o1"}))["qReturn"] == ref


async def test_create_session_object_needs_a_type(client: Client) -> None:
    await client.open()
    reply = await client.send("CreateSessionObject", 1, [{"qInfo": {"qId": "a"}}])
    assert reply["error"]["code"] in (8, -32602)


async def test_missing_object_is_the_null_ref(client: Client) -> None:
    await client.open()
    reply = await client.send("GetObject", 1, ["missing"])
    assert reply["result"] == {"qReturn": {"qType": None, "qHandle": None}}


async def test_destroy_closes_the_handle(client: Client) -> None:
    handle = await make_object(client, {"qInfo": {"qId": "gone", "qType": "x"}})
    reply = await client.send("DestroySessionObject", 1, ["gone"])
    assert reply["result"] == {"qSuccess": True}
    assert reply["close"] == [handle]
    assert "change" not in reply or handle not in reply["change"]
    assert (await client.send("GetLayout", handle))["error"]["code"] == -32602
    again = await client.send("DestroySessionObject", 1, ["gone"])
    assert again["result"] == {"qSuccess": False}
    assert "close" not in again


async def test_get_field_ref(client: Client) -> None:
    await client.open()
    ref = (await client.result("GetField", 1, ["Country"]))["qReturn"]
    assert ref["qType"] == "Field"
    assert isinstance(ref["qHandle"], int)
    assert (await client.result("GetCardinal", ref["qHandle"])) == {"qReturn": 3}


async def test_global_extras(client: Client) -> None:
    assert (await client.result("AllowCreateApp")) == {"qReturn": True}
    assert (await client.result("IsDesktopMode")) == {"qReturn": False}
    for method in ("ProductVersion", "QvVersion", "OSName", "OSVersion", "QTProduct"):
        assert isinstance((await client.result(method))["qReturn"], str)
    assert (await client.result("GetUniqueID"))["qUniqueID"]
    assert "UserId=" in (await client.result("GetAuthenticatedUser"))["qReturn"]
    docs = (await client.result("GetDocList"))["qDocList"]
    assert [d["qDocName"] for d in docs] == ["tiny"]
    assert {"qDocId", "qConnectedUsers", "qFileSize", "qFileTime", "qMeta"} <= set(
        docs[0]
    )


async def test_doc_facts(client: Client) -> None:
    await client.open()
    locale = (await client.result("GetLocaleInfo", 1))["qReturn"]
    assert locale["qDecimalSep"] == "."
    assert locale["qThousandSep"] == ","
    layout = (await client.result("GetAppLayout", 1))["qLayout"]
    assert layout["qTitle"] == "tiny"
    assert layout["qLocaleInfo"] == locale
    assert (await client.result("Evaluate", 1, ["Sum(Sales)"])) == {"qReturn": "42"}
    value = (await client.result("EvaluateEx", 1, ["Count(Country)"]))["qValue"]
    assert value == {"qText": "4", "qIsNumeric": True, "qNumber": 4}


# -- layouts --------------------------------------------------------------------


async def test_layout_computes_defs_and_expressions(client: Client) -> None:
    handle = await make_object(client)
    layout = (await client.result("GetLayout", handle))["qLayout"]
    assert layout["qInfo"]["qType"] == "table"
    assert layout["qSelectionInfo"] == {}
    assert "qHyperCubeDef" not in layout
    cube = layout["qHyperCube"]
    assert cube["qSize"] == {"qcx": 1, "qcy": 3}
    assert cube["customProperty"] == "kept"
    assert [row[0]["qText"] for row in cube["qDataPages"][0]["qMatrix"]] == [
        "Sweden",
        "Norway",
        "Denmark",
    ]
    assert layout["title"] == "42"
    assert layout["nested"] == {"deep": [{"value": 4}]}
    assert layout["userProp"] == {"a": [1, 2]}


async def test_list_and_selection_objects(client: Client) -> None:
    props = {
        "qInfo": {"qType": "filter"},
        "qListObjectDef": {"qDef": {"qFieldDefs": ["City"]}},
        "sel": {"qSelectionObjectDef": {}},
        "fields": {"qFieldListDef": {}},
        "dims": {"qDimensionListDef": {}},
    }
    handle = await make_object(client, props)
    layout = (await client.result("GetLayout", handle))["qLayout"]
    assert layout["qListObject"]["qSize"] == {"qcx": 1, "qcy": 4}
    assert layout["sel"] == {
        "qSelectionObject": {"qBackCount": 0, "qForwardCount": 0, "qSelections": []}
    }
    assert [f["qName"] for f in layout["fields"]["qFieldList"]["qItems"]] == [
        "Country",
        "City",
        "Sales",
    ]
    assert layout["dims"] == {"qDimensionList": {"qItems": []}}
    reply = await client.send(
        "SelectListObjectValues", handle, ["/qListObjectDef", [2], False]
    )
    assert reply["result"] == {"qSuccess": True}
    assert handle in reply["change"]
    pages = [{"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 4}]
    data = await client.result("GetListObjectData", handle, ["/qListObjectDef", pages])
    states = [row[0]["qState"] for row in data["qDataPages"][0]["qMatrix"]]
    assert states == ["O", "O", "S", "O"]
    layout = (await client.result("GetLayout", handle))["qLayout"]
    assert layout["sel"]["qSelectionObject"]["qSelections"][0]["qField"] == "City"
    await client.result("ClearSelections", handle, ["/qListObjectDef"])
    layout = (await client.result("GetLayout", handle))["qLayout"]
    assert layout["sel"]["qSelectionObject"]["qSelections"] == []


async def test_properties_round_trip_and_set_invalidates(client: Client) -> None:
    handle = await make_object(client)
    props = (await client.result("GetProperties", handle))["qProp"]
    assert props["qHyperCubeDef"] == HC_PROPS["qHyperCubeDef"]
    info = (await client.result("GetInfo", handle))["qInfo"]
    assert info == props["qInfo"]
    props["userProp"] = "new"
    reply = await client.send("SetProperties", handle, [props])
    assert reply["result"] == {}
    assert reply["change"] == [handle]
    assert (await client.result("GetProperties", handle))["qProp"] == props
    assert (await client.result("GetLayout", handle))["qLayout"]["userProp"] == "new"


async def test_bad_path_is_an_error(client: Client) -> None:
    handle = await make_object(client)
    pages = [{"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 1}]
    reply = await client.send("GetHyperCubeData", handle, ["/nope", pages])
    assert reply["error"]["code"] == 4


# -- change / close -------------------------------------------------------------


async def test_selection_changes_list_objects_and_doc(client: Client) -> None:
    first = await make_object(client)
    second = (await client.result("CreateSessionObject", 1, [HC_PROPS]))["qReturn"][
        "qHandle"
    ]
    field = (await client.result("GetField", 1, ["Country"]))["qReturn"]["qHandle"]
    reply = await client.send("Select", field, ["Sweden"])
    assert reply["result"] == {"qReturn": True}
    assert {1, first, second} <= set(reply["change"])
    # Reads carry no change.
    for method in ("GetLayout", "GetProperties", "GetInfo"):
        assert "change" not in await client.send(method, first)
    pages = [{"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 5}]
    data = await client.send("GetHyperCubeData", first, ["/qHyperCubeDef", pages])
    assert "change" not in data
    assert [r[0]["qText"] for r in data["result"]["qDataPages"][0]["qMatrix"]] == [
        "Sweden"
    ]
    # Selecting the same again changes nothing, so nothing is invalidated.
    assert "change" not in await client.send("Select", field, ["Sweden"])
    reply = await client.send(
        "SelectHyperCubeValues", first, ["/qHyperCubeDef", 0, [2], True]
    )
    assert reply["result"] == {"qSuccess": True}
    assert {1, first, second} <= set(reply["change"])
    reply = await client.send("ClearAll", 1)
    assert {1, first, second} <= set(reply["change"])


async def test_field_methods(client: Client) -> None:
    await client.open()
    field = (await client.result("GetField", 1, ["City"]))["qReturn"]["qHandle"]
    assert await client.result("SelectValues", field, [[{"qText": "Oslo"}]]) == {
        "qReturn": True
    }
    assert await client.result("ToggleSelect", field, ["Lund"]) == {"qReturn": True}
    assert await client.result("LowLevelSelect", field, [[0, 1], False]) == {
        "qReturn": True
    }
    assert await client.result("SelectAll", field) == {"qReturn": True}
    assert await client.result("Clear", field) == {"qReturn": True}
    assert await client.result("GetAndMode", field) == {"qReturn": False}
    missing = (await client.result("GetField", 1, ["NoField"]))["qReturn"]["qHandle"]
    assert await client.result("Select", missing, ["x"]) == {"qReturn": False}
    assert await client.result("GetCardinal", missing) == {"qReturn": 0}


async def test_locks_states_and_cells(client: Client) -> None:
    handle = await make_object(client)
    field = (await client.result("GetField", 1, ["Country"]))["qReturn"]["qHandle"]
    await client.result("Select", field, ["Sweden"])
    assert await client.result("Lock", field) == {"qReturn": True}
    assert await client.result("Select", field, ["Norway"]) == {"qReturn": False}
    assert await client.result("Select", field, ["Norway", True]) == {"qReturn": True}
    await client.result("ClearAll", 1)
    assert await client.result("Clear", field) == {"qReturn": False}
    reply = await client.send("ClearAll", 1, {"qLockedAlso": True})
    assert 1 in reply["change"]
    assert await client.result("Clear", field) == {"qReturn": True}
    await client.result("LockAll", 1)
    await client.result("UnlockAll", 1)
    assert await client.result("BackCount", 1) == {"qReturn": 0}
    assert await client.result("Back", 1) == {}
    reply = await client.send(
        "SelectHyperCubeCells", handle, ["/qHyperCubeDef", [1], [0]]
    )
    assert reply["result"] == {"qSuccess": True}
    assert {1, handle} <= set(reply["change"])
    layout = (await client.result("GetLayout", handle))["qLayout"]
    assert layout["qHyperCube"]["qSize"]["qcy"] == 1
    assert await client.result("AddAlternateState", 1, ["B"]) == {}
    app = (await client.result("GetAppLayout", 1))["qLayout"]
    assert app["qStateNames"] == ["B"]
    assert (await client.send("AddAlternateState", 1, ["$"]))["error"]["code"] == 8
    assert await client.result("RemoveAlternateState", 1, ["B"]) == {}


# -- delta ----------------------------------------------------------------------


def apply_qix(doc: Any, patches: list[dict[str, Any]]) -> Any:
    """Apply QIX patches: "/" is the whole value, the rest is RFC 6902."""
    for patch in patches:
        if patch["path"] == "/":
            doc = copy.deepcopy(patch["value"])
        else:
            doc = jsonpatch.apply_patch(doc, [patch])
    return doc


async def test_delta_layouts(client: Client) -> None:
    handle = await make_object(client)
    first = await client.send("GetLayout", handle, delta=True)
    assert first["delta"] is True
    [patch] = first["result"]["qLayout"]
    assert patch["op"] == "add"
    assert patch["path"] == "/"
    cached = patch["value"]
    plain = await client.send("GetLayout", handle)
    assert "delta" not in plain
    assert cached == plain["result"]["qLayout"]
    again = await client.send("GetLayout", handle, delta=True)
    assert again["result"] == {"qLayout": []}

    field = (await client.result("GetField", 1, ["Country"]))["qReturn"]["qHandle"]
    await client.send("Select", field, ["Norway"])
    changed = await client.send("GetLayout", handle, delta=True)
    patches = changed["result"]["qLayout"]
    assert patches
    assert all(p["path"] != "/" for p in patches)
    expected = (await client.result("GetLayout", handle))["qLayout"]
    assert apply_qix(cached, patches) == expected


async def test_every_result_key_is_a_patch_list_in_delta(client: Client) -> None:
    reply = await client.send("OpenDoc", -1, ["tiny"], delta=True)
    ref = {"qType": "Doc", "qHandle": 1, "qGenericId": "tiny"}
    assert reply["result"] == {"qReturn": [{"op": "add", "path": "/", "value": ref}]}
    assert reply["change"] == [1]
    field = await client.send("GetField", 1, ["Country"], delta=True)
    fh = field["result"]["qReturn"][0]["value"]["qHandle"]
    sel = await client.send("Select", fh, ["Sweden"], delta=True)
    assert sel["result"] == {"qReturn": [{"op": "add", "path": "/", "value": True}]}
    sel = await client.send("Select", fh, ["Sweden"], delta=True)
    assert sel["result"] == {"qReturn": []}
    void = await client.send("ClearAll", 1, delta=True)
    assert void["result"] == {}
    version = await client.send("EngineVersion", delta=True)
    assert version["result"]["qVersion"][0]["path"] == "/"
    assert (await client.send("EngineVersion", delta=True))["result"] == {
        "qVersion": []
    }
    # Errors are never delta.
    error = await client.send("OpenDoc", -1, ["other"], delta=True)
    assert "delta" not in error
    assert error["error"]["code"] == 1002


async def test_delta_entries_end_with_the_handle(client: Client) -> None:
    handle = await make_object(client, {"qInfo": {"qId": "a", "qType": "x"}})
    await client.send("GetLayout", handle, delta=True)
    await client.send("DestroySessionObject", 1, ["a"])
    again = await make_object_on_open_doc(client, {"qInfo": {"qId": "a", "qType": "x"}})
    assert again != handle
    first = await client.send("GetLayout", again, delta=True)
    assert first["result"]["qLayout"][0]["op"] == "add"


async def make_object_on_open_doc(client: Client, props: Mapping[str, Any]) -> int:
    handle: int = (await client.result("CreateSessionObject", 1, [props]))["qReturn"][
        "qHandle"
    ]
    return handle


# -- robustness -----------------------------------------------------------------


async def test_client_dropping_mid_request_does_not_hurt_the_engine(
    engine: Engine,
) -> None:
    for _ in range(3):
        ws = await connect(engine.url)
        await ws.recv()
        frame = {
            "jsonrpc": "2.0",
            "id": 1,
            "handle": -1,
            "method": "OpenDoc",
            "params": ["tiny"],
        }
        await ws.send(json.dumps(frame))
        ws.transport.abort()  # no close handshake at all
    await asyncio.sleep(0.05)
    async with connect(engine.url) as ws:
        await ws.recv()
        assert (await Client(ws, {}).result("EngineVersion"))["qVersion"]


def test_internal_errors_become_replies() -> None:
    class Broken(TinyState):
        def hypercube_layout(self, hc_def: Mapping[str, Any], state: str = "$") -> dict:
            raise RuntimeError("boom")

    catalog = AppCatalog({"tiny": object()}, lambda app: Broken(ROWS))
    session = EngineSession(catalog)
    session.handle_frame(
        json.dumps({"id": 1, "handle": -1, "method": "OpenDoc", "params": ["tiny"]})
    )
    session.handle_frame(
        json.dumps(
            {
                "id": 2,
                "handle": 1,
                "method": "CreateSessionObject",
                "params": [HC_PROPS],
            }
        )
    )
    reply = json.loads(
        session.handle_frame(json.dumps({"id": 3, "handle": 2, "method": "GetLayout"}))
    )
    assert reply["id"] == 3
    assert reply["error"]["code"] == -32603
    assert "boom" in reply["error"]["parameter"]


def test_nan_is_sent_as_a_string() -> None:
    class NaNState(TinyState):
        def evaluate(self, expr: str, state: str = "$") -> dict[str, Any]:
            return {"qText": "-", "qIsNumeric": False, "qNumber": float("nan")}

    catalog = AppCatalog({"tiny": object()}, lambda app: NaNState(ROWS))
    session = EngineSession(catalog)
    session.handle_frame(
        json.dumps({"id": 1, "handle": -1, "method": "OpenDoc", "params": ["tiny"]})
    )
    text = session.handle_frame(
        json.dumps({"id": 2, "handle": 1, "method": "EvaluateEx", "params": ["x"]})
    )
    assert json.loads(text)["result"]["qValue"]["qNumber"] == "NaN"


def test_tiny_state_fits_the_protocol() -> None:
    assert isinstance(TinyState(ROWS), DocStateLike)


def test_thread_runner_serves_sync_clients() -> None:
    with run_engine_in_thread(
        {"tiny": object()}, doc_state_factory=lambda app: TinyState(ROWS)
    ) as engine:
        with connect_sync(engine.url) as ws:
            assert json.loads(ws.recv())["method"] == "OnConnected"
            ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "handle": -1,
                        "method": "OpenDoc",
                        "params": ["tiny"],
                    }
                )
            )
            assert json.loads(ws.recv())["result"]["qReturn"]["qHandle"] == 1
        port = engine.port
    # Stopped: the port no longer accepts connections.
    with pytest.raises(ConnectionRefusedError):
        connect_sync(f"ws://127.0.0.1:{port}/app/tiny", open_timeout=2)


# -- the real data layer --------------------------------------------------------


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "sales.csv"
    lines = ["region,product,amount"]
    regions = ["North", "South", "East", "West"]
    products = ["apple", "pear", "plum"]
    for i in range(60):
        lines.append(f"{regions[i % 4]},{products[i % 3]},{(i * 7) % 23 + 1}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_hypercube_after_select_matches_duckdb(csv_file: Path) -> None:
    model = pytest.importorskip("rxqix.engine.model")
    duckdb = pytest.importorskip("duckdb")
    app = model.AppData.from_files("sales", [csv_file])
    props = {
        "qInfo": {"qType": "table"},
        "qHyperCubeDef": {
            "qDimensions": [{"qDef": {"qFieldDefs": ["product"]}}],
            "qMeasures": [{"qDef": {"qDef": "Sum(amount)"}}],
            "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 50}],
        },
    }
    async with Engine({"sales": app}) as engine, connect(engine.url) as ws:
        await ws.recv()
        client = Client(ws, {})
        await client.open("sales")
        handle = await make_object_on_open_doc(client, props)
        first = await client.send("GetLayout", handle, delta=True)
        [root] = first["result"]["qLayout"]
        field = (await client.result("GetField", 1, ["region"]))["qReturn"]["qHandle"]
        reply = await client.send("Select", field, ["North"])
        assert reply["result"] == {"qReturn": True}
        assert handle in reply["change"]
        layout = (await client.result("GetLayout", handle))["qLayout"]
        # The delta answer, patched onto the first layout, is that layout.
        patches = (await client.send("GetLayout", handle, delta=True))["result"]
        assert patches["qLayout"]
        assert apply_qix(root["value"], patches["qLayout"]) == layout

    got = {
        row[0]["qText"]: row[1]["qNum"]
        for row in layout["qHyperCube"]["qDataPages"][0]["qMatrix"]
    }
    con = duckdb.connect()
    expected = dict(
        con.execute(
            "select product, sum(amount) from read_csv(?, header=true) "
            "where region = 'North' group by product",
            [str(csv_file)],
        ).fetchall()
    )
    assert got == {k: float(v) for k, v in expected.items()}
    assert layout["qHyperCube"]["qSize"]["qcy"] == len(expected)


def test_debug_log_hides_the_open_doc_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = AppCatalog({"tiny": object()}, lambda app: TinyState(ROWS))
    session = EngineSession(catalog)
    with caplog.at_level(logging.DEBUG, logger="rxqix.engine.session"):
        for params in (
            ["tiny", "me", "s3cret"],
            {"qDocName": "x", "qPassword": "s3cret"},
        ):
            frame = {"id": 1, "handle": -1, "method": "OpenDoc", "params": params}
            session.handle_frame(json.dumps(frame))
        session.handle_frame(b"\xff not json")
    assert "<- " in caplog.text
    assert "s3cret" not in caplog.text


async def test_deeply_nested_frame_still_gets_one_reply(client: Client) -> None:
    await client.ws.send("[" * 100_000 + "]" * 100_000)
    reply = json.loads(await client.ws.recv())
    assert reply["error"]["code"] == -32700
    assert (await client.result("EngineVersion"))["qVersion"]


async def test_frames_of_many_megabytes_pass_both_ways(engine: Engine) -> None:
    big = "x" * (3 * 2**20)
    async with connect(engine.url, max_size=None) as ws:
        await ws.recv()
        client = Client(ws, {})
        handle = await make_object(client, {"qInfo": {"qType": "x"}, "blob": big})
        layout = (await client.result("GetLayout", handle))["qLayout"]
        assert layout["blob"] == big


async def test_create_object_answers_info_and_ref(client: Client) -> None:
    await client.open()
    reply = await client.send(
        "CreateObject", 1, [{"qInfo": {"qId": "c", "qType": "t"}}]
    )
    assert reply["result"] == {
        "qInfo": {"qId": "c", "qType": "t"},
        "qReturn": {
            "qType": "GenericObject",
            "qHandle": 2,
            "qGenericType": "t",
            "qGenericId": "c",
        },
    }
    delta = await client.send(
        "CreateObject", 1, [{"qInfo": {"qType": "t"}}], delta=True
    )
    assert set(delta["result"]) == {"qInfo", "qReturn"}
    assert all(isinstance(v, list) for v in delta["result"].values())
    destroyed = await client.send("DestroyObject", 1, ["c"])
    assert destroyed["result"] == {"qSuccess": True}
    assert destroyed["close"] == [2]


def test_light_methods_are_marked() -> None:
    session = EngineSession(AppCatalog({"tiny": object()}, lambda app: TinyState(ROWS)))
    session.handle_frame(
        json.dumps({"id": 1, "handle": -1, "method": "OpenDoc", "params": ["tiny"]})
    )
    session.handle_frame(
        json.dumps(
            {
                "id": 2,
                "handle": 1,
                "method": "CreateSessionObject",
                "params": [HC_PROPS],
            }
        )
    )

    def light(handle: int, method: str) -> bool:
        frame = json.dumps({"id": 9, "handle": handle, "method": method})
        return session.is_light(session.receive(frame))

    assert light(-1, "EngineVersion")
    assert light(2, "GetProperties")
    assert not light(-1, "OpenDoc")
    assert not light(2, "GetLayout")
    assert not light(1, "Evaluate")
    assert light(77, "GetLayout")  # unknown handle: an error, answered at once
    assert session.is_light(session.receive("not json"))


async def test_a_slow_request_does_not_hold_up_other_sessions() -> None:
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    class Slow(TinyState):
        def hypercube_layout(self, hc_def: Mapping[str, Any], state: str = "$") -> dict:
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)
            return super().hypercube_layout(hc_def, state)

    async with Engine(
        {"tiny": object()}, doc_state_factory=lambda app: Slow(ROWS)
    ) as engine:
        async with connect(engine.url) as slow_ws, connect(engine.url) as quick_ws:
            await slow_ws.recv()
            await quick_ws.recv()
            slow = Client(slow_ws, {})
            handle = await make_object(slow)
            pending = asyncio.ensure_future(slow.send("GetLayout", handle))
            await asyncio.sleep(0.05)
            quick = Client(quick_ws, {})
            assert (await asyncio.wait_for(quick.result("EngineVersion"), 2))[
                "qVersion"
            ]
            assert not pending.done()
            release.set()
            assert "result" in await asyncio.wait_for(pending, 10)

"""Side by side: one scenario through the real enigma.js and through rxqix.

``parity_scenario.js`` runs the scenario with enigma.js 2.15.0 against a local
engine; :func:`run_rxqix` runs the same steps with rxqix against a fresh
engine configured the same way (the first two Evaluate calls are aborted).
Both record the requests they sent, the events they saw, in order, and the
results they got, and the tests compare the three.

The scenario: a request interceptor (no delta for EngineVersion), a response
interceptor (retry aborted requests), mixins (a Global extend, a Doc override
of createSessionObject, an init, a generic-type extend and init), openDoc, a
session object with a hypercube, layouts before and after a field selection,
three errors (a missing object, a method the handle lacks, a bad path), a
call while suspended, suspend and resume on a URL with ``/ttl/30`` (the
engine keeps the session: attached, new handles, same properties), suspend
and resume without a TTL (a new engine session: the doc is opened again, the
object is closed), and close.

What legitimately differs is normalised before comparing, each for a stated
reason (see the ``normal_*`` functions); anything else fails the test.
"""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from flights import reference
from retry_aborted import RetryAborted

import rxqix
from rxqix._protocol.schema import Schema, bundled_schema
from rxqix.engine import Engine
from rxqix.engine.apps import AppData
from rxqix.engine.model import nycflights13_app
from rxqix.errors import EngineError, RxqixError

SCENARIO = Path(__file__).resolve().parent / "parity_scenario.js"
APP = "nycflights13"
ABORTS = {"Evaluate": 2}
pytestmark = pytest.mark.peer

CUBE: dict[str, Any] = {
    "qInfo": {"qId": "parity-cube", "qType": "parity-cube"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["carrier"]}}],
        "qMeasures": [
            {"qDef": {"qDef": "Count(flight)"}},
            {"qDef": {"qDef": "Sum(distance)"}},
        ],
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 3, "qHeight": 20}],
    },
    "title": {"qStringExpression": {"qExpr": "='Flights: ' & Count(flight)"}},
}
OTHER_CUBE: dict[str, Any] = {
    "qInfo": {"qId": "parity-other", "qType": "parity-cube"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["origin"]}}],
        "qMeasures": [{"qDef": {"qDef": "Avg(dep_delay)"}}],
        "qInitialDataFetch": [{"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 5}],
    },
}
RESULTS = [
    "engineVersion",
    "tweet",
    "doc",
    "cube",
    "layout",
    "rowCount",
    "evaluate",
    "select",
    "selectedLayout",
    "notFound",
    "badMethod",
    "badPath",
    "whileSuspended",
    "attached",
    "resumedLayout",
    "plainLayout",
    "created",
    "appProperties",
    "other",
    "otherLayout",
]


# -- the rxqix half ---------------------------------------------------------------


class Record:
    """What one client saw: requests sent, events in order, results by name."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.sent: list[dict[str, Any]] = []
        self.results: dict[str, Any] = {}

    def log(self, *entry: Any) -> None:
        self.events.append(json.loads(json.dumps(entry)))

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "sent": self.sent, "results": self.results}


def error_of(error: BaseException) -> dict[str, Any]:
    assert isinstance(error, RxqixError), repr(error)
    out: dict[str, Any] = {"code": error.code, "message": error.message}
    if isinstance(error, EngineError):
        out["parameter"] = error.parameter
    out["enigmaError"] = bool(getattr(error, "enigma_error", False))
    return out


async def failure(awaitable: Any) -> dict[str, Any]:
    try:
        await awaitable
    except RxqixError as exc:
        return error_of(exc)
    raise AssertionError("expected a failure")


def api_info(api: rxqix.ApiObject, *names: str) -> dict[str, Any]:
    """An API object's attributes as enigma.js's JSON shows them (None is absent)."""
    values = {
        "type": api.type,
        "id": api.id,
        "genericType": api.generic_type,
        "handle": api.handle,
    }
    return {k: values[k] for k in names if values[k] is not None}


def mixins(record: Record) -> list[dict[str, Any]]:
    async def tweet(api: rxqix.ApiObject) -> str:
        return f"{api.id} runs {await api.product_version()}"

    def create_session_object(
        api: rxqix.ApiObject, base: Any, *args: Any, **kwargs: Any
    ) -> Any:
        record.log("override", "createSessionObject", args[0]["qInfo"]["qId"])
        return base(*args, **kwargs)

    def init(api: rxqix.ApiObject, config: Any) -> None:
        record.log("init", api.type, api.id, api.generic_type)

    async def row_count(api: rxqix.ApiObject) -> int:
        count: int = (await api.get_layout())["qHyperCube"]["qSize"]["qcy"]
        return count

    def init_cube(api: rxqix.ApiObject, config: Any) -> None:
        record.log("init:parity-cube", api.id)

    return [
        {"types": ["Global"], "extend": {"tweet": tweet}},
        {
            "types": ["Doc"],
            "override": {"create_session_object": create_session_object},
        },
        {"types": ["Global", "Doc", "GenericObject"], "init": init},
        {
            "types": ["parity-cube"],
            "extend": {"row_count": row_count},
            "init": init_cube,
        },
    ]


class NoDeltaForEngineVersion:
    """examples/toggle_delta.py's interceptor, as the scenario uses it."""

    def on_fulfilled(
        self, session: rxqix.Session, request: rxqix.Request
    ) -> rxqix.Request:
        if request.method == "EngineVersion" and request.handle == -1:
            request.delta = False
        return request


class LoggedRetry(RetryAborted):
    """examples/retry_aborted.py's interceptor, logging what it sees."""

    def __init__(self, record: Record) -> None:
        super().__init__()
        self.record = record

    async def on_rejected(
        self, session: rxqix.Session, request: rxqix.Request, error: BaseException
    ) -> Any:
        code = getattr(error, "code", None)
        self.record.log("rejected", request.method, code)
        if code == 15 and request.tries <= self.max_retries:
            self.record.log("retry", request.method, request.tries)
        return await super().on_rejected(session, request, error)


def watch(record: Record, api: Any, name: str) -> Any:
    api.on("changed", lambda: record.log("api", name, "changed"))
    api.on("closed", lambda: record.log("api", name, "closed"))
    return api


def create_session(record: Record, url: str) -> rxqix.Session:
    session = rxqix.Session(
        url,
        mixins=mixins(record),
        request_interceptors=[NoDeltaForEngineVersion()],
        response_interceptors=[LoggedRetry(record)],
    )
    session.on("opened", lambda: record.log("session", "opened"))
    session.on(
        "closed",
        lambda event: record.log(
            "session", "closed", {"code": event.code, "reason": event.reason}
        ),
    )
    session.on("suspended", lambda event: record.log("session", "suspended", event))
    session.on("resumed", lambda: record.log("session", "resumed"))
    session.on(
        "notification:OnConnected",
        lambda params: record.log("notification:OnConnected", params),
    )
    session.on("traffic:sent", lambda frame: record.sent.append(copy.deepcopy(frame)))
    return session


async def kept_session(record: Record, base_url: str, run: str) -> None:
    results = record.results
    record.log("step", "kept session")
    session = create_session(record, f"{base_url}/app/{APP}/identity/{run}-kept/ttl/30")
    qix = watch(record, await session.open(), "global")
    results["engineVersion"] = await qix.engine_version()
    results["tweet"] = await qix.tweet()

    doc = watch(record, await qix.open_doc(APP), "doc")
    results["doc"] = api_info(doc, "type", "id", "genericType", "handle")
    cube = watch(record, await doc.create_session_object(copy.deepcopy(CUBE)), "cube")
    results["cube"] = api_info(cube, "type", "id", "genericType", "handle")
    results["layout"] = await cube.get_layout()
    results["rowCount"] = await cube.row_count()

    record.log("step", "evaluate, aborted twice by the engine")
    results["evaluate"] = await doc.evaluate("Count(flight)")

    record.log("step", "select")
    field = watch(record, await doc.get_field("origin"), "field")
    results["select"] = await field.select("JFK")
    results["selectedLayout"] = await cube.get_layout()

    record.log("step", "errors")
    results["notFound"] = await failure(doc.get_object("no-such-object"))
    results["badMethod"] = await failure(
        session.send(rxqix.Request(cube.handle, "Clear", [], None))
    )
    results["badPath"] = await failure(
        cube.get_hyper_cube_data(
            "/qNoSuchDef", [{"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 1}]
        )
    )

    record.log("step", "suspend and resume, attached")
    properties = await cube.get_properties()
    handles = {"doc": doc.handle, "cube": cube.handle}
    await session.suspend()
    results["whileSuspended"] = await failure(cube.get_layout())
    await session.resume()
    results["attached"] = {
        "docHandleChanged": doc.handle != handles["doc"],
        "cubeHandleChanged": cube.handle != handles["cube"],
        "sameProperties": await cube.get_properties() == properties,
    }
    results["resumedLayout"] = await cube.get_layout()
    await session.close()


async def plain_session(record: Record, base_url: str, run: str) -> None:
    results = record.results
    record.log("step", "plain session")
    session = create_session(record, f"{base_url}/app/{APP}/identity/{run}-plain")
    qix = watch(record, await session.open(), "global2")
    doc = watch(record, await qix.open_doc(APP), "doc2")
    await doc.set_app_properties({"qTitle": "parity", "test": True})
    cube = watch(record, await doc.create_session_object(copy.deepcopy(CUBE)), "cube2")
    results["plainLayout"] = await cube.get_layout()

    record.log("step", "suspend and resume, created")
    handles = {"doc": doc.handle, "cube": cube.handle}
    await session.suspend()
    await session.resume()
    results["created"] = {"docHandle": doc.handle, "oldDocHandle": handles["doc"]}
    results["appProperties"] = await doc.get_app_properties()
    other = watch(
        record, await doc.create_session_object(copy.deepcopy(OTHER_CUBE)), "other"
    )
    results["other"] = {
        "handle": other.handle,
        "id": other.id,
        "oldCubeHandle": handles["cube"],
    }
    results["otherLayout"] = await other.get_layout()
    await session.close()


async def run_rxqix(app: AppData) -> dict[str, Any]:
    record = Record()
    async with Engine({APP: app}, aborts=dict(ABORTS)) as engine:
        await kept_session(record, engine.base_url, "rxqix")
        await plain_session(record, engine.base_url, "rxqix")
    # The same JSON round trip the node half's output takes.
    result: dict[str, Any] = json.loads(json.dumps(record.as_json()))
    return result


# -- the enigma.js half -------------------------------------------------------------


async def run_enigma(app: AppData, enigma_package: Path) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the enigma.js peer needs Node.js")
    async with Engine({APP: app}, aborts=dict(ABORTS)) as engine:
        process = await asyncio.create_subprocess_exec(
            node,
            str(SCENARIO),
            engine.base_url,
            APP,
            "enigma",
            cwd=enigma_package.parent.parent,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.fixture(scope="module")
def runs(enigma_package: Path) -> dict[str, dict[str, Any]]:
    """Both halves, each against its own engine holding the same loaded app."""
    app = nycflights13_app()

    async def both() -> dict[str, dict[str, Any]]:
        return {
            "enigma": await run_enigma(app, enigma_package),
            "rxqix": await run_rxqix(app),
        }

    return asyncio.run(both())


# -- normalising what legitimately differs -------------------------------------------


def _in_params(schema: Schema, method: str) -> list[Any]:
    """The schema parameters of a method, the same in every struct that has it."""
    found = [
        methods[method].params
        for methods in schema.structs.values()
        if method in methods
    ]
    assert found, f"{method} is in no struct of the schema"
    names = {tuple(p.name for p in params) for params in found}
    assert len(names) == 1, f"{method} takes different params in different structs"
    return list(found[0])


def normal_request(frame: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """A sent frame in the form both clients can be compared in.

    * ``params``: enigma.js sends only the arguments given, rxqix fills omitted
      optional ones with the schema defaults (docs/decisions.md #3), so both
      are compared filled with the defaults.
    * ``tries``: enigma.js sends every key an interceptor puts on the request
      object, so the retry interceptor's counter goes on the wire; rxqix
      sends only a request's ``extra`` keys, and counts tries itself
      (docs/decisions.md #10, #11).
    * key order: no meaning in JSON-RPC.

    Ids are compared by :func:`normal_ids`, and exactly by their own test.
    """
    frame = dict(frame)
    frame.pop("tries", None)
    params = frame.get("params")
    if isinstance(params, list):
        spec = _in_params(schema, frame["method"])
        filled = list(params) + [p.default_value() for p in spec[len(params) :]]
        frame["params"] = filled
    return frame


def normal_ids(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frames with each id replaced by its rank within its session.

    Ids must grow within a session (a new session counts from 1 again), and
    are then compared as sequences: which request came first, and that a
    retry has an id of its own.
    """
    out: list[dict[str, Any]] = []
    last = 0
    rank = 0
    for frame in frames:
        if frame["id"] <= last:
            assert frame["id"] == 1, f"id {frame['id']} after {last}"
            rank = 0
        last = frame["id"]
        rank += 1
        out.append({**frame, "id": rank})
    return out


def normal_events(events: list[Any]) -> list[Any]:
    """The event log in the form both clients can be compared in.

    * The first OnConnected of a session may come before or after its
      ``opened`` (and the Global ``init`` before it): the engine sends it
      right after the handshake, and enigma.js itself sees it on either side
      depending on timing. It is put right after ``opened``.
    * When a session closes, each client closes every API object, then emits
      ``closed``. enigma.js goes through its API cache in JavaScript's key
      order (integer keys ascending, then "-1"), rxqix in the order the
      objects were made; the objects closed are compared as a set.
    """
    out: list[Any] = []
    pending_hello: list[Any] = []
    opened = True
    for entry in events:
        if entry == ["step", "kept session"] or entry == ["step", "plain session"]:
            opened = False
        if not opened and entry[0] == "notification:OnConnected":
            pending_hello.append(entry)
            continue
        out.append(entry)
        if entry == ["session", "opened"]:
            opened = True
            out.extend(pending_hello)
            pending_hello = []
    out.extend(pending_hello)

    # Sort each run of API closed events that ends in the session's closed.
    index = 0
    while index < len(out):
        if out[index][:2] == ["session", "closed"]:
            start = index
            while (
                start > 0
                and out[start - 1][0] == "api"
                and out[start - 1][2] == "closed"
            ):
                start -= 1
            out[start:index] = sorted(out[start:index])
        index += 1
    return out


def normal_result(value: Any) -> Any:
    """A result in the form both clients can be compared in.

    The messages of the client's own errors (not the engine's) are compared
    without case: rxqix words them as lower-case phrases ("object not
    found", docs/decisions.md B), enigma.js capitalises them ("Object not
    found"); codes and engine errors are compared as they are.
    """
    if isinstance(value, dict) and value.get("enigmaError") is True:
        return {**value, "message": value["message"].lower()}
    return value


# -- the comparisons ------------------------------------------------------------------


def test_the_same_requests_are_sent(runs: dict[str, dict[str, Any]]) -> None:
    schema = bundled_schema()
    enigma = normal_ids([normal_request(f, schema) for f in runs["enigma"]["sent"]])
    ours = normal_ids([normal_request(f, schema) for f in runs["rxqix"]["sent"]])
    for index, (theirs, mine) in enumerate(zip(enigma, ours, strict=False)):
        assert mine == theirs, f"request #{index} differs"
    assert len(ours) == len(enigma)


def test_request_ids_are_the_ones_enigma_js_gives(
    runs: dict[str, dict[str, Any]],
) -> None:
    """The ids themselves: enigma.js takes none for a call refused while suspended.

    The scenario makes one call while suspended (``whileSuspended``); enigma.js
    rejects it before taking an id, so the resume's GetActiveDoc gets the next
    one.
    """
    enigma = [(f["method"], f["id"]) for f in runs["enigma"]["sent"]]
    ours = [(f["method"], f["id"]) for f in runs["rxqix"]["sent"]]
    assert ours == enigma


def test_the_same_events_are_seen_in_the_same_order(
    runs: dict[str, dict[str, Any]],
) -> None:
    enigma = normal_events(runs["enigma"]["events"])
    ours = normal_events(runs["rxqix"]["events"])
    assert ours == enigma


@pytest.mark.parametrize("name", RESULTS)
def test_the_same_results_come_back(runs: dict[str, dict[str, Any]], name: str) -> None:
    enigma = runs["enigma"]["results"]
    ours = runs["rxqix"]["results"]
    assert name in enigma, f"enigma.js has no result {name!r}"
    assert normal_result(ours.get(name)) == normal_result(enigma[name])


def test_every_result_is_compared(runs: dict[str, dict[str, Any]]) -> None:
    assert set(runs["enigma"]["results"]) == set(RESULTS)
    assert set(runs["rxqix"]["results"]) == set(RESULTS)


# -- the scenario did what it is meant to do (so equal records mean something) ------


def test_the_scenario_exercised_what_it_compares(
    runs: dict[str, dict[str, Any]],
) -> None:
    seen = runs["enigma"]
    results, events = seen["results"], seen["events"]
    row = reference().execute("select count(flight) from flights").fetchone()
    assert row is not None
    assert results["evaluate"] == str(row[0])
    assert ["retry", "Evaluate", 1] in events
    assert ["retry", "Evaluate", 2] in events
    assert results["notFound"]["code"] == -2
    assert (results["badMethod"]["code"], results["badMethod"]["parameter"]) == (
        -32601,
        "Clear",
    )
    assert results["badPath"]["code"] == 4
    assert results["whileSuspended"]["code"] == -11
    assert results["attached"] == {
        "docHandleChanged": True,
        "cubeHandleChanged": True,
        "sameProperties": True,
    }
    assert results["resumedLayout"] == results["selectedLayout"]
    assert results["selectedLayout"] != results["layout"]
    states = [
        e[1]["qSessionState"] for e in events if e[0] == "notification:OnConnected"
    ]
    assert states == [
        "SESSION_CREATED",
        "SESSION_ATTACHED",
        "SESSION_CREATED",
        "SESSION_CREATED",
    ]
    assert ["api", "cube2", "closed"] in events
    assert results["appProperties"] == {"qTitle": "parity", "test": True}
    wire = [f for f in seen["sent"] if f["method"] == "EngineVersion"]
    assert [f["delta"] for f in wire] == [False]

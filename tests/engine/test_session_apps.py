"""Session apps (CreateSessionApp, /app/SessionApp_<id>) and app properties."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pandas as pd
import pytest
from raw_client import Client, Connect

import rxqix
from rxqix.engine import Engine
from rxqix.engine.apps import AppData

SESSION_APP_ID = re.compile(
    r"^SessionApp_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


@pytest.fixture(scope="module")
def app() -> AppData:
    return AppData.from_frames(
        "shop", {"orders": pd.DataFrame({"region": ["East", "West"], "n": [1, 2]})}
    )


@pytest.fixture
async def engine(app: AppData) -> AsyncIterator[Engine]:
    async with Engine({"shop": app}) as running:
        yield running


# -- CreateSessionApp -------------------------------------------------------------


async def test_create_session_app_answers_the_id_and_a_doc_reference(
    engine: Engine,
) -> None:
    async with Connect(engine.url_for("shop")) as client:
        reply = await client.send("CreateSessionApp")
        result = reply["result"]
        assert SESSION_APP_ID.match(result["qSessionAppId"])
        # Like Qlik Cloud's: a reference with no qGenericId.
        assert result["qReturn"] == {"qType": "Doc", "qHandle": 1}
        assert reply["change"] == [1]
        # Once open, the doc is named by its id (the Python SDK needs it).
        active = (await client.result("GetActiveDoc"))["qReturn"]
        assert active == {
            "qType": "Doc",
            "qHandle": 1,
            "qGenericId": result["qSessionAppId"],
        }


async def test_a_session_app_is_empty_until_a_reload(engine: Engine) -> None:
    async with Connect(engine.url_for("shop")) as client:
        await client.result("CreateSessionApp")
        layout = (await client.result("GetAppLayout", 1))["qLayout"]
        assert "qHasData" not in layout
        assert "qLastReloadTime" not in layout
        assert layout["qTitle"].startswith("SessionApp_")
        fields = await client.result(
            "CreateSessionObject",
            1,
            [{"qInfo": {"qType": "fields"}, "qFieldListDef": {}}],
        )
        handle = fields["qReturn"]["qHandle"]
        assert (await client.result("GetLayout", handle))["qLayout"]["qFieldList"] == {
            "qItems": []
        }
        # Expressions without fields still work.
        assert (await client.result("Evaluate", 1, ["1+1"]))["qReturn"] == "2"
        # Session apps are not in the doc list.
        names = [d["qDocName"] for d in (await client.result("GetDocList"))["qDocList"]]
        assert names == ["shop"]


async def test_create_session_app_in_delta_form_patches_every_key(
    engine: Engine,
) -> None:
    async with Connect(engine.url_for("shop")) as client:
        reply = await client.send("CreateSessionApp", delta=True)
        assert reply["delta"] is True
        assert reply["result"]["qReturn"] == [
            {"op": "add", "path": "/", "value": {"qType": "Doc", "qHandle": 1}}
        ]
        [patch] = reply["result"]["qSessionAppId"]
        assert SESSION_APP_ID.match(patch["value"])


async def test_one_app_per_session(engine: Engine) -> None:
    async with Connect(engine.url_for("shop")) as client:
        await client.result("CreateSessionApp")
        assert (await client.send("CreateSessionApp"))["error"]["code"] == 1002
        assert (await client.send("OpenDoc", -1, ["shop"]))["error"]["code"] == 1002
    async with Connect(engine.url_for("shop")) as client:
        await client.result("OpenDoc", -1, ["shop"])
        assert (await client.send("CreateSessionApp"))["error"]["code"] == 1002


# -- /app/SessionApp_<id> ---------------------------------------------------------


async def test_open_doc_of_a_session_app_id_opens_an_empty_app(
    engine: Engine,
) -> None:
    name = "SessionApp_2f6d1c3e-0b7e-4f0e-9d63-0d6c1f2a8b11"
    async with Connect(engine.url_for(name)) as client:
        assert client.state == "SESSION_CREATED"
        ref = (await client.result("OpenDoc", -1, [name]))["qReturn"]
        assert ref == {"qType": "Doc", "qHandle": 1, "qGenericId": name}
        layout = (await client.result("GetAppLayout", 1))["qLayout"]
        assert "qHasData" not in layout
        # Opening it again in the session gives the same doc.
        assert (await client.result("OpenDoc", -1, [name]))["qReturn"] == ref


async def test_the_default_app_does_not_answer_session_app_ids(app: AppData) -> None:
    async with Engine({"shop": app}, default_app="shop") as engine:
        async with Connect(engine.url_for("anything")) as client:
            await client.result("OpenDoc", -1, ["SessionApp_x"])
            layout = (await client.result("GetAppLayout", 1))["qLayout"]
            assert "qHasData" not in layout


async def test_a_session_app_is_kept_with_its_session(engine: Engine) -> None:
    url = engine.url_for("SessionApp_kept", ttl=30)
    async with Connect(url) as first:
        await client_opens_and_marks(first, "SessionApp_kept")
    async with Connect(url) as second:
        assert second.state == "SESSION_ATTACHED"
        doc = (await second.result("GetActiveDoc"))["qReturn"]
        assert doc["qGenericId"] == "SessionApp_kept"
        props = (await second.result("GetAppProperties", doc["qHandle"]))["qProp"]
        assert props == {"marked": True}
    # Another session (another identity) of that id gets an app of its own.
    async with Connect(engine.url_for("SessionApp_kept", identity="b")) as third:
        assert third.state == "SESSION_CREATED"
        await third.result("OpenDoc", -1, ["SessionApp_kept"])
        props = (await third.result("GetAppProperties", 1))["qProp"]
        assert "marked" not in props


async def client_opens_and_marks(client: Client, name: str) -> None:
    handle = (await client.result("OpenDoc", -1, [name]))["qReturn"]["qHandle"]
    await client.result("SetAppProperties", handle, [{"marked": True}])


# -- app properties ---------------------------------------------------------------


async def test_app_properties_round_trip_and_invalidate_the_doc(
    engine: Engine,
) -> None:
    async with Connect(engine.url_for("shop")) as client:
        await client.result("OpenDoc", -1, ["shop"])
        props = (await client.result("GetAppProperties", 1))["qProp"]
        assert props["qTitle"] == "shop"
        assert props["qLastReloadTime"]
        reply = await client.send("SetAppProperties", 1, [{"qTitle": "Shop", "x": 1}])
        assert reply["result"] == {}
        assert reply["change"] == [1]
        assert (await client.result("GetAppProperties", 1))["qProp"] == {
            "qTitle": "Shop",
            "x": 1,
        }
        bad = await client.send("SetAppProperties", 1, ["no"])
        assert bad["error"]["code"] == -32602


async def test_unsaved_app_properties_are_seen_by_a_later_session(
    engine: Engine,
) -> None:
    """They belong to the app (as enigma.js's resume test relies on)."""
    async with Connect(engine.url_for("shop")) as first:
        await client_opens_and_marks(first, "shop")
    async with Connect(engine.url_for("shop")) as second:
        assert second.state == "SESSION_CREATED"
        await second.result("OpenDoc", -1, ["shop"])
        assert (await second.result("GetAppProperties", 1))["qProp"] == {"marked": True}


# -- through rxqix ------------------------------------------------------------------


async def test_rxqix_names_the_session_app_doc_by_its_id(engine: Engine) -> None:
    async with rxqix.Session(engine.url_for("shop")) as qix:
        app = await qix.create_session_app()
        assert (app.type, app.handle) == ("Doc", 1)
        assert SESSION_APP_ID.match(app.id)
        assert await app.evaluate("2*3") == "6"
        active = await qix.get_active_doc()
        assert active is app

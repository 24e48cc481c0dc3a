"""The dashboard server over real sockets, without a browser.

A websocket client speaks the page's protocol to a dashboard in front of the
local engine; the numbers it receives are checked against DuckDB.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from dashboard_support import (
    PageClient,
    assert_numbers,
    chart_rows,
    per_month,
    table_rows,
)
from flights import per_carrier
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rxqix.dashboard import DashboardServer
from rxqix.engine import Engine
from rxqix.errors import EngineError

PANELS = ("carriers", "months", "chart", "table", "selections")


def selection_text(text):
    return lambda views: views.get("selections", {}).get("text") == text


def all_panels(views):
    return all(name in views for name in PANELS)


async def eventually(check) -> None:
    """Wait up to 10 s for ``check()`` (the server ends a page after its socket)."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def http_get(url: str, path: str, headers: str = "") -> tuple[int, str, bytes]:
    """A raw HTTP/1.1 GET: (status, head, body)."""
    host_port = url.removeprefix("http://").rstrip("/")
    host, port = host_port.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host_port}\r\n{headers}\r\n".encode("latin-1")
    )
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, head.decode("latin-1"), body


async def test_serves_the_page_and_its_assets(dashboard):
    status, head, body = await http_get(dashboard.url, "/")
    assert status == 200
    assert "text/html" in head
    assert "Content-Security-Policy: default-src 'self'" in head
    assert b"<title>rxqix dashboard</title>" in body
    status, head, body = await http_get(dashboard.url, "/dashboard.js")
    assert (status, "text/javascript" in head) == (200, True)
    status, head, _ = await http_get(dashboard.url, "/dashboard.css")
    assert (status, "text/css" in head) == (200, True)
    assert (await http_get(dashboard.url, "/missing"))[0] == 404
    assert (await http_get(dashboard.url, "/ws"))[0] == 426


async def test_refuses_a_websocket_from_another_origin(dashboard):
    socket_url = dashboard.url.replace("http://", "ws://") + "ws"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(socket_url, origin="http://example.invalid"):
            pass
    assert refused.value.response.status_code == 403
    same = "http://" + dashboard.url.removeprefix("http://").rstrip("/")
    async with connect(socket_url, origin=same) as ws:
        assert "hello" in await ws.recv()


async def test_initial_views_match_duckdb(page):
    views = await page.until(all_panels)
    assert views["hello"]["app"] == "nycflights13"
    assert page.views["selections"]["text"] == "No selections"
    assert_numbers(table_rows(views), per_carrier())
    assert_numbers(chart_rows(views), per_month())
    assert views["table"]["total"]["flights"] == 336776
    carriers = views["carriers"]["values"]
    assert len(carriers) == 16
    assert {v["state"] for v in carriers} == {"O"}
    assert [v["text"] for v in carriers] == sorted(v["text"] for v in carriers)
    assert [v["num"] for v in views["months"]["values"]] == list(range(1, 13))


async def test_a_carrier_click_selects_in_the_engine(dashboard, page):
    views = await page.until(all_panels)
    oo = next(v for v in views["carriers"]["values"] if v["text"] == "OO")
    await page.send({"type": "select", "field": "carrier", "elems": [oo["elem"]]})
    views = await page.until(selection_text("carrier: OO"))
    views = await page.until(lambda v: len(v["table"]["rows"]) == 1)
    assert_numbers(table_rows(views), per_carrier("f.carrier = 'OO'"))
    views = await page.until(lambda v: len(v["chart"]["rows"]) == 5)
    assert_numbers(chart_rows(views), per_month("f.carrier = 'OO'"))
    # SkyWest flew out of New York in five months only: the others are excluded.
    months = await page.until(
        lambda v: {m["state"] for m in v["months"]["values"]} == {"O", "X"}
    )
    possible = {m["num"] for m in months["months"]["values"] if m["state"] == "O"}
    assert possible == set(per_month("f.carrier = 'OO'"))
    states = {v["text"]: v["state"] for v in views["carriers"]["values"]}
    assert states["OO"] == "S"
    assert set(states.values()) == {"S", "A"}

    # The engine agrees, read through the board's own session.
    (board,) = dashboard.boards
    layout = await board.objects["selections"].get_layout()
    selected = layout["qSelectionObject"]["qSelections"]
    assert [(s["qField"], s["qSelected"]) for s in selected] == [("carrier", "OO")]

    # The same click again toggles it off.
    await page.send({"type": "select", "field": "carrier", "elems": [oo["elem"]]})
    views = await page.until(lambda v: len(v["table"]["rows"]) == 16)
    await page.until(selection_text("No selections"))


async def test_a_burst_of_month_filters_makes_one_selection(dashboard, page):
    await page.until(all_panels)
    (board,) = dashboard.boards
    calls: list[str] = []
    board.session.traffic.subscribe(
        lambda t: calls.append(t.frame["method"]) if t.direction == "sent" else None
    )
    for months in ([1], [1, 2], [2], [2, 6], [6, 8]):
        await page.send({"type": "months", "months": months})
    views = await page.until(selection_text("month: 6, 8"))
    await board.idle()
    assert calls.count("SelectValues") == 1
    views = await page.until(lambda v: len(v["table"]["rows"]) == 16)
    assert_numbers(table_rows(views), per_carrier("f.month in (6, 8)"))
    views = await page.until(lambda v: len(v["chart"]["rows"]) == 2)
    assert_numbers(chart_rows(views), per_month("f.month in (6, 8)"))

    # An empty month set clears the month field.
    await page.send({"type": "months", "months": []})
    await page.until(selection_text("No selections"))


async def test_clear_drops_a_month_filter_still_waiting(engine):
    async with DashboardServer(engine.url, debounce=0.3) as slow:
        socket_url = slow.url.replace("http://", "ws://") + "ws"
        async with connect(socket_url) as ws:
            client = PageClient(ws)
            await client.until(all_panels)
            await client.send({"type": "select", "field": "month", "elems": [0]})
            await client.until(selection_text("month: 1"))
            await client.send({"type": "months", "months": [3]})
            await client.send({"type": "clear", "field": "month"})
            await client.until(selection_text("No selections"))
            (board,) = slow.boards
            await board.idle()
            await asyncio.sleep(0.35)
            assert client.views["selections"]["text"] == "No selections"
            await client.close()


async def test_clear_all_and_clear_one_field(page):
    views = await page.until(all_panels)
    ua = next(v for v in views["carriers"]["values"] if v["text"] == "UA")
    await page.send({"type": "select", "field": "carrier", "elems": [ua["elem"]]})
    await page.send({"type": "months", "months": [7]})
    await page.until(selection_text("carrier: UA | month: 7"))
    await page.send({"type": "clear", "field": "carrier"})
    views = await page.until(selection_text("month: 7"))
    await page.send({"type": "clear"})
    views = await page.until(selection_text("No selections"))
    views = await page.until(lambda v: len(v["chart"]["rows"]) == 12)
    assert_numbers(chart_rows(views), per_month())


async def test_a_bad_command_is_answered_and_the_page_goes_on(page):
    await page.until(all_panels)
    await page.send({"type": "select", "field": "dest", "elems": [0]})
    await page.until(lambda v: "error" in v)
    assert "field must be" in page.errors[-1]
    await page.send({"type": "months", "months": [12]})
    await page.until(selection_text("month: 12"))


async def test_a_failed_selection_is_reported_and_the_page_goes_on(engine):
    """An engine error on one command reaches the page; later commands still run."""
    refused = {"count": 0}

    def refuse_first_select(session, request):
        if request.method == "SelectListObjectValues" and not refused["count"]:
            refused["count"] += 1
            raise EngineError(5000, "Unknown error", "refused by the test")
        return request

    options = {"request_interceptors": [{"on_fulfilled": refuse_first_select}]}
    async with DashboardServer(engine.url, session_options=options) as dashboard:
        socket_url = dashboard.url.replace("http://", "ws://") + "ws"
        async with connect(socket_url) as ws:
            client = PageClient(ws)
            await client.until(all_panels)
            command = {"type": "select", "field": "carrier", "elems": [0]}
            await client.send(command)
            await client.until(lambda v: "error" in v)
            assert "refused by the test" in client.errors[-1]
            await client.send(command)
            await client.until(lambda v: v["selections"]["text"] != "No selections")
            await client.close()


async def test_each_page_has_its_own_engine_session(dashboard, page):
    await page.until(all_panels)
    socket_url = dashboard.url.replace("http://", "ws://") + "ws"
    async with connect(socket_url) as ws:
        other = PageClient(ws)
        await other.until(all_panels)
        assert len(dashboard.boards) == 2
        await other.send({"type": "months", "months": [2]})
        await other.until(selection_text("month: 2"))
        assert page.views["selections"]["text"] == "No selections"
        await other.close()
    await eventually(lambda: len(dashboard.boards) == 1)
    assert page.views["selections"]["text"] == "No selections"


async def test_closing_the_page_closes_its_session(dashboard):
    socket_url = dashboard.url.replace("http://", "ws://") + "ws"
    async with connect(socket_url) as ws:
        client = PageClient(ws)
        await client.until(all_panels)
        (board,) = dashboard.boards
        await client.close()
    await asyncio.wait_for(board.closed.wait(), 10)
    assert board.session.state.value == "closed"


async def test_an_unreachable_engine_is_reported_to_the_page():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/app/nycflights13"
    async with DashboardServer(url) as dashboard:
        socket_url = dashboard.url.replace("http://", "ws://") + "ws"
        async with connect(socket_url) as ws:
            message = await asyncio.wait_for(ws.recv(), 20)
            assert '"error"' in message
            assert "engine" in message
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 20)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1011
        await eventually(lambda: dashboard.boards == set())


async def test_a_lost_engine_is_reported_to_the_page(app_data):
    async with Engine({"nycflights13": app_data}) as engine:
        async with DashboardServer(engine.url) as dashboard:
            socket_url = dashboard.url.replace("http://", "ws://") + "ws"
            async with connect(socket_url) as ws:
                client = PageClient(ws)
                await client.until(all_panels)
                await engine.stop()
                await client.until(lambda v: "error" in v)
                assert "engine session closed" in client.errors
                await client.close()
                assert ws.close_code == 1011

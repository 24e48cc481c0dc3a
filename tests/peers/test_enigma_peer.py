"""The real enigma.js (npm) against the local engine, with delta on and off."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from flights import assert_matches, cube_rows, per_carrier

from rxqix.engine import run_engine_in_thread

SCENARIO = Path(__file__).resolve().parent / "enigma_scenario.js"
pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def engine_url():
    with run_engine_in_thread() as engine:
        yield engine.url


def run_enigma(enigma_package, url: str, delta: str) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the enigma.js peer needs Node.js")
    done = subprocess.run(
        [node, str(SCENARIO), url, "nycflights13", delta, "origin", "JFK"],
        cwd=enigma_package.parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("delta", ["on", "off"])
def test_enigma_js_reads_live_layouts_from_the_local_engine(
    enigma_package, engine_url, delta
):
    """enigma.js opens the app, reads a cube, selects, gets 'changed' and re-reads."""
    seen = run_enigma(enigma_package, engine_url, delta)

    assert seen["docId"] == "nycflights13"
    assert (seen["objectType"], seen["genericType"]) == ("GenericObject", "peer-cube")
    assert seen["beforeAgainEqual"] is True
    assert seen["selected"] is True
    assert seen["sawChanged"] is True
    assert_matches(cube_rows(seen["before"]), per_carrier())
    assert_matches(cube_rows(seen["after"]), per_carrier("f.origin = 'JFK'"))
    assert seen["after"]["qHyperCube"]["qSize"]["qcy"] == len(
        per_carrier("f.origin = 'JFK'")
    )
    assert seen["notFound"] == {"code": -2, "enigmaError": True}
    assert len(seen["data"][0]["qMatrix"]) == 5

    if delta == "on":
        assert all(flag is True for flag in seen["sentDelta"])
        assert any(seen["receivedDelta"])
    else:
        assert all(flag is False for flag in seen["sentDelta"])
        assert not any(seen["receivedDelta"])

"""The benchmark runner in quick mode: it runs, and produces every figure.

Only that the figures and the peer columns are there is checked, never a
timing: the numbers of a quick run on a shared CI machine mean nothing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
pytestmark = pytest.mark.peer


def load_runner() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(
            "rxqix_benchmarks_run", BENCHMARKS / "run.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def runner() -> ModuleType:
    return load_runner()


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def test_quick_mode_writes_every_figure(quick: tuple[dict, str]) -> None:
    results, _ = quick
    assert results["mode"] == "quick"
    assert set(results["figures"]) == {f"f{n}" for n in range(1, 9)}
    assert results["machine"]["cores"]
    for name in ("python", "rxqix", "websockets", "duckdb"):
        assert results["versions"][name], name


def test_every_peer_that_can_run_produced_every_metric(
    quick: tuple[dict, str], runner: ModuleType
) -> None:
    results, _ = quick
    for figure in runner.FIGURES:
        peers = results["figures"][figure.key]["peers"]
        assert set(peers) == {p.name for p in figure.peers}, figure.key
        for peer in figure.peers:
            entry = peers[peer.name]
            assert "error" not in entry, (figure.key, peer.name, entry)
            runnable = runner.harness.client_command(peer.client) is not None
            if not runnable or (figure.key, peer.client) in runner.NOT_APPLICABLE:
                assert entry["skipped"].startswith("not run"), (figure.key, peer.name)
                continue
            assert "skipped" not in entry, (figure.key, peer.name, entry)
            for metric in figure.metrics:
                stats = entry["metrics"][metric.name]
                assert stats["n"] >= 1, (figure.key, peer.name, metric.name)


def test_figure_8_and_the_table(quick: tuple[dict, str], runner: ModuleType) -> None:
    results, table = quick
    eight = results["figures"]["f8"]["ratios"]
    assert {r["from"] for r in eight} == {"f1", "f2", "f3"}
    for figure in runner.FIGURES:
        assert f"\n{figure.key[1:]}. " in table
    assert "\n8. " in table

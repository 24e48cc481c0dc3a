"""The runner's machinery: engines in their own processes, peer jobs, statistics.

Every engine and every peer is a separate process, so each client is measured
alone and none shares a heap, an event loop or a garbage collector with the
engine it talks to. Everything listens on, and connects to, 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODE_MODULES = ROOT / "tests" / "peers" / "node_modules"

# The command of each client; node runs with --expose-gc for the memory figure.
PYTHON_PEERS = {
    "rxqix": "peer_rxqix.py",
    "floor": "peer_floor.py",
    "qlik-sdk": "peer_qlik_sdk.py",
    "duckdb": "peer_duckdb.py",
}


def client_command(client: str) -> list[str] | None:
    """The command line that runs a client's peer, or None if it cannot run."""
    if client == "enigma.js":
        node = shutil.which("node")
        if node is None or not (NODE_MODULES / "enigma.js").is_dir():
            return None
        return [node, "--expose-gc", str(HERE / "peer_enigma.js")]
    if client == "qlik-sdk" and not _installed("qlik_sdk"):
        return None
    return [sys.executable, str(HERE / PYTHON_PEERS[client])]


def unavailable_reason(client: str) -> str:
    if client == "enigma.js":
        return "not run: needs node and tests/peers/node_modules (npm ci there)"
    return f"not run: {client} is not installed"


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# -- engines ----------------------------------------------------------------


@dataclass
class Engine:
    """An engine process and the URL to reach it."""

    name: str
    url: str
    process: subprocess.Popen[str]


@contextlib.contextmanager
def engine_process(
    name: str, command: list[str], limit: float = 120
) -> Iterator[Engine]:
    """Start an engine that prints its port or URL on its first line of stdout."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"{name} engine did not start")
        url = line.split()[-1]
        if not url.startswith("ws://"):
            url = f"ws://127.0.0.1:{int(url)}/app/{name}"
        yield Engine(name, url, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def canned_engine(
    rows: int, big_rows: int = 200_000
) -> contextlib.AbstractContextManager[Engine]:
    command = [
        sys.executable,
        str(HERE / "canned_engine.py"),
        "--rows",
        str(rows),
        "--big-rows",
        str(big_rows),
    ]
    return engine_process("canned", command)


def local_engine() -> contextlib.AbstractContextManager[Engine]:
    command = [sys.executable, "-m", "rxqix", "serve", "--port", "0"]
    return engine_process("nycflights13", command)


# -- jobs -------------------------------------------------------------------


def run_job(client: str, job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one job in a fresh peer process: its result, or ``{"error": ...}``."""
    command = client_command(client)
    if command is None:
        return {"skipped": unavailable_reason(client)}
    try:
        done = subprocess.run(
            command,
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=HERE,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: " + " | ".join(tail)}
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        return {"error": f"not JSON: {done.stdout[:200]!r}"}
    return result


# -- statistics ---------------------------------------------------------------


def summarize(samples: list[float]) -> dict[str, Any]:
    """Median, quartiles, extremes and count of a list of samples."""
    ordered = sorted(samples)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "median": statistics.median(ordered),
        "q1": q1,
        "q3": q3,
        "min": ordered[0],
        "max": ordered[-1],
        "n": len(ordered),
        "samples": samples,
    }


def number(value: float) -> str:
    """A number with about three significant digits and thousands separators."""
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell(stats: dict[str, Any]) -> str:
    """``median [q1-q3]``, or ``[min-max]`` with fewer than four samples."""
    median = number(stats["median"])
    if stats["n"] == 1:
        return median
    low, high = ("q1", "q3") if stats["n"] >= 4 else ("min", "max")
    return f"{median} [{number(stats[low])}-{number(stats[high])}]"


# -- the machine and the versions --------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "cpu": platform.processor() or None,
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    node = shutil.which("node")
    found["node"] = (
        subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if node
        else None
    )
    for package in ("rxqix", "qlik-sdk", "websockets", "duckdb", "websocket-client"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    for package in ("enigma.js", "ws"):
        manifest = NODE_MODULES / package / "package.json"
        try:
            found[package] = json.loads(manifest.read_text())["version"]
        except (OSError, ValueError, KeyError):
            found[package] = None
    return found

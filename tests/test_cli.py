"""The rxqix command: demo, serve, and its errors."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys

from flights import per_carrier

import rxqix


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rxqix", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_prints_live_layouts_with_duckdbs_numbers():
    """rxqix demo exits 0 and its tables agree with DuckDB on the raw data."""
    done = run("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Step 4: clear all selections" in out
    steps = re.findall(r"\[selection to fresh layout: ([\d.]+) ms\]", out)
    assert len(steps) == 4
    delta = per_carrier(
        "f.origin = 'JFK' and f.month in (6, 7, 8) and a.name = 'Delta Air Lines Inc.'"
    )
    count, mean = delta["DL"]
    step3 = out.split("Step 3")[1].split("Step 4")[0]
    assert re.search(rf"^DL\s+{count:,}\s+{mean:.1f}$", step3, re.M), step3
    united = per_carrier()["UA"]
    first = out.split("Step 1")[0]
    assert re.search(rf"^UA\s+{united[0]:,}\s+{united[1]:.1f}$", first, re.M)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_against_nothing_fails_with_one_line():
    """--url at a closed port: exit 1, a one-line error, no traceback."""
    done = run("demo", "--url", f"ws://127.0.0.1:{free_port()}/app/x", timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("rxqix: ConnectionFailedError: cannot connect to")
    assert "Traceback" not in done.stderr


def test_serve_with_a_missing_file_fails_with_one_line():
    """A file that does not exist: exit 1 and a short message."""
    done = run("serve", "--port", "0", "no-such-file.csv", timeout=60)
    assert done.returncode == 1
    assert "no such file: no-such-file.csv" in done.stderr
    assert "Traceback" not in done.stderr


async def test_serve_serves_a_csv_file(tmp_path):
    """rxqix serve FILE serves it as an app named after the file."""
    path = tmp_path / "sales.csv"
    path.write_text("region,amount\nnorth,10\nsouth,32\nnorth,5\n")
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rxqix",
        "serve",
        "--port",
        "0",
        str(path),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        line = (await asyncio.wait_for(server.stdout.readline(), 60)).decode()
        url = line.split()[-1]
        assert url.endswith("/app/sales")
        async with rxqix.Session(url) as qix:
            doc = await qix.open_doc("sales")
            assert await doc.evaluate("Sum(amount)") == "47"
            north = await doc.get_field("region")
            assert await north.select("north") is True
            assert await doc.evaluate("Sum(amount)") == "15"
    finally:
        server.terminate()
        await server.wait()

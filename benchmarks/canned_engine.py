"""A canned QIX engine: answers every request from prepared frames.

It does no work beyond reading the request's id and method, so a client
measured against it pays for itself alone. Run as a script, it serves on
127.0.0.1 and prints its port:

    python benchmarks/canned_engine.py [--rows 5000] [--big-rows 200000] [--port 0]

Replies: OpenDoc -> a Doc reference (handle 1); CreateSessionObject -> an
object reference with a new handle per call and connection (10, 11, ...);
GetObject -> the object "big" on handle 3; GetLayout -> a straight hypercube
layout with ``--rows`` rows of (text, number, number) cells, except on handle
3, where it has ``--big-rows`` rows (200,000); EngineVersion -> a version;
anything else -> ``{}``. Delta requests get a root-add patch the first time
per handle and method, then ``[]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

BIG_HANDLE = 3
FIRST_OBJECT_HANDLE = 10

ON_CONNECTED = json.dumps(
    {
        "jsonrpc": "2.0",
        "method": "OnConnected",
        "params": {"qSessionState": "SESSION_CREATED"},
    }
)


def cube_layout(rows: int) -> dict[str, Any]:
    """A straight hypercube layout of ``rows`` rows and three columns."""
    matrix = [
        [
            {
                "qText": f"C{i % 97}",
                "qNum": "NaN",
                "qElemNumber": i % 97,
                "qState": "O",
            },
            {"qText": str(i), "qNum": i, "qElemNumber": 0, "qState": "L"},
            {"qText": f"{i / 7:.6f}", "qNum": i / 7, "qElemNumber": 0, "qState": "L"},
        ]
        for i in range(rows)
    ]
    return {
        "qInfo": {"qId": "cube", "qType": "table"},
        "qSelectionInfo": {},
        "qHyperCube": {
            "qSize": {"qcx": 3, "qcy": rows},
            "qDimensionInfo": [{"qFallbackTitle": "carrier"}],
            "qMeasureInfo": [{"qFallbackTitle": "n"}, {"qFallbackTitle": "x"}],
            "qDataPages": [
                {
                    "qMatrix": matrix,
                    "qTails": [{"qUp": 0, "qDown": 0}],
                    "qArea": {"qLeft": 0, "qTop": 0, "qWidth": 3, "qHeight": rows},
                }
            ],
        },
    }


def prepared(rows: int, big_rows: int = 200_000) -> dict[tuple[str, int | None], str]:
    """Result JSON texts by (method, handle); handle None matches any handle.

    CreateSessionObject is not here: its reply carries a fresh handle.
    """
    results: dict[tuple[str, int | None], Any] = {
        ("OpenDoc", None): {
            "qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "canned"}
        },
        ("EngineVersion", None): {"qVersion": {"qComponentVersion": "12.2027.0"}},
        ("GetLayout", None): {"qLayout": cube_layout(rows)},
        ("GetLayout", BIG_HANDLE): {"qLayout": cube_layout(big_rows)},
    }
    results[("GetObject", None)] = {
        "qReturn": {
            "qType": "GenericObject",
            "qHandle": BIG_HANDLE,
            "qGenericId": "big",
            "qGenericType": "table",
        }
    }
    return {
        key: json.dumps(value, separators=(",", ":")) for key, value in results.items()
    }


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def root_add(result_text: str) -> str:
    """The delta form of a result: each key as one root "add" patch."""
    patches = {
        key: [{"op": "add", "path": "/", "value": value}]
        for key, value in json.loads(result_text).items()
    }
    return _compact(patches)


def created(request_id: int, handle: int) -> str:
    """The reply to CreateSessionObject: a new object on ``handle``."""
    result = {
        "qReturn": {
            "qType": "GenericObject",
            "qHandle": handle,
            "qGenericId": f"cube-{handle}",
            "qGenericType": "table",
        }
    }
    return _compact({"jsonrpc": "2.0", "id": request_id, "result": result})


class Canned:
    def __init__(self, rows: int, big_rows: int = 200_000) -> None:
        self.results = prepared(rows, big_rows)
        self.delta_results = {key: root_add(text) for key, text in self.results.items()}

    async def handle(self, connection: ServerConnection) -> None:
        await connection.send(ON_CONNECTED)
        seen: set[tuple[str, int]] = set()
        results, delta_results = self.results, self.delta_results
        next_handle = FIRST_OBJECT_HANDLE
        try:
            async for message in connection:
                request = json.loads(message)
                method, handle = request.get("method"), request.get("handle")
                if method == "CreateSessionObject":
                    reply = created(request["id"], next_handle)
                    next_handle += 1
                    await connection.send(reply)
                    continue
                key = (
                    (method, handle) if (method, handle) in results else (method, None)
                )
                text = results.get(key, "{}")
                if request.get("delta") and text != "{}":
                    if (method, handle) in seen:
                        body = (
                            "{" + ",".join(f'"{k}":[]' for k in json.loads(text)) + "}"
                        )
                    else:
                        seen.add((method, handle))
                        body = delta_results[key]
                    head = f'{{"jsonrpc":"2.0","id":{request["id"]},"delta":true'
                    reply = f'{head},"result":{body}}}'
                else:
                    reply = f'{{"jsonrpc":"2.0","id":{request["id"]},"result":{text}}}'
                await connection.send(reply)
        except Exception:
            return


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--big-rows", type=int, default=200_000)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    canned = Canned(args.rows, args.big_rows)
    async with serve(
        canned.handle, "127.0.0.1", args.port, max_size=None, compression=None
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())

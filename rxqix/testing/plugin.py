"""The rxqix pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:

- ``fake_engine``: a :class:`ScriptedEngine` on 127.0.0.1 that plays the
  replies a test scripts, injects errors, pushes change and close lists and
  drops the socket.
- ``local_engine``: a factory for local engines (rxqix.engine) serving given
  DataFrames, files or apps: ``engine = await local_engine({"sales": df})``.
- ``qix_engine``: one local engine for the test, serving the app of the
  ``qix_app`` marker, or the bundled nycflights13 app without one.
- ``qix_session``: an opened :class:`rxqix.Session` to ``qix_engine``.
- ``qix_doc``: the marker's app (or nycflights13), opened in ``qix_session``.
- ``marbles``: a :class:`rxqix.testing.marbles.Marbles` virtual-time context.

The marker: ``@pytest.mark.qix_app(frames={"table": df}, name="app")`` or
``@pytest.mark.qix_app(files=["sales.csv"])``. The local engine needs the
``engine`` extra (DuckDB, pandas); it is imported only by the fixtures that
use it.
"""

from __future__ import annotations

import math
import os
from collections.abc import (
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any

import pytest

from rxqix.testing.fake import FakeEngine, Frame
from rxqix.testing.marbles import Marbles

if TYPE_CHECKING:
    from rxqix.api import ApiObject
    from rxqix.engine import Engine
    from rxqix.session import Session

try:
    import pytest_asyncio
except ImportError:  # async fixtures then need an asyncio plugin in auto mode
    async_fixture: Callable[..., Any] = pytest.fixture
else:
    async_fixture = pytest_asyncio.fixture

BUNDLED_APP = "nycflights13"
MARKER = "qix_app"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``qix_app`` marker."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(frames=None, files=None, name='app'): the app qix_engine, "
        "qix_session and qix_doc serve (the bundled nycflights13 app without it)",
    )


class ScriptedEngine(FakeEngine):
    """A :class:`FakeEngine` with helpers to script a test's replies.

    Replies are looked up by method name (any handle): ``reply`` sets a
    result, ``fail`` an engine error, and ``push_change``, ``push_close`` and
    ``drop`` act at once. ``requests(method)`` lists what the client sent.

    Example:
        >>> fake_engine.reply("OpenDoc", {"qReturn": fake_engine.ref("Doc", 1)})
        >>> fake_engine.fail("GetLayout", 7009, "Calc pages too large")
    """

    def reply(
        self,
        method: str,
        result: Any,
        *,
        change: Iterable[int] = (),
        close: Iterable[int] = (),
    ) -> None:
        """Answer ``method`` with ``result``, optionally listing changed handles.

        ``result`` may also be a callable of the request frame returning the
        result, for replies that depend on the parameters.
        """
        extra: dict[str, list[int]] = {}
        if change:
            extra["change"] = list(change)
        if close:
            extra["close"] = list(close)

        def answer(frame: Frame) -> Frame:
            value = result(frame) if callable(result) else result
            return {"jsonrpc": "2.0", "id": frame.get("id"), "result": value, **extra}

        self.replies[method] = answer

    def fail(
        self, method: str, code: int, message: str = "", parameter: str = ""
    ) -> None:
        """Answer ``method`` with a JSON-RPC error (``code``, ``message``)."""

        def answer(frame: Frame) -> Frame:
            error = {"code": code, "parameter": parameter, "message": message}
            return {"jsonrpc": "2.0", "id": frame.get("id"), "error": error}

        self.replies[method] = answer

    async def push_change(self, *handles: int) -> None:
        """Tell the clients that these handles changed (a ``change`` list)."""
        await self.push({"jsonrpc": "2.0", "change": list(handles)})

    async def push_close(self, *handles: int) -> None:
        """Tell the clients that these handles closed (a ``close`` list)."""
        await self.push({"jsonrpc": "2.0", "close": list(handles)})

    def requests(self, method: str | None = None) -> list[Frame]:
        """The request frames received so far, of ``method`` or all."""
        return [f for f in self.received if method is None or f.get("method") == method]

    def serve_cube(
        self,
        columns: Mapping[str, Sequence[Any]],
        *,
        dimensions: int = 1,
        initial_rows: int = 0,
        object_id: str = "cube",
    ) -> dict[str, Any]:
        """Script a doc (handle 1) with one straight hypercube object (handle 2).

        ``columns`` maps each title to its values, the first ``dimensions``
        being dimensions and the rest measures. Strings become text cells,
        numbers numeric cells, None and NaN null cells. ``OpenDoc``,
        ``GetActiveDoc``, ``CreateSessionObject``, ``GetObject``,
        ``GetLayout`` (with the first ``initial_rows`` rows embedded) and
        ``GetHyperCubeData`` are answered; a page of more than 10,000 cells
        fails with 7009 (LOCERR_CALC_PAGES_TOO_LARGE), as the engine does.

        Returns:
            The layout that ``GetLayout`` answers.
        """
        cube = _ScriptedCube(columns, dimensions)
        layout = cube.layout(object_id, initial_rows)
        doc = {"qReturn": self.ref("Doc", 1, "app")}
        obj = {"qReturn": self.ref("GenericObject", 2, object_id, "table")}
        for method in ("OpenDoc", "GetActiveDoc"):
            self.reply(method, doc)
        for method in ("CreateSessionObject", "GetObject"):
            self.reply(method, obj)
        self.reply("GetLayout", {"qLayout": layout})
        self.replies["GetHyperCubeData"] = cube.answer
        return layout

    @staticmethod
    def ref(
        qtype: str,
        handle: int,
        id: str | None = None,
        generic_type: str | None = None,
    ) -> dict[str, Any]:
        """An object reference for a ``qReturn``: ``{"qType", "qHandle", ...}``."""
        ref: dict[str, Any] = {"qType": qtype, "qHandle": handle}
        if id is not None:
            ref["qGenericId"] = id
        if generic_type is not None:
            ref["qGenericType"] = generic_type
        return ref


class _ScriptedCube:
    """The data side of :meth:`ScriptedEngine.serve_cube`."""

    def __init__(self, columns: Mapping[str, Sequence[Any]], dimensions: int) -> None:
        self.titles = list(columns)
        self.data = [list(values) for values in columns.values()]
        self.dimensions = dimensions
        lengths = {len(values) for values in self.data}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self.rows = lengths.pop() if lengths else 0

    def layout(self, object_id: str, initial_rows: int) -> dict[str, Any]:
        width = len(self.titles)
        infos = [{"qFallbackTitle": title} for title in self.titles]
        pages = []
        if initial_rows:
            pages.append(self.page(0, 0, width, initial_rows))
        return {
            "qInfo": {"qId": object_id, "qType": "table"},
            "qSelectionInfo": {},
            "qHyperCube": {
                "qSize": {"qcx": width, "qcy": self.rows},
                "qDimensionInfo": infos[: self.dimensions],
                "qMeasureInfo": infos[self.dimensions :],
                "qDataPages": pages,
                "qMode": "S",
            },
        }

    def page(self, left: int, top: int, width: int, height: int) -> dict[str, Any]:
        right = min(len(self.titles), left + width)
        bottom = min(self.rows, top + height)
        matrix = [
            [self.cell(column, row) for column in range(left, right)]
            for row in range(top, bottom)
        ]
        return {
            "qMatrix": matrix,
            "qTails": [{"qUp": 0, "qDown": 0}] * self.dimensions,
            "qArea": {
                "qLeft": left,
                "qTop": top,
                "qWidth": max(0, right - left),
                "qHeight": max(0, bottom - top),
            },
        }

    def cell(self, column: int, row: int) -> dict[str, Any]:
        value = self.data[column][row]
        dimension = column < self.dimensions
        state = "O" if dimension else "L"
        element = row if dimension else 0
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return {
                "qText": "-",
                "qNum": "NaN",
                "qElemNumber": -2 if dimension else 0,
                "qState": state,
                "qIsNull": True,
            }
        if isinstance(value, str):
            return {
                "qText": value,
                "qNum": "NaN",
                "qElemNumber": element,
                "qState": state,
            }
        number = float(value)
        text = str(int(number)) if number.is_integer() else repr(number)
        return {"qText": text, "qNum": value, "qElemNumber": element, "qState": state}

    def answer(self, frame: Frame) -> Frame:
        params: Any = frame.get("params")
        pages: list[dict[str, int]] = (
            params["qPages"] if isinstance(params, dict) else params[1]
        )
        for page in pages:
            if page["qWidth"] * page["qHeight"] > 10_000:
                error = {
                    "code": 7009,
                    "parameter": "",
                    "message": "Calc pages too large",
                }
                return {"jsonrpc": "2.0", "id": frame.get("id"), "error": error}
        data = [
            self.page(p["qLeft"], p["qTop"], p["qWidth"], p["qHeight"]) for p in pages
        ]
        return {"jsonrpc": "2.0", "id": frame.get("id"), "result": {"qDataPages": data}}


class LocalEngines:
    """Starts local engines for a test and stops them after it.

    Call it with DataFrames by table name, with files, or with ready apps::

        engine = await local_engine({"sales": df})            # app "app"
        engine = await local_engine(files=["a.csv"], name="x")
        engine = await local_engine()                         # nycflights13

    The engine serves on 127.0.0.1 with a port the OS picks; ``engine.url``
    is the URL of its app.
    """

    def __init__(self) -> None:
        self.engines: list[Engine] = []

    async def __call__(
        self,
        frames: Mapping[str, Any] | None = None,
        *,
        files: Iterable[str | os.PathLike[str]] | None = None,
        apps: Mapping[str, Any] | None = None,
        name: str = "app",
    ) -> Engine:
        from rxqix.engine import Engine

        engine = Engine(_apps(frames, files, apps, name))
        await engine.start()
        self.engines.append(engine)
        return engine

    async def stop(self) -> None:
        """Stop every engine started."""
        while self.engines:
            await self.engines.pop().stop()


def _apps(
    frames: Mapping[str, Any] | None,
    files: Iterable[str | os.PathLike[str]] | None,
    apps: Mapping[str, Any] | None,
    name: str,
) -> dict[str, Any]:
    served: dict[str, Any] = dict(apps or {})
    if frames is not None or files is not None:
        from rxqix.engine.model import AppData

        if frames is not None and files is not None:
            raise ValueError("give frames or files, not both")
        if frames is not None:
            served[name] = AppData.from_frames(name, frames)
        else:
            served[name] = AppData.from_files(name, files or [])
    if not served:
        from rxqix.engine.model import nycflights13_app

        served[BUNDLED_APP] = nycflights13_app  # loaded on the first OpenDoc
    return served


def _marked_app(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return {}
    if marker.args:
        raise TypeError(f"{MARKER} takes keyword arguments only")
    options = dict(marker.kwargs)
    options.setdefault("name", "app")
    return options


@async_fixture
async def fake_engine() -> AsyncIterator[ScriptedEngine]:
    """A scripted fake engine on 127.0.0.1; see :class:`ScriptedEngine`."""
    engine = ScriptedEngine()
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


@async_fixture
async def local_engine() -> AsyncIterator[LocalEngines]:
    """A factory of local engines, all stopped after the test."""
    engines = LocalEngines()
    try:
        yield engines
    finally:
        await engines.stop()


@async_fixture
async def qix_engine(
    request: pytest.FixtureRequest, local_engine: LocalEngines
) -> Engine:
    """A local engine serving the ``qix_app`` marker's app (or nycflights13)."""
    return await local_engine(**_marked_app(request))


@async_fixture
async def qix_session(qix_engine: Engine) -> AsyncIterator[Session]:
    """An opened session to ``qix_engine``, closed after the test."""
    from rxqix.session import Session

    session = Session(qix_engine.url)
    await session.open()
    try:
        yield session
    finally:
        await session.close()


@async_fixture
async def qix_doc(request: pytest.FixtureRequest, qix_session: Session) -> ApiObject:
    """The ``qix_app`` marker's app (or nycflights13), opened in ``qix_session``."""
    name = _marked_app(request).get("name", BUNDLED_APP)
    assert qix_session.global_ is not None
    doc: ApiObject = await qix_session.global_.open_doc(name)
    return doc


@pytest.fixture
def marbles() -> Iterator[Marbles]:
    """A virtual-time marble context: ``marbles.cold``, ``hot``, ``assert_marbles``.

    A test that states expectations with ``expect`` must ``flush`` them.
    """
    context = Marbles()
    yield context
    if context.pending and not context.flushed:
        pytest.fail("marbles: expectations were set but never checked; call flush()")

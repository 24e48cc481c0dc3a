"""One browser connection's dashboard: its rxqix session, objects and commands.

A :class:`Board` opens its own rxqix session (so its own engine selection
state), creates one session object per panel and subscribes to each object's
live ``layouts()``. Every layout becomes a compact view (:mod:`.views`) put in
an :class:`Outbox`, which keeps only the newest message of each type until the
server sends it: a slow browser gets the latest state, not a backlog.

Commands from the page are parsed by :func:`parse_command` and run one at a
time, in arrival order, by a worker task. Month filters are debounced: a burst
of month changes within ``debounce`` seconds makes one engine selection, the
last one. The month filter always carries the whole set of months wanted, so
dropping the intermediate ones loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactivex.abc import DisposableBase

import rxqix
from rxqix.api import ApiObject
from rxqix.dashboard.views import (
    CARRIER_FIELD,
    MONTH_FIELD,
    PANELS,
    SELECTABLE_FIELDS,
    View,
)

log = logging.getLogger("rxqix.dashboard")

DEFAULT_APP = "nycflights13"
#: Seconds of quiet after the last month change before the engine is asked.
DEFAULT_DEBOUNCE = 0.1
#: Largest text frame accepted from the page, in bytes.
MAX_COMMAND_SIZE = 64 * 1024
#: Most values one selection command may name.
MAX_VALUES = 1000


class CommandError(ValueError):
    """A message from the page that is not a valid command."""


@dataclass(frozen=True)
class Select:
    """Select list-object values by element number (``toggle`` adds/removes)."""

    field: str
    elems: tuple[int, ...]
    toggle: bool = True


@dataclass(frozen=True)
class Months:
    """Make exactly these months the month selection (empty: clear it)."""

    months: tuple[int, ...]


@dataclass(frozen=True)
class Clear:
    """Clear one field's selection, or all selections when ``field`` is None."""

    field: str | None = None


Command = Select | Months | Clear


def _int_list(value: Any, name: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_VALUES:
        raise CommandError(f"{name} must be a list of at most {MAX_VALUES} integers")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise CommandError(f"{name} must hold integers only")
    return tuple(dict.fromkeys(value))


def _field(value: Any) -> str:
    if value not in SELECTABLE_FIELDS:
        raise CommandError(f"field must be one of {', '.join(SELECTABLE_FIELDS)}")
    return str(value)


def parse_command(message: str | bytes | Mapping[str, Any]) -> Command:
    """Read one message of the page.

    ``{"type": "select", "field": "carrier", "elems": [0], "toggle": true}``,
    ``{"type": "months", "months": [6, 7]}``, ``{"type": "clear"}`` or
    ``{"type": "clear", "field": "month"}``.

    Raises:
        CommandError: the message is not one of those.
    """
    if isinstance(message, bytes | str):
        if len(message) > MAX_COMMAND_SIZE:
            raise CommandError("message too large")
        try:
            message = json.loads(message)
        except ValueError as exc:
            raise CommandError(f"not JSON: {exc}") from exc
    if not isinstance(message, Mapping):
        raise CommandError("a command is a JSON object")
    kind = message.get("type")
    if kind == "select":
        toggle = message.get("toggle", True)
        if not isinstance(toggle, bool):
            raise CommandError("toggle must be true or false")
        elems = _int_list(message.get("elems"), "elems")
        if any(e < 0 for e in elems):
            raise CommandError("elems must not be negative")
        return Select(_field(message.get("field")), elems, toggle)
    if kind == "months":
        months = _int_list(message.get("months"), "months")
        if any(not 1 <= m <= 12 for m in months):
            raise CommandError("months run from 1 to 12")
        return Months(tuple(sorted(months)))
    if kind == "clear":
        name = message.get("field")
        return Clear(None if name is None else _field(name))
    raise CommandError(f"unknown command type {kind!r}")


class Outbox:
    """Messages waiting for the browser, the newest of each type only."""

    def __init__(self) -> None:
        self._waiting: dict[str, View] = {}
        self._ready = asyncio.Event()

    def put(self, message: View) -> None:
        """Queue a message, replacing a waiting one of the same type."""
        kind = str(message["type"])
        self._waiting.pop(kind, None)
        self._waiting[kind] = message
        self._ready.set()

    def take(self) -> list[View]:
        """Every waiting message, oldest type first; empties the box."""
        messages = list(self._waiting.values())
        self._waiting.clear()
        self._ready.clear()
        return messages

    async def get(self) -> list[View]:
        """Wait for at least one message, then take them all."""
        await self._ready.wait()
        return self.take()


class Debouncer:
    """Hold the newest value until ``delay`` seconds pass with no newer one."""

    def __init__(self, delay: float, emit: Callable[[Any], None]) -> None:
        self.delay = delay
        self._emit = emit
        self._timer: asyncio.TimerHandle | None = None
        self._value: Any = None
        self._settled = asyncio.Event()
        self._settled.set()

    @property
    def pending(self) -> bool:
        """True while a value waits for its quiet period."""
        return self._timer is not None

    def push(self, value: Any) -> None:
        """Hold ``value`` instead of any waiting one and restart the wait."""
        self.cancel()
        self._value = value
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.delay, self._fire)
        self._settled.clear()

    def cancel(self) -> None:
        """Drop the waiting value, if any."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._value = None
        self._settled.set()

    async def settled(self) -> None:
        """Wait until no value waits (emitted or dropped)."""
        await self._settled.wait()

    def _fire(self) -> None:
        value, self._timer, self._value = self._value, None, None
        try:
            self._emit(value)
        finally:
            self._settled.set()


def app_from_url(url: str) -> str | None:
    """The app named by a ``.../app/<name>`` engine URL, or None."""
    from urllib.parse import unquote, urlsplit

    segments = urlsplit(url).path.split("/")
    if "app" in segments:
        index = segments.index("app") + 1
        if index < len(segments) and segments[index]:
            return unquote(segments[index])
    return None


@dataclass(eq=False)
class Board:
    """The dashboard of one browser connection.

    Args:
        url: the engine URL.
        app: the app to open.
        debounce: seconds of quiet before a month filter reaches the engine.
        session_options: extra :class:`rxqix.Session` options.
    """

    url: str
    app: str = DEFAULT_APP
    debounce: float = DEFAULT_DEBOUNCE
    session_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.outbox = Outbox()
        self.session = rxqix.Session(self.url, **self.session_options)
        self.objects: dict[str, ApiObject] = {}
        #: Set when the engine session ends (closed by us or lost).
        self.closed = asyncio.Event()
        self._doc: ApiObject | None = None
        self._fields: dict[str, ApiObject] = {}
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        self._months = Debouncer(self.debounce, self._commands.put_nowait)
        self._subscriptions: list[DisposableBase] = []
        self._worker: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------

    async def open(self) -> None:
        """Open the session and the doc, create the panels, start the worker.

        Raises:
            RxqixError: the engine cannot be reached or the app opened.
        """
        self.session.on("closed", lambda *_: self.closed.set())
        qix = await self.session.open()
        self._doc = doc = await qix.open_doc(self.app)
        self.outbox.put({"type": "hello", "app": self.app})
        for kind, props, to_view in PANELS:
            obj = await doc.create_session_object(props)
            self.objects[kind] = obj
            self._subscriptions.append(
                obj.layouts().subscribe(
                    self._publisher(kind, to_view), self._on_layout_error
                )
            )
        self._worker = asyncio.ensure_future(self._work())

    async def close(self) -> None:
        """Stop the worker, drop the subscriptions and close the session."""
        self._months.cancel()
        for subscription in self._subscriptions:
            subscription.dispose()
        self._subscriptions.clear()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await self.session.close()
        self.closed.set()

    # -- page to engine -------------------------------------------------------

    def handle(self, message: str | bytes | Mapping[str, Any]) -> Command | None:
        """Take one message of the page; a bad one is answered with an error.

        Month filters wait for the debounce; other commands queue at once. A
        select or clear touching months drops a month filter still waiting,
        so it cannot land after them.
        """
        try:
            command = parse_command(message)
        except CommandError as exc:
            self._error(str(exc))
            return None
        if isinstance(command, Months):
            self._months.push(command)
            return command
        if isinstance(command, Clear) and command.field in (None, MONTH_FIELD):
            self._months.cancel()
        elif isinstance(command, Select) and command.field == MONTH_FIELD:
            self._months.cancel()
        self._commands.put_nowait(command)
        return command

    async def idle(self) -> None:
        """Wait until no month filter waits and every command has run."""
        await self._months.settled()
        await self._commands.join()

    async def _work(self) -> None:
        while True:
            command = await self._commands.get()
            try:
                await self.apply(command)
            except Exception as exc:
                if isinstance(exc, rxqix.RxqixError):
                    log.info("command %s failed: %s", command, exc)
                else:
                    log.exception("command %s failed", command)
                self._error(f"{type(exc).__name__}: {exc}")
            finally:
                self._commands.task_done()

    async def apply(self, command: Command) -> None:
        """Make the engine selection a command asks for."""
        if isinstance(command, Select):
            panel = "carriers" if command.field == CARRIER_FIELD else "months"
            await self.objects[panel].select_list_object_values(
                "/qListObjectDef", list(command.elems), command.toggle
            )
        elif isinstance(command, Months):
            month = await self._field(MONTH_FIELD)
            if command.months:
                values = [
                    {"qText": str(m), "qIsNumeric": True, "qNumber": m}
                    for m in command.months
                ]
                await month.select_values(values, False)
            else:
                await month.clear()
        elif command.field is None:
            assert self._doc is not None
            await self._doc.clear_all()
        else:
            await (await self._field(command.field)).clear()

    async def _field(self, name: str) -> ApiObject:
        found = self._fields.get(name)
        if found is None:
            assert self._doc is not None
            found = self._fields[name] = await self._doc.get_field(name)
        return found

    # -- engine to page -------------------------------------------------------

    def _publisher(
        self, kind: str, to_view: Callable[[Mapping[str, Any]], View]
    ) -> Callable[[Mapping[str, Any]], None]:
        def publish(layout: Mapping[str, Any]) -> None:
            try:
                view = to_view(layout)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                log.warning("cannot read the %s layout: %r", kind, exc)
                self._error(f"cannot read the {kind} layout")
                return
            self.outbox.put({"type": kind, **view})

        return publish

    def _on_layout_error(self, error: Exception) -> None:
        log.info("live layout failed: %s", error)
        self._error(f"{type(error).__name__}: {error}")

    def _error(self, text: str) -> None:
        self.outbox.put({"type": "error", "message": text})

"""Marble tests on virtual time, with readable diffs when a stream is off.

The syntax has one character per tick, so marble strings that line up in the
source line up in time::

    -      one tick passes
    a      a value: ``values["a"]``, or the character itself
    (ab)   a and b at the tick of ``(``; the group spans its characters
    |      completion           #   an error
    ^      a hot stream's subscription tick (tick 0); ticks before it are
           negative
    space  ignored, for lining diagrams up

Subscription marbles use ``^`` for the subscribe tick and ``!`` for the
unsubscribe tick: ``"--^---!"``.

Typical use, through the pytest plugin's ``marbles`` fixture::

    def test_doubles(marbles):
        source = marbles.cold("-a-b|", {"a": 1, "b": 2})
        marbles.assert_marbles(
            source.pipe(ops.map(lambda x: x * 2)), "-x-y|", {"x": 2, "y": 4}
        )
        marbles.assert_subscriptions(source, "^---!")

A failure shows both marble strings and the first event that differs::

    AssertionError: stream does not match its marbles
      expected: -x-y|
      actual:   -x--y|
      first difference, event 2: expected y = 4 at tick 3, got y = 4 at tick 4

For streams on real time (a session's states, a live layout over a socket),
:func:`assert_sequence` checks the order of events and ignores the ticks.
"""

from __future__ import annotations

import asyncio
import itertools
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.notification import OnError, OnNext
from reactivex.testing import TestScheduler
from reactivex.testing.recorded import Recorded

Values = Mapping[str, Any]
Comparer = Callable[[Any, Any], bool]
ErrorSpec = BaseException | type[BaseException] | None

_DEFAULT_DURATION = 1000
_SYMBOLS = string.ascii_uppercase + string.ascii_lowercase + string.digits
_SPECIAL = set("-|#()^! ")


class Event(NamedTuple):
    """One event of a stream: ``kind`` is "N" (value), "C" (completion) or "E"."""

    tick: float
    kind: str
    value: Any = None


def parse_marbles(marbles: str, values: Values | None = None) -> list[Event]:
    """Read a marble string into events, ticks counted from ``^`` (or the start).

    Example:
        >>> [(e.tick, e.kind, e.value) for e in parse_marbles("-a-(bc)|", {"a": 1})]
        [(1, 'N', 1), (3, 'N', 'b'), (3, 'N', 'c'), (7, 'C', None)]

    Raises:
        ValueError: unbalanced parentheses, or more than one ``^``.
    """
    lookup = values or {}
    marbles = marbles.replace(" ", "")
    if marbles.count("^") > 1:
        raise ValueError(f"more than one ^ in {marbles!r}")
    origin = marbles.find("^")
    events: list[Event] = []
    group: int | None = None
    for position, char in enumerate(marbles):
        tick = position - origin if origin >= 0 else position
        if char == "(":
            if group is not None:
                raise ValueError(f"nested ( in {marbles!r}")
            group = tick
        elif char == ")":
            if group is None:
                raise ValueError(f"unbalanced ) in {marbles!r}")
            group = None
        elif char in "-^":
            continue
        else:
            at = tick if group is None else group
            if char == "|":
                events.append(Event(at, "C"))
            elif char == "#":
                events.append(Event(at, "E"))
            else:
                events.append(Event(at, "N", lookup.get(char, char)))
    if group is not None:
        raise ValueError(f"unbalanced ( in {marbles!r}")
    return events


def render_marbles(events: Sequence[Event], values: Values | None = None) -> str:
    """Write events as a marble string; see :class:`Legend` for unknown values.

    Example:
        >>> render_marbles([Event(1, "N", 1), Event(3, "C")], {"a": 1})
        '-a-|'
    """
    return Legend(values).render(events)


class Legend:
    """Names values with characters for marble strings.

    A value found in ``values`` gets its key; a one-character string stands
    for itself; any other value gets a fresh letter, listed in :attr:`extra`.
    """

    def __init__(
        self, values: Values | None = None, compare: Comparer | None = None
    ) -> None:
        self.values = dict(values or {})
        self.compare = compare or same
        self.extra: dict[str, Any] = {}

    def symbol(self, event: Event) -> str:
        """The character of one event."""
        if event.kind == "C":
            return "|"
        if event.kind == "E":
            return "#"
        for table in (self.values, self.extra):
            for key, known in table.items():
                if self.compare(event.value, known):
                    return key
        value = event.value
        if isinstance(value, str) and len(value) == 1 and value not in _SPECIAL:
            return value
        used = set(self.values) | set(self.extra)
        key = next((s for s in _SYMBOLS if s not in used), "?")
        self.extra[key] = value
        return key

    def render(self, events: Sequence[Event]) -> str:
        """Write events as a marble string, one character per tick."""
        out: list[str] = []
        position = 0
        for tick, group in itertools.groupby(events, key=lambda e: int(e.tick)):
            batch = list(group)
            symbols = "".join(self.symbol(e) for e in batch)
            text = symbols if len(batch) == 1 else f"({symbols})"
            # a group spans its characters, so a later event may have to be
            # written further right than its tick: the diff's words say when
            out.append("-" * max(0, tick - position) + text)
            position = max(position, tick) + len(text)
        return "".join(out)

    def describe(self, event: Event | None, timed: bool = True) -> str:
        """One event in words: ``b = 4 at tick 3`` (``b = 4`` untimed)."""
        if event is None:
            return "nothing"
        if event.kind == "timeout":
            return "a timeout"
        where = f" at tick {_tick_text(event.tick)}" if timed else ""
        if event.kind == "C":
            return f"completion{where}"
        if event.kind == "E":
            what = "any error" if event.value is None else f"error {event.value!r}"
            return f"{what}{where}"
        return f"{self.symbol(event)} = {event.value!r}{where}"


class MarbleStream(Observable[Any]):
    """A stream made by a :class:`Marbles` context, which logs its subscriptions.

    Attributes:
        events: the events of its marble string.
        subscriptions: ``(subscribe, unsubscribe)`` ticks; unsubscribe is
            None while subscribed.
    """

    def __init__(
        self, context: Marbles, events: list[Event], error: BaseException | None
    ) -> None:
        super().__init__()
        self.context = context
        self.events = events
        self.error = _as_exception(error)
        self.subscriptions: list[tuple[float, float | None]] = []

    def _subscribe_core(
        self,
        observer: abc.ObserverBase[Any],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        index = len(self.subscriptions)
        self.subscriptions.append((self.context.tick, None))
        inner = self._attach(observer)

        def dispose() -> None:
            start, stop = self.subscriptions[index]
            if stop is None:
                self.subscriptions[index] = (start, self.context.tick)
                inner.dispose()

        return Disposable(dispose)

    def _attach(self, observer: abc.ObserverBase[Any]) -> abc.DisposableBase:
        raise NotImplementedError

    def _send(self, observer: abc.ObserverBase[Any], event: Event) -> None:
        if event.kind == "N":
            observer.on_next(event.value)
        elif event.kind == "E":
            observer.on_error(self.error)
        else:
            observer.on_completed()


class ColdMarbles(MarbleStream):
    """A cold stream: each subscriber gets every event, ticks from its subscribe."""

    def _attach(self, observer: abc.ObserverBase[Any]) -> abc.DisposableBase:
        scheduler = self.context.scheduler
        timespan = self.context.timespan
        scheduled = CompositeDisposable()
        for event in self.events:

            def action(_: Any, __: Any = None, event: Event = event) -> None:
                self._send(observer, event)

            scheduled.add(scheduler.schedule_relative(event.tick * timespan, action))
        return scheduled


class HotMarbles(MarbleStream):
    """A hot stream: it plays on its own ticks, whoever listens."""

    def __init__(
        self, context: Marbles, events: list[Event], error: BaseException | None
    ) -> None:
        super().__init__(context, events, error)
        self._observers: list[abc.ObserverBase[Any]] = []

    def _attach(self, observer: abc.ObserverBase[Any]) -> abc.DisposableBase:
        self._observers.append(observer)
        return Disposable(lambda: self._observers.remove(observer))

    def play(self, event: Event) -> None:
        """Send one event to the current subscribers."""
        for observer in list(self._observers):
            self._send(observer, event)


class _Expectation(NamedTuple):
    observable: Observable[Any]
    events: list[Event]
    marbles: str
    values: Values | None
    error: ErrorSpec
    compare: Comparer


class Marbles:
    """A virtual-time marble test: make streams, state expectations, flush.

    Args:
        timespan: virtual time per tick, in the scheduler's unit (seconds for
            ``ops.debounce(0.5, scheduler=marbles.scheduler)``).
        duration: ticks after which the run stops and subscriptions are
            disposed (for streams that never end).

    Attributes:
        scheduler: the TestScheduler; pass it to operators that take one.
    """

    def __init__(
        self, timespan: float = 1.0, duration: int = _DEFAULT_DURATION
    ) -> None:
        self.scheduler = TestScheduler()
        self.timespan = timespan
        self.duration = duration
        self._origin = 0.0
        self._hots: list[HotMarbles] = []
        self._expectations: list[_Expectation] = []
        self._subscription_checks: list[tuple[MarbleStream, list[str]]] = []
        self._flushed = False

    @property
    def tick(self) -> float:
        """The current tick, counted from the subscription of the tested streams."""
        clock: float = self.scheduler.clock
        return (clock - self._origin) / self.timespan

    @property
    def pending(self) -> bool:
        """Whether expectations were set with :meth:`expect`."""
        return bool(self._expectations or self._subscription_checks)

    @property
    def flushed(self) -> bool:
        """Whether the clock has run (:meth:`flush`, :meth:`run`...)."""
        return self._flushed

    def cold(
        self,
        marbles: str,
        values: Values | None = None,
        error: BaseException | None = None,
    ) -> ColdMarbles:
        """A cold stream: each subscriber gets the events, ticks from its subscribe.

        Its ``subscriptions`` can be checked with :meth:`assert_subscriptions`.
        It may be made during the run too (inner streams of ``flat_map``...).
        """
        if "^" in marbles:
            raise ValueError("a cold stream has no ^: it starts when subscribed")
        return ColdMarbles(self, parse_marbles(marbles, values), error)

    def hot(
        self,
        marbles: str,
        values: Values | None = None,
        error: BaseException | None = None,
    ) -> HotMarbles:
        """A hot stream: it plays on its own ticks, from ``^`` (or its start)."""
        self._check_open()
        hot = HotMarbles(self, parse_marbles(marbles, values), error)
        self._hots.append(hot)
        return hot

    def expect(
        self,
        observable: Observable[Any],
        marbles: str,
        values: Values | None = None,
        error: ErrorSpec = None,
        *,
        compare: Comparer | None = None,
    ) -> None:
        """Expect ``observable``, subscribed at tick 0, to match ``marbles``.

        Args:
            observable: the stream under test.
            marbles: the expected events.
            values: what the value characters stand for.
            error: what ``#`` must be: an exception (same type and message),
                an exception type, or None for any error.
            compare: value equality; the default handles DataFrames too.
        """
        self._check_open()
        events = parse_marbles(marbles, values)
        self._expectations.append(
            _Expectation(observable, events, marbles, values, error, compare or same)
        )

    def expect_subscriptions(self, source: MarbleStream, *marbles: str) -> None:
        """Expect a stream made by :meth:`cold` or :meth:`hot` to be subscribed so.

        One marble string per subscription, e.g. ``"^---!"``, ``"--^"``.
        """
        self._check_open()
        self._subscription_checks.append((source, list(marbles)))

    def flush(self) -> None:
        """Run the virtual clock and check every expectation.

        Raises:
            AssertionError: a stream or its subscriptions differ from the marbles.
        """
        recordings = self._play([x.observable for x in self._expectations])
        for expectation, events in zip(self._expectations, recordings, strict=True):
            _compare_events(
                expectation.events,
                events,
                expectation.marbles,
                expectation.values,
                expectation.error,
                expectation.compare,
                timed=True,
            )
        for source, marbles in self._subscription_checks:
            _check_subscriptions(source, marbles, self)

    def assert_marbles(
        self,
        observable: Observable[Any],
        marbles: str,
        values: Values | None = None,
        error: ErrorSpec = None,
        *,
        compare: Comparer | None = None,
    ) -> None:
        """:meth:`expect` one stream, then :meth:`flush`."""
        self.expect(observable, marbles, values, error, compare=compare)
        self.flush()

    def assert_subscriptions(self, source: MarbleStream, *marbles: str) -> None:
        """Check subscriptions after :meth:`flush` (or :meth:`assert_marbles`)."""
        if not self._flushed:
            raise RuntimeError("flush() first: subscriptions are known after a run")
        _check_subscriptions(source, list(marbles), self)

    def run(self, observable: Observable[Any]) -> list[Event]:
        """Run one stream and return its events (ticks from its subscription)."""
        return self._play([observable])[0]

    def _play(self, observables: list[Observable[Any]]) -> list[list[Event]]:
        """Subscribe at tick 0, play the hot streams, run the clock to the end."""
        self._check_open()
        self._flushed = True
        # hot events written before a ^ have negative ticks: put tick 0 late
        # enough for the earliest of them to have a time on the clock
        before = max((-e.tick for h in self._hots for e in h.events), default=0)
        self._origin = max(0.0, before) * self.timespan
        # subscribing first lets a hot event at tick 0 reach the subscriber
        recordings = [self._record(observable) for observable in observables]
        for hot in self._hots:
            for event in hot.events:
                self._at(event.tick, lambda _s, _st, h=hot, e=event: h.play(e))
        self._at(self.duration, lambda *_: self.scheduler.stop())
        self.scheduler.start()
        return [[_event(r, self) for r in recorded] for recorded in recordings]

    def _record(self, observable: Observable[Any]) -> list[Recorded[Any]]:
        observer = self.scheduler.create_observer()
        holder: list[abc.DisposableBase] = []

        def subscribe(*_: Any) -> None:
            holder.append(observable.subscribe(observer, scheduler=self.scheduler))

        def dispose(*_: Any) -> None:
            for subscription in holder:
                subscription.dispose()

        self._at(0, subscribe)
        self._at(self.duration, dispose)
        messages: list[Recorded[Any]] = observer.messages
        return messages

    def _at(self, tick: float, action: Callable[..., Any]) -> None:
        time = self._origin + tick * self.timespan
        self.scheduler.schedule_absolute(float(time), action)

    def _check_open(self) -> None:
        if self._flushed:
            raise RuntimeError("this Marbles context has run; make a new one")


def assert_marbles(
    observable: Observable[Any],
    marbles: str,
    values: Values | None = None,
    error: ErrorSpec = None,
    *,
    timespan: float = 1.0,
    compare: Comparer | None = None,
) -> None:
    """Check a stream against marbles on a fresh virtual clock.

    For streams that only need a scheduler (``reactivex.timer``, ``interval``,
    ``ops.delay``...), which they get from the subscription. Streams built
    from :meth:`Marbles.cold` or :meth:`Marbles.hot` need that context's
    :meth:`Marbles.assert_marbles`.

    Example:
        >>> ticks = reactivex.timer(2, 1).pipe(ops.take(2))
        >>> assert_marbles(ticks, "--x(y|)", {"x": 0, "y": 1})
    """
    Marbles(timespan).assert_marbles(
        observable, marbles, values, error, compare=compare
    )


async def assert_sequence(
    observable: Observable[Any],
    marbles: str,
    values: Values | None = None,
    error: ErrorSpec = None,
    *,
    within: float = 5.0,
    compare: Comparer | None = None,
) -> None:
    """Check the order of a stream's events on real time, ignoring ticks.

    With ``|`` or ``#`` at the end, the stream must end so; without, the
    check stops (and disposes) after as many values as the marbles have.

    Example:
        >>> await assert_sequence(session.state, "abc", {"a": "created", ...})

    Raises:
        AssertionError: the events differ, or ``within`` seconds passed
            before they were all in.
    """
    expected = [
        e._replace(tick=i) for i, e in enumerate(parse_marbles(marbles, values))
    ]
    wanted = len(expected)
    ends = bool(expected) and expected[-1].kind != "N"
    got: list[Event] = []
    done = asyncio.get_running_loop().create_future()

    def record(kind: str, value: Any = None) -> None:
        if done.done():
            return
        got.append(Event(len(got), kind, value))
        if kind != "N" or (not ends and len(got) >= wanted):
            done.set_result(None)

    subscription = observable.subscribe(
        lambda v: record("N", v),
        lambda e: record("E", e),
        lambda: record("C"),
    )
    try:
        await asyncio.wait_for(asyncio.shield(done), within)
    except TimeoutError:
        got.append(Event(len(got), "timeout"))
    finally:
        subscription.dispose()
    _compare_events(expected, got, marbles, values, error, compare or same, timed=False)


def same(a: Any, b: Any) -> bool:
    """Equality that also copes with pandas and numpy objects."""
    if a is b:
        return True
    equals = getattr(a, "equals", None)
    if callable(equals) and type(a) is type(b):
        try:
            return bool(equals(b))
        except (TypeError, ValueError):
            pass
    try:
        result = a == b
        return result if isinstance(result, bool) else bool(result.all())
    except (TypeError, ValueError, AttributeError):
        return False


def _compare_events(
    expected: list[Event],
    actual: list[Event],
    marbles: str,
    values: Values | None,
    error: ErrorSpec,
    compare: Comparer,
    *,
    timed: bool,
) -> None:
    def matches(want: Event, have: Event) -> bool:
        if want.tick != have.tick or want.kind != have.kind:
            return False
        if want.kind == "N":
            return compare(want.value, have.value)
        if want.kind == "E":
            return _error_matches(error, have.value)
        return True

    index = next(
        (
            i
            for i in range(max(len(expected), len(actual)))
            if i >= len(expected)
            or i >= len(actual)
            or not matches(expected[i], actual[i])
        ),
        None,
    )
    if index is None:
        return
    legend = Legend(values, compare)
    if timed:
        lines = ["stream does not match its marbles"]
        lines.append(f"  expected: {marbles.strip()}")
        lines.append(
            f"  actual:   {legend.render([e for e in actual if e.kind != 'timeout'])}"
        )
    else:
        lines = ["stream events are not in the expected order"]
        lines.append(f"  expected: {' '.join(legend.symbol(e) for e in expected)}")
        lines.append(
            f"  actual:   {' '.join(_order_symbol(legend, e) for e in actual)}"
        )
    want = expected[index] if index < len(expected) else None
    if want is not None and want.kind == "E":
        want = want._replace(value=error)
    have = actual[index] if index < len(actual) else None
    detail = (
        f"expected {legend.describe(want, timed)}, got {legend.describe(have, timed)}"
    )
    lines.append(f"  first difference, event {index + 1}: {detail}")
    if legend.extra:
        lines.append(
            "  where " + ", ".join(f"{k} = {v!r}" for k, v in legend.extra.items())
        )
    raise AssertionError("\n".join(lines))


def _check_subscriptions(
    source: MarbleStream, marbles: list[str], context: Marbles
) -> None:
    if not isinstance(source, MarbleStream):
        raise TypeError("subscriptions are known only for Marbles.cold/hot streams")
    end = context.duration
    actual = [
        (start, None if stop is None or stop >= end else stop)
        for start, stop in source.subscriptions
    ]
    expected = [_parse_subscription(m) for m in marbles]
    if actual == expected:
        return
    lines = ["subscriptions do not match"]
    lines.append("  expected: " + "  ".join(m.strip() for m in marbles))
    lines.append("  actual:   " + "  ".join(_render_subscription(s) for s in actual))
    raise AssertionError("\n".join(lines))


def _parse_subscription(marbles: str) -> tuple[float, float | None]:
    text = marbles.replace(" ", "")
    if text.count("^") != 1:
        raise ValueError(f"a subscription marble has one ^: {marbles!r}")
    stop = text.find("!")
    return float(text.index("^")), None if stop < 0 else float(stop)


def _render_subscription(span: tuple[float, float | None]) -> str:
    start, stop = span
    text = "-" * int(start) + "^"
    if stop is not None:
        text += "-" * max(0, int(stop) - int(start) - 1) + "!"
    return text


def _event(recorded: Recorded[Any], context: Marbles) -> Event:
    tick = (recorded.time - context._origin) / context.timespan
    tick = int(tick) if float(tick).is_integer() else tick
    notification = recorded.value
    if isinstance(notification, OnNext):
        return Event(tick, "N", notification.value)
    if isinstance(notification, OnError):
        return Event(tick, "E", notification.exception)
    return Event(tick, "C")


def _as_exception(error: BaseException | None) -> Exception:
    if isinstance(error, Exception):
        return error
    return Exception("error")


def _error_matches(spec: ErrorSpec, error: Any) -> bool:
    if spec is None:
        return True
    if isinstance(spec, type):
        return isinstance(error, spec)
    return type(error) is type(spec) and str(error) == str(spec)


def _tick_text(tick: float) -> str:
    return str(int(tick)) if float(tick).is_integer() else f"{tick:g}"


def _order_symbol(legend: Legend, event: Event) -> str:
    return "(timeout)" if event.kind == "timeout" else legend.symbol(event)

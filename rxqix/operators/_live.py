"""Operators behind live values: coalesced refetching and shared latest values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SerialDisposable

T = TypeVar("T")
_NOTHING: Any = object()


def refetch_latest(
    fetch: Callable[[], Observable[T]],
) -> Callable[[Observable[Any]], Observable[T]]:
    """Fetch on every trigger, with at most one fetch in flight.

    Triggers that arrive while a fetch is in flight coalesce into one refetch
    when it ends, and the in-flight result, already stale, is dropped: the
    latest wins. The output completes when the triggers complete.

    ::

        triggers: a-----b-c-d--------|
        fetch:    [--1]  [--x] [--2]
        output:   ---1---------2-----|

    Example:
        >>> changes.pipe(ops.start_with(None), refetch_latest(fetch_layout))

    Args:
        fetch: makes a cold Observable for one fetch; its first value counts.
    """

    def _refetch(source: Observable[Any]) -> Observable[T]:
        def subscribe(
            observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            inflight = SerialDisposable()
            state = {"busy": False, "stale": False, "done": False}

            def start() -> None:
                state["busy"], state["stale"] = True, False
                got = [False]

                def on_value(value: T) -> None:
                    if not got[0]:
                        got[0] = True
                        if not state["stale"]:
                            observer.on_next(value)

                def on_end() -> None:
                    state["busy"] = False
                    if state["stale"] and not state["done"]:
                        start()

                try:
                    fetched = fetch()
                except Exception as exc:
                    observer.on_error(exc)
                    return
                inflight.disposable = fetched.subscribe(
                    on_value, observer.on_error, on_end, scheduler=scheduler
                )

            def on_trigger(_: Any) -> None:
                if state["busy"]:
                    state["stale"] = True
                else:
                    start()

            def on_completed() -> None:
                state["done"] = True
                inflight.dispose()
                observer.on_completed()

            subscription = source.subscribe(
                on_trigger, observer.on_error, on_completed, scheduler=scheduler
            )
            return CompositeDisposable(subscription, inflight)

        return Observable(subscribe)

    return _refetch


class _Latest(Generic[T]):
    """The shared state behind :func:`share_latest`: subscribers and the latest value.

    ``fresh`` is False between an invalidation and the next value: a
    subscriber that joins then waits for that value instead of being handed a
    stale one.
    """

    def __init__(self, comparer: Callable[[Any, Any], bool] | None) -> None:
        self.comparer = comparer
        self.observers: list[abc.ObserverBase[T]] = []
        self.waiting: list[abc.ObserverBase[T]] = []
        self.value: Any = _NOTHING
        self.fresh = False
        self.ended: tuple[str, Any] | None = None

    def on_next(self, value: T) -> None:
        same = (
            self.comparer is not None
            and self.value is not _NOTHING
            and self.comparer(self.value, value)
        )
        self.value, self.fresh = value, True
        waiting, self.waiting = self.waiting, []
        targets = waiting if same else list(self.observers)
        for observer in targets:
            observer.on_next(value)

    def on_error(self, error: Exception) -> None:
        self.ended = ("error", error)
        for observer in list(self.observers):
            observer.on_error(error)

    def on_completed(self) -> None:
        self.ended = ("completed", None)
        for observer in list(self.observers):
            observer.on_completed()

    def invalidate(self, _: Any = None) -> None:
        self.fresh = False

    def add(self, observer: abc.ObserverBase[T]) -> None:
        self.observers.append(observer)
        if self.value is not _NOTHING and self.fresh:
            observer.on_next(self.value)
        else:
            self.waiting.append(observer)

    def remove(self, observer: abc.ObserverBase[T]) -> None:
        for group in (self.observers, self.waiting):
            if observer in group:
                group.remove(observer)


def share_latest(
    invalidations: Observable[Any] | None = None,
    comparer: Callable[[Any, Any], bool] | None = None,
) -> Callable[[Observable[T]], Observable[T]]:
    """Share one subscription among all subscribers and replay the latest value.

    The source is subscribed on the first subscription and disposed with the
    last; a later subscriber starts afresh and is never handed a value from
    before the reset. Each ``invalidations`` item marks the latest value
    stale: until the next value, a new subscriber waits for it rather than
    getting the old one. With a ``comparer``, a value equal to the latest
    reaches only the subscribers still waiting for one.

    ::

        source:        --1------2---|
        invalidations: ------x------
        sub A:         ^-1------2---|
        sub B:            ^1--------|     (joins after 1: gets it at once)
        sub C:                ^-2---|     (joins while stale: waits for 2)
    """

    def _share(source: Observable[T]) -> Observable[T]:
        state: dict[str, Any] = {"latest": None, "connection": None}

        def subscribe(
            observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            latest: _Latest[T] | None = state["latest"]
            if latest is not None and latest.ended is not None:
                kind, error = latest.ended
                if kind == "error":
                    observer.on_error(error)
                else:
                    observer.on_completed()
                return Disposable()
            first = latest is None
            if latest is None:
                latest = state["latest"] = _Latest(comparer)
            latest.add(observer)
            if first:
                connection = CompositeDisposable()
                state["connection"] = connection
                if invalidations is not None:
                    connection.add(invalidations.subscribe(latest.invalidate))
                connection.add(
                    source.subscribe(
                        latest.on_next,
                        latest.on_error,
                        latest.on_completed,
                        scheduler=scheduler,
                    )
                )

            def dispose() -> None:
                assert latest is not None
                latest.remove(observer)
                if not latest.observers and state["latest"] is latest:
                    state["latest"] = None
                    connection, state["connection"] = state["connection"], None
                    if connection is not None:
                        connection.dispose()

            return Disposable(dispose)

        return Observable(subscribe)

    return _share


def same_value(a: Any, b: Any) -> bool:
    """Equality for layouts: the same object, or equal content."""
    return a is b or a == b

"""Operators behind live values: coalesced refetching and shared latest values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SerialDisposable
from reactivex.subject import ReplaySubject

T = TypeVar("T")


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


def share_latest() -> Callable[[Observable[T]], Observable[T]]:
    """Share one subscription among all subscribers and replay the latest value.

    The source is subscribed on the first subscription and disposed with the
    last; a later subscriber starts afresh and is never handed a value from
    before the reset.

    ::

        source:  --1---2---|
        sub A:   ^-1---2---|
        sub B:        ^1-2---|     (B joins after 1 and gets it at once)
    """

    def _share(source: Observable[T]) -> Observable[T]:
        state: dict[str, Any] = {"subject": None, "connection": None, "count": 0}

        def subscribe(
            observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            subject = state["subject"]
            if subject is None:
                subject = state["subject"] = ReplaySubject[T](1)
            inner = subject.subscribe(observer, scheduler=scheduler)
            state["count"] += 1
            if state["count"] == 1:
                state["connection"] = source.subscribe(subject, scheduler=scheduler)

            disposed = [False]

            def dispose() -> None:
                if disposed[0]:
                    return
                disposed[0] = True
                inner.dispose()
                state["count"] -= 1
                if state["count"] == 0:
                    connection, state["connection"] = state["connection"], None
                    state["subject"] = None
                    if connection is not None:
                        connection.dispose()

            return Disposable(dispose)

        return Observable(subscribe)

    return _share


def same_value(a: Any, b: Any) -> bool:
    """Equality for layouts: the same object, or equal content."""
    return a is b or a == b

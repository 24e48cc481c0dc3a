"""Marble tests of the live-value operators on virtual time."""

from __future__ import annotations

import itertools
from typing import Any

from reactivex import Observable
from reactivex import operators as ops
from reactivex.disposable import Disposable
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.marbles import marbles_testing

from rxqix.operators import refetch_latest, share_latest

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed


def counting_fetch(cold: Any, duration: str = "--") -> tuple[Any, list[str]]:
    """A fetch whose n-th call emits 'n' after `duration` ticks."""
    counter = itertools.count(1)
    calls: list[str] = []

    def fetch() -> Observable[str]:
        n = str(next(counter))
        calls.append(n)
        return cold(f"{duration}{n}|")

    return fetch, calls


def tracked(source: Observable[Any], gauge: dict[str, int]) -> Observable[Any]:
    """Wrap a source so that `gauge` counts how many subscriptions are live."""

    def subscribe(observer: Any, scheduler: Any = None) -> Disposable:
        gauge["now"] += 1
        gauge["max"] = max(gauge["max"], gauge["now"])
        live = [True]

        def leave() -> None:
            if live[0]:
                live[0] = False
                gauge["now"] -= 1

        def completed() -> None:
            leave()
            observer.on_completed()

        inner = source.subscribe(
            observer.on_next, observer.on_error, completed, scheduler=scheduler
        )
        return Disposable(lambda: (leave(), inner.dispose()))

    return Observable(subscribe)


def test_refetch_latest_fetches_once_per_idle_trigger():
    """Each trigger that finds no fetch in flight starts one and emits its value."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        fetch, calls = counting_fetch(cold)
        triggers = hot("-a-----b-----|")
        expected = exp("---1-----2---|")  # a value counts when it arrives
        assert start(triggers.pipe(refetch_latest(fetch))) == expected
        assert calls == ["1", "2"]


def test_refetch_latest_coalesces_triggers_during_a_fetch():
    """Triggers during a fetch give one refetch; the stale result is dropped."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        fetch, calls = counting_fetch(cold, "---")
        triggers = hot("-a-bcd---------|")
        # fetch 1 runs 1..5 while b, c, d arrive and is dropped; fetch 2 runs 5..9
        expected = exp("--------2------|")
        assert start(triggers.pipe(refetch_latest(fetch))) == expected
        assert calls == ["1", "2"]


def test_refetch_latest_never_has_two_fetches_in_flight():
    """A storm of triggers keeps at most one fetch in flight at a time."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        gauge = {"now": 0, "max": 0}
        triggers = hot("-abcdefghij------|")
        results = start(
            triggers.pipe(refetch_latest(lambda: tracked(cold("--x|"), gauge)))
        )
        assert gauge["max"] == 1
        assert gauge["now"] == 0
        assert len([r for r in results if r.value.kind == "N"]) == 1


def test_refetch_latest_completes_with_the_triggers_and_drops_the_fetch():
    """When the handle closes mid-fetch the output completes; the fetch is disposed."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        gauge = {"now": 0, "max": 0}
        triggers = hot("-a--|")
        expected = exp("----|")
        fetch = lambda: tracked(cold("-----x|"), gauge)  # noqa: E731
        assert start(triggers.pipe(refetch_latest(fetch))) == expected
        assert gauge["now"] == 0


def test_refetch_latest_sends_fetch_errors_to_on_error():
    """A failed fetch ends the stream with its error."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        triggers = hot("-a-----|")
        expected = exp("---#")
        assert start(triggers.pipe(refetch_latest(lambda: cold("--#")))) == expected


def test_unchanged_values_are_not_emitted_twice():
    """With distinct_until_changed, an unchanged value after a change is suppressed."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        results = iter("aab")
        triggers = hot("-x---x---x---|")
        expected = exp("---a-------b-|")
        pipeline = triggers.pipe(
            refetch_latest(lambda: cold(f"--{next(results)}|")),
            ops.distinct_until_changed(),
        )
        assert start(pipeline) == expected


def test_share_latest_subscribes_once_and_replays_the_latest_value():
    """Two subscribers share one source subscription; the late one gets the latest."""
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(
        on_next(10, "a"), on_next(30, "b"), on_completed(50)
    )
    shared = source.pipe(share_latest())
    early = scheduler.create_observer()
    late = scheduler.create_observer()
    scheduler.schedule_absolute(100, lambda *_: shared.subscribe(early))
    scheduler.schedule_absolute(120, lambda *_: shared.subscribe(late))
    scheduler.start()

    assert early.messages == [on_next(110, "a"), on_next(130, "b"), on_completed(150)]
    assert late.messages == [on_next(120, "a"), on_next(130, "b"), on_completed(150)]
    assert len(source.subscriptions) == 1


def test_share_latest_starts_afresh_after_the_last_subscriber_leaves():
    """After everyone unsubscribes, a new subscriber gets no stale value."""
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_next(10, "a"), on_next(300, "z"))
    shared = source.pipe(share_latest())
    first = scheduler.create_observer()
    second = scheduler.create_observer()
    holder: dict[str, Any] = {}
    scheduler.schedule_absolute(
        100, lambda *_: holder.update(sub=shared.subscribe(first))
    )
    scheduler.schedule_absolute(150, lambda *_: holder["sub"].dispose())
    scheduler.schedule_absolute(200, lambda *_: shared.subscribe(second))
    scheduler.start()

    assert first.messages == [on_next(110, "a")]
    assert second.messages == [on_next(210, "a"), on_next(500, "z")]
    assert [(s.subscribe, s.unsubscribe) for s in source.subscriptions][0] == (100, 150)

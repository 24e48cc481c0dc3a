"""Selection operators on virtual time: one in flight, latest wins, debounce."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from reactivex import operators as ops
from reactivex.subject import Subject
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.marbles import marbles_testing
from reactivex.testing.subscription import Subscription

import rxqix
from rxqix.operators import (
    clear_selections,
    concat_map_latest,
    field_values,
    select_match,
    select_values,
)

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
T0 = 200


class StandInField:
    """A Field stand-in: each call is logged with `clock()` and answered by `answer()`."""

    def __init__(self, answer: Any, clock: Any = lambda: 0) -> None:
        self.answer = answer
        self.clock = clock
        self.calls: list[tuple[int, str, Any]] = []

    def _answer(self, method: str, args: Any) -> Any:
        self.calls.append((self.clock(), method, args))
        return self.answer()

    def select_values(self, values, toggle_mode=False, soft_lock=False):
        return self._answer("SelectValues", (values, toggle_mode, soft_lock))

    def select(self, match, soft_lock=False):
        return self._answer("Select", match)

    def clear(self):
        return self._answer("Clear", None)


class StandInDoc(StandInField):
    def clear_all(self):
        return self._answer("ClearAll", None)


def virtual_field(scheduler: TestScheduler, delay: int = 3, kind: type = StandInField):
    """A stand-in answering True `delay` ticks after each call, logging ticks from T0."""

    def answer():
        return scheduler.create_cold_observable(
            on_next(delay, True), on_completed(delay)
        )

    return kind(answer, lambda: int(scheduler.clock) - T0)


def virtual_doc(scheduler: TestScheduler, delay: int = 3):
    return virtual_field(scheduler, delay, StandInDoc)


def test_concat_map_latest_runs_one_at_a_time_and_keeps_the_latest():
    """Values during a run are replaced by newer ones; the latest runs next."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        source = hot("-a-b-c-d--------|")
        expected = exp("----A---C---D---|")
        mapper = lambda v: cold(f"---{v.upper()}|")  # noqa: E731
        assert start(source.pipe(concat_map_latest(mapper))) == expected


def test_concat_map_latest_waits_for_the_trailing_value_before_completing():
    """When the source completes mid-run, the waiting value still runs."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        source = hot("-a-b|")
        expected = exp("----A---B|")
        mapper = lambda v: cold(f"---{v.upper()}|")  # noqa: E731
        assert start(source.pipe(concat_map_latest(mapper))) == expected


def test_concat_map_latest_sends_inner_and_mapper_errors_to_on_error():
    """An inner error or a raising mapper ends the stream."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        source = hot("-a----|")
        assert start(source.pipe(concat_map_latest(lambda _: cold("--#")))) == exp(
            "---#"
        )
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        source = hot("-a----|")
        assert (
            start(source.pipe(concat_map_latest(lambda _: 1 / 0)))[0].value.kind == "E"
        )


def test_field_values_turns_texts_and_numbers_into_field_values():
    """Strings match by text, numbers by value, dicts pass; one value may stand alone."""
    assert field_values(["JFK", 7, 2.5, {"qText": "x"}]) == [
        {"qText": "JFK"},
        {"qText": "7", "qIsNumeric": True, "qNumber": 7},
        {"qText": "2.5", "qIsNumeric": True, "qNumber": 2.5},
        {"qText": "x"},
    ]
    assert field_values("EWR") == [{"qText": "EWR"}]
    assert field_values(3.0) == [{"qText": "3", "qIsNumeric": True, "qNumber": 3.0}]
    assert field_values(None) == []


@pytest.mark.parametrize("bad", [True, object(), [None]])
def test_field_values_refuses_other_values(bad):
    """Booleans and other objects are a TypeError."""
    with pytest.raises(TypeError, match=r"^cannot select"):
        field_values(bad)


def test_select_values_keeps_one_selection_in_flight_and_the_latest_waiting():
    """A burst of values: the first is selected, then only the last of the rest."""
    scheduler = TestScheduler()
    field = virtual_field(scheduler)
    values = scheduler.create_hot_observable(
        on_next(T0 + 1, ["a"]),
        on_next(T0 + 2, ["b"]),
        on_next(T0 + 3, ["c"]),
        on_completed(T0 + 5),
    )
    results = scheduler.start(lambda: values.pipe(select_values(field)))
    assert [(t, args[0]) for t, _, args in field.calls] == [
        (1, [{"qText": "a"}]),
        (4, [{"qText": "c"}]),
    ]
    assert results.messages == [
        on_next(T0 + 4, True),
        on_next(T0 + 7, True),
        on_completed(T0 + 7),
    ]


def test_select_values_clears_on_an_empty_list():
    """[] or None clears the field instead of selecting nothing."""
    scheduler = TestScheduler()
    field = virtual_field(scheduler, delay=1)
    values = scheduler.create_hot_observable(
        on_next(T0 + 1, [5]), on_next(T0 + 4, []), on_next(T0 + 7, None)
    )
    scheduler.start(lambda: values.pipe(select_values(field, toggle_mode=True)))
    assert [(m, a) for _, m, a in field.calls] == [
        (
            "SelectValues",
            ([{"qText": "5", "qIsNumeric": True, "qNumber": 5}], True, False),
        ),
        ("Clear", None),
        ("Clear", None),
    ]


def test_select_values_debounces_on_the_given_scheduler():
    """With debounce=3 a slider drag selects once, 3 ticks after it stops."""
    scheduler = TestScheduler()
    field = virtual_field(scheduler, delay=2)
    slider = scheduler.create_hot_observable(
        *[on_next(T0 + t, [t]) for t in (1, 2, 3, 4)],
        on_next(T0 + 20, [20]),
        on_completed(T0 + 30),
    )
    results = scheduler.start(
        lambda: slider.pipe(select_values(field, debounce=3, scheduler=scheduler))
    )
    assert [(t, args[0][0]["qNumber"]) for t, _, args in field.calls] == [
        (7, 4),
        (23, 20),
    ]
    assert [m.time - T0 for m in results.messages] == [9, 25, 30]


def test_select_values_debounce_uses_the_session_scheduler_by_default():
    """Without a scheduler argument the field's session scheduler times the debounce."""
    scheduler = TestScheduler()
    field = virtual_field(scheduler, delay=1)
    field.session = type("S", (), {"scheduler": scheduler})()
    values = scheduler.create_hot_observable(
        on_next(T0 + 1, ["x"]), on_next(T0 + 2, ["y"])
    )
    scheduler.start(lambda: values.pipe(select_values(field, debounce=5)))
    assert [(t, args[0]) for t, _, args in field.calls] == [(7, [{"qText": "y"}])]


def test_select_values_disposed_stops_selecting():
    """After dispose, waiting values are dropped and nothing more is sent."""
    scheduler = TestScheduler()
    field = virtual_field(scheduler, delay=5)
    values = scheduler.create_hot_observable(
        on_next(T0 + 1, ["a"]), on_next(T0 + 2, ["b"])
    )
    scheduler.start(lambda: values.pipe(select_values(field)), disposed=T0 + 4)
    assert [t for t, _, _ in field.calls] == [1]
    assert values.subscriptions == [Subscription(T0, T0 + 4)]


def test_select_match_selects_search_strings_and_clears_on_empty():
    """Field.Select per string after the debounce; an empty string clears."""
    scheduler = TestScheduler()
    field = virtual_field(scheduler, delay=1)
    typed = scheduler.create_hot_observable(
        on_next(T0 + 1, "J"),
        on_next(T0 + 2, "JF"),
        on_next(T0 + 3, "JFK"),
        on_next(T0 + 10, ""),
    )
    scheduler.start(
        lambda: typed.pipe(select_match(field, debounce=2, scheduler=scheduler))
    )
    assert [(t, m, a) for t, m, a in field.calls] == [
        (5, "Select", "JFK"),
        (12, "Clear", None),
    ]


def test_clear_selections_clears_a_doc_or_a_field():
    """A Doc gets ClearAll, a Field gets Clear; clicks during a clear make one more."""
    scheduler = TestScheduler()
    doc = virtual_doc(scheduler, delay=2)
    clicks = scheduler.create_hot_observable(
        on_next(T0 + 1, "c"), on_next(T0 + 2, "c"), on_next(T0 + 2, "c")
    )
    results = scheduler.start(lambda: clicks.pipe(clear_selections(doc)))
    assert [(t, m) for t, m, _ in doc.calls] == [(1, "ClearAll"), (3, "ClearAll")]
    assert [m.time - T0 for m in results.messages] == [3, 5]
    scheduler = TestScheduler()
    field = virtual_field(scheduler, delay=2)
    clicks = scheduler.create_hot_observable(on_next(T0 + 1, "c"))
    scheduler.start(lambda: clicks.pipe(clear_selections(field)))
    assert [m for _, m, _ in field.calls] == ["Clear"]


def marble_doc(cold: Any) -> StandInDoc:
    """A stand-in answering True three ticks after each call (marbles_testing)."""
    return StandInDoc(lambda: cold("---T|", {"T": True}))


def test_select_values_diagram():
    """The docstring's diagram: b waits for a, c for b, and [] clears."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        field = marble_doc(cold)
        lookup = {"a": ["a"], "b": ["b"], "c": ["c"], "x": []}
        values = hot("-a-b--c-----x----|", lookup)
        expected = exp("----T--T--T----T-|", {"T": True})
        assert start(values.pipe(select_values(field))) == expected
        assert [m for _, m, _ in field.calls] == ["SelectValues"] * 3 + ["Clear"]


def test_select_match_diagram():
    """The docstring's diagram: typing settles for 2 ticks, then one Select."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        field = marble_doc(cold)
        typed = hot("-a-b-c-------|", {"a": "J", "b": "JF", "c": "JFK"})
        expected = exp("----------T--|", {"T": True})
        assert start(typed.pipe(select_match(field, debounce=2))) == expected
        assert [(m, a) for _, m, a in field.calls] == [("Select", "JFK")]


def test_clear_selections_diagram():
    """The docstring's diagram: clicks during a clear make one more clear."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        doc = marble_doc(cold)
        clicks = hot("-c-(c,c)------|")  # two clicks at 3 make one clear
        expected = exp("----T--T------|", {"T": True})
        assert start(clicks.pipe(clear_selections(doc))) == expected
        assert [m for _, m, _ in doc.calls] == ["ClearAll", "ClearAll"]


# -- over a real socket, against the scripted fake engine ----------------------


async def test_select_values_over_a_socket_sends_first_and_latest(fake_engine):
    """A burst selects the first value, then only the latest (here a clear)."""
    fake_engine.reply("OpenDoc", {"qReturn": fake_engine.ref("Doc", 1, "app")})
    fake_engine.reply("GetField", {"qReturn": fake_engine.ref("Field", 3)})
    fake_engine.reply("SelectValues", {"qReturn": True}, change=[1])
    fake_engine.reply("Clear", {"qReturn": True})
    async with rxqix.Session(fake_engine.url) as qix:
        doc = await qix.open_doc("app")
        month = await doc.get_field("month")
        months: Subject = Subject()
        answers = months.pipe(select_values(month), ops.to_list())
        result = asyncio.get_running_loop().create_future()
        answers.subscribe(result.set_result, result.set_exception)
        for value in ([1], [2], [3]):
            months.on_next(value)
        months.on_next([])
        months.on_completed()
        assert await asyncio.wait_for(result, 5) == [True, True]
    sent = [
        f["params"]
        for f in fake_engine.requests()
        if f["method"] in ("SelectValues", "Clear")
    ]
    assert sent == [
        [[{"qText": "1", "qIsNumeric": True, "qNumber": 1}], False, False],
        [],
    ]


def test_select_values_throttle_spaces_selections_and_keeps_the_last():
    """throttle=5: the first goes at once, the latest waiting one 5 ticks later."""
    scheduler = TestScheduler()
    field = virtual_field(scheduler, delay=1)
    slider = scheduler.create_hot_observable(
        *[on_next(T0 + t, [t]) for t in (1, 2, 3, 4)],
        on_next(T0 + 20, [20]),
        on_completed(T0 + 30),
    )
    results = scheduler.start(
        lambda: slider.pipe(select_values(field, throttle=5, scheduler=scheduler))
    )
    assert [(t, args[0][0]["qNumber"]) for t, _, args in field.calls] == [
        (1, 1),
        (6, 4),
        (20, 20),
    ]
    assert [m.time - T0 for m in results.messages] == [2, 7, 21, 30]


def test_throttle_waits_for_a_slow_answer_too():
    """When the engine answers after the interval, the next one waits for the answer."""
    scheduler = TestScheduler()
    field = virtual_field(scheduler, delay=8)
    values = scheduler.create_hot_observable(
        on_next(T0 + 1, ["a"]), on_next(T0 + 2, ["b"])
    )
    scheduler.start(
        lambda: values.pipe(select_values(field, throttle=3, scheduler=scheduler))
    )
    assert [t for t, _, _ in field.calls] == [1, 9]


def test_clear_selections_can_debounce_and_throttle():
    """A burst of clicks with debounce makes one clear; throttle spaces the rest."""
    scheduler = TestScheduler()
    doc = virtual_doc(scheduler, delay=1)
    clicks = scheduler.create_hot_observable(
        on_next(T0 + 1, "c"),
        on_next(T0 + 2, "c"),
        on_next(T0 + 10, "c"),
        on_next(T0 + 11, "c"),
    )
    scheduler.start(
        lambda: clicks.pipe(
            clear_selections(doc, debounce=2, throttle=20, scheduler=scheduler)
        )
    )
    assert [t for t, _, _ in doc.calls] == [4, 24]

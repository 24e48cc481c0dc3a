"""The marble helpers, used through the plugin's `marbles` fixture as a user would."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import reactivex
from reactivex import operators as ops

from rxqix.operators import concat_map_latest, fetch_in_order, refetch_latest
from rxqix.testing import Event, Marbles, assert_marbles, parse_marbles, render_marbles


def test_a_mapped_cold_stream_matches_its_marbles(marbles):
    """cold + assert_marbles + assert_subscriptions: the basic round."""
    source = marbles.cold("-a-b|", {"a": 1, "b": 2})
    marbles.assert_marbles(
        source.pipe(ops.map(lambda x: x * 10)), "-x-y|", {"x": 10, "y": 20}
    )
    marbles.assert_subscriptions(source, "^---!")


def test_characters_stand_for_themselves_without_values(marbles):
    """With no values table a character is the one-character string."""
    marbles.assert_marbles(marbles.cold("-a-(bc)-|"), "-a-(bc)-|")


def test_a_hot_stream_plays_from_its_caret(marbles):
    """Events before ^ happen before the subscription and are not seen."""
    hot = marbles.hot("a-^-b-c|")
    marbles.expect(hot, "--b-c|")
    marbles.expect_subscriptions(hot, "^----!")
    marbles.flush()


def test_a_hot_event_at_tick_zero_reaches_the_subscriber(marbles):
    """Unlike TestScheduler.start, tick 0 is not skipped."""
    marbles.assert_marbles(marbles.hot("a-b|"), "a-b|")


def test_two_streams_are_checked_in_one_run(marbles):
    """expect twice, flush once: both run on the same clock."""
    hot = marbles.hot("-a--b-|")
    marbles.expect(hot.pipe(ops.count()), "------(n|)", {"n": 2})
    marbles.expect(hot.pipe(ops.take(1)), "-(a|)")
    marbles.flush()


def test_operators_take_the_context_scheduler(marbles):
    """debounce(2) on marbles.scheduler: a value counts after two quiet ticks."""
    typed = marbles.hot("-a-b-c------|")
    marbles.assert_marbles(
        typed.pipe(ops.debounce(2, scheduler=marbles.scheduler)), "-------c----|"
    )


def test_a_wrong_tick_shows_both_marbles_and_the_first_difference(marbles):
    """The failure message lines up expected and actual and names the event."""
    source = marbles.cold("-a-b|", {"a": 1, "b": 2})
    with pytest.raises(AssertionError) as caught:
        marbles.assert_marbles(source.pipe(ops.delay(1)), "-a-b|", {"a": 1, "b": 2})
    assert str(caught.value).splitlines() == [
        "stream does not match its marbles",
        "  expected: -a-b|",
        "  actual:   --a-b|",
        "  first difference, event 1: expected a = 1 at tick 1, got a = 1 at tick 2",
    ]


def test_an_unexpected_value_gets_a_letter_and_a_legend(marbles):
    """Values not in the table are named A, B... and listed after the diff."""
    source = marbles.cold("-a|", {"a": {"carrier": "AA"}})
    with pytest.raises(AssertionError) as caught:
        marbles.assert_marbles(
            source.pipe(ops.map(lambda v: {**v, "n": 1})),
            "-a|",
            {"a": {"carrier": "AA"}},
        )
    lines = str(caught.value).splitlines()
    assert lines[2] == "  actual:   -A|"
    assert lines[-1] == "  where A = {'carrier': 'AA', 'n': 1}"


def test_a_missing_completion_is_reported(marbles):
    """A stream that does not end where the marbles say fails with 'got nothing'."""
    with pytest.raises(
        AssertionError, match=r"expected completion at tick 2, got nothing"
    ):
        marbles.assert_marbles(marbles.hot("-a"), "-a|")


def test_errors_match_by_type_and_message(marbles):
    """# with error=SomeType matches by type; an instance matches type and message."""
    boom = ValueError("boom")
    marbles.expect(marbles.cold("-#", error=boom), "-#", error=ValueError)
    marbles.expect(marbles.cold("--#", error=boom), "--#", error=ValueError("boom"))
    marbles.flush()


def test_a_different_error_is_reported(marbles):
    """An error of another message fails and shows both errors."""
    with pytest.raises(AssertionError, match=re.escape("expected error KeyError('x')")):
        marbles.assert_marbles(
            marbles.cold("-#", error=KeyError("y")), "-#", error=KeyError("x")
        )


def test_dataframes_compare_by_content(marbles):
    """DataFrame values are compared with .equals, not ==."""
    frame = pd.DataFrame({"a": [1, 2]})
    source = marbles.cold("-f|", {"f": frame})
    marbles.assert_marbles(
        source.pipe(ops.map(lambda f: f.copy())), "-f|", {"f": frame}
    )


def test_a_wrong_subscription_is_reported(marbles):
    """Subscription marbles that differ show both."""
    source = marbles.cold("-a-b-c|")
    marbles.assert_marbles(source.pipe(ops.take(1)), "-(a|)")
    with pytest.raises(AssertionError, match=r"expected: \^---!\n  actual:   \^!"):
        marbles.assert_subscriptions(source, "^---!")


def test_a_stream_that_never_ends_is_cut_at_the_duration():
    """Marbles(duration=...) stops an endless stream; it is not reported as ending."""
    marbles = Marbles(duration=6)
    ticks = reactivex.interval(2, scheduler=marbles.scheduler)
    marbles.assert_marbles(ticks, "--a-b-", {"a": 0, "b": 1})


def test_run_returns_the_events():
    """run() gives Events with ticks from the subscription."""
    marbles = Marbles()
    events = marbles.run(marbles.cold("-a-(b|)", {"a": 1}))
    assert events == [Event(1, "N", 1), Event(3, "N", "b"), Event(3, "C")]


def test_a_context_runs_once():
    """After a run, making streams or expectations is an error."""
    marbles = Marbles()
    marbles.run(marbles.cold("-a|"))
    with pytest.raises(RuntimeError, match=r"^this Marbles context has run"):
        marbles.hot("-a|")


def test_a_timespan_scales_scheduler_time():
    """With timespan=0.5 a tick is half a second of virtual time."""
    marbles = Marbles(timespan=0.5)
    delayed = marbles.cold("a|").pipe(ops.delay(1.0, scheduler=marbles.scheduler))
    marbles.assert_marbles(delayed, "--a|")


def test_assert_marbles_alone_runs_scheduler_driven_streams():
    """The module-level helper suits streams that take the subscription's scheduler."""
    assert_marbles(reactivex.timer(2, 1).pipe(ops.take(2)), "--x(y|)", {"x": 0, "y": 1})


def test_parse_and_render_are_inverse_on_one_character_events():
    """render_marbles writes what parse_marbles read."""
    for marbles in ("-a-b|", "a(bc)-#", "--(a|)"):
        assert render_marbles(parse_marbles(marbles)) == marbles


@pytest.mark.parametrize("bad", ["-(a", "-a)", "(a(b))", "^-^"])
def test_parse_refuses_broken_marbles(bad):
    """Unbalanced groups and two carets are ValueErrors."""
    with pytest.raises(ValueError, match=r"(unbalanced|nested|more than one)"):
        parse_marbles(bad)


def test_refetch_latest_as_a_user_would_test_it(marbles):
    """The live-layout operator: triggers during a fetch coalesce into one refetch."""
    fetches = iter("12")
    triggers = marbles.hot("-a-bcd---------|")
    layouts = triggers.pipe(
        refetch_latest(lambda: marbles.cold(f"---{next(fetches)}|"))
    )
    marbles.assert_marbles(layouts, "--------2------|")


def test_fetch_in_order_as_a_user_would_test_it(marbles):
    """The docstring's diagram of fetch_in_order holds."""
    fetches = [
        marbles.cold("--a|"),
        marbles.cold("-b|"),
        marbles.cold("----c|"),
        marbles.cold("d|"),
    ]
    out = fetch_in_order([lambda f=f: f for f in fetches], concurrency=2)
    marbles.expect(out, "--ab---c(d|)")
    marbles.expect_subscriptions(fetches[2], "---^----!")
    marbles.flush()


def test_concat_map_latest_as_a_user_would_test_it(marbles):
    """The docstring's diagram of concat_map_latest holds."""
    source = marbles.hot("-a-b-c-d--------|")
    out = source.pipe(concat_map_latest(lambda v: marbles.cold(f"---{v.upper()}|")))
    marbles.assert_marbles(out, "----A---C---D---|")

"""Streams of values turned into engine selections, at the engine's pace.

A slider or a search box can emit far faster than the engine selects. These
operators keep **at most one selection in flight**: values that arrive
meanwhile wait, only the latest of them, and go out when the one in flight is
answered (``concat_map_latest``: exhaust with a trailing value). Nothing is
cancelled, since a selection already sent cannot be taken back, and every
answer (``qReturn``, True when the selection took) is emitted. ``debounce``
adds a quiet period before a value counts, for input that comes in bursts;
``throttle`` a shortest time between two selections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable, SerialDisposable

from rxqix.operators._hypercube import observe_call

T = TypeVar("T")
R = TypeVar("R")

FieldValue = dict[str, Any]
"""A QIX ``FieldValue``: ``qText``, ``qIsNumeric``, ``qNumber``."""


def concat_map_latest(
    mapper: Callable[[T], Observable[R]],
) -> Callable[[Observable[T]], Observable[R]]:
    """Map values one at a time; while one runs, only the latest waits.

    Values that arrive while an inner stream runs are not dropped but
    replaced: when it completes, the latest of them runs next. The output
    completes when the source has and nothing runs or waits.

    ::

        source: -a-b-c-d--------|
        inner:   ---A|              b waits, and c replaces it
                     ---C|          d waits
                         ---D|
        output: ----A---C---D---|

    Example:
        >>> slider.pipe(concat_map_latest(lambda v: observe_call(field.select, v)))
    """

    def _concat(source: Observable[T]) -> Observable[R]:
        def subscribe(
            observer: abc.ObserverBase[R], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            inner = SerialDisposable()
            waiting: list[T] = []
            state = {"busy": False, "done": False}

            def run(value: T) -> None:
                state["busy"] = True
                try:
                    stream = mapper(value)
                except Exception as exc:
                    observer.on_error(exc)
                    return
                inner.disposable = stream.subscribe(
                    observer.on_next, observer.on_error, finished, scheduler=scheduler
                )

            def finished() -> None:
                state["busy"] = False
                if waiting:
                    run(waiting.pop())
                elif state["done"]:
                    observer.on_completed()

            def on_next(value: T) -> None:
                if state["busy"]:
                    waiting[:] = [value]
                else:
                    run(value)

            def on_completed() -> None:
                state["done"] = True
                if not state["busy"]:
                    observer.on_completed()

            outer = source.subscribe(
                on_next, observer.on_error, on_completed, scheduler=scheduler
            )
            return CompositeDisposable(outer, inner)

        return Observable(subscribe)

    return _concat


def field_values(values: Any) -> list[FieldValue]:
    """Turn values into QIX ``FieldValue`` dicts.

    A string is matched by text, a number by value; a dict is taken as a
    FieldValue already. A single string or number counts as one value; None
    as none.

    Example:
        >>> field_values(["JFK", 7])
        [{'qText': 'JFK'}, {'qText': '7', 'qIsNumeric': True, 'qNumber': 7}]

    Raises:
        TypeError: a value that is no string, number or dict.
    """
    if values is None:
        return []
    if isinstance(values, str | Mapping) or not isinstance(values, Iterable):
        values = [values]
    return [_field_value(value) for value in values]


def select_values(
    field: Any,
    *,
    toggle_mode: bool = False,
    soft_lock: bool = False,
    debounce: float | None = None,
    throttle: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[Any]], Observable[bool]]:
    """Select each incoming list of values in a field (``Field.SelectValues``).

    An empty list (or None) clears the field (``Field.Clear``). Values become
    FieldValues as in :func:`field_values`. At most one selection is in
    flight; the latest waiting value wins (see :func:`concat_map_latest`).
    Each selection's ``qReturn`` is emitted; engine errors end the stream.

    ::

        values: -a-b--c-----x----|      x is [] (a clear)
        engine:  ---T                   SelectValues a
                    ---T                b, waiting since 3
                       ---T             c
                            ---T        Clear
        output: ----T--T--T----T-|

    Example:
        >>> slider.pipe(select_values(month, debounce=0.15)).subscribe(print)

    Args:
        field: a Field API object (or anything with async or Observable
            ``select_values`` and ``clear``).
        toggle_mode: toggle the values instead of replacing the selection.
        soft_lock: select in a locked field too.
        debounce: seconds a value must stand before it is selected.
        throttle: the fewest seconds from one selection to the next; the
            first goes out at once, the latest waiting one when the time
            is up (and the answer is in).
        scheduler: the scheduler of the timers; the session's by default.
    """

    def select(values: Any) -> Observable[Any]:
        wanted = field_values(values)
        if not wanted:
            return observe_call(field.clear)
        return observe_call(field.select_values, wanted, toggle_mode, soft_lock)

    return _selecting(select, field, _Pacing(debounce, throttle, scheduler))


def select_match(
    field: Any,
    *,
    soft_lock: bool = False,
    debounce: float | None = None,
    throttle: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[str]], Observable[bool]]:
    """Select the values matching each incoming search string (``Field.Select``).

    The string is a QIX search: a text, a wildcard ``A*``, or a numeric
    ``>=10<20``. An empty string (or None) clears the field. The one in
    flight, ``debounce``, ``throttle`` and ``scheduler`` work as in
    :func:`select_values`.

    ::

        typed:  -a-b-c-------|          a, b, c: "J", "JF", "JFK"; debounce=2
        engine:        ---T             c stood from 5 to 7: Select("JFK")
        output: ----------T--|

    Example:
        >>> search_box.pipe(select_match(origin, debounce=0.3))
    """

    def select(match: str | None) -> Observable[Any]:
        if not match:
            return observe_call(field.clear)
        return observe_call(field.select, match, soft_lock)

    return _selecting(select, field, _Pacing(debounce, throttle, scheduler))


def clear_selections(
    target: Any,
    *,
    debounce: float | None = None,
    throttle: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[Any]], Observable[Any]]:
    """Clear selections on each incoming value (a "clear" button's clicks).

    A Doc clears every field (``Doc.ClearAll``); a Field clears itself
    (``Field.Clear``). Clicks during a clear in flight make one more;
    ``debounce``, ``throttle`` and ``scheduler`` work as in
    :func:`select_values`.

    ::

        clicks: -c-(cc)-------|         two clicks at 3 wait as one
        engine:  ---T
                    ---T
        output: ----T--T------|

    Example:
        >>> button_clicks.pipe(clear_selections(doc))
    """

    def clear(_: Any) -> Observable[Any]:
        method = getattr(target, "clear_all", None) or target.clear
        return observe_call(method)

    return _selecting(clear, target, _Pacing(debounce, throttle, scheduler))


class _Pacing(NamedTuple):
    debounce: float | None
    throttle: float | None
    scheduler: abc.SchedulerBase | None


def _selecting(
    select: Callable[[Any], Observable[Any]],
    target: Any,
    pacing: _Pacing,
) -> Callable[[Observable[Any]], Observable[Any]]:
    debounce, throttle, scheduler = pacing
    if debounce is None and throttle is None:
        return concat_map_latest(select)

    def _operator(source: Observable[Any]) -> Observable[Any]:
        def factory(_: abc.SchedulerBase) -> Observable[Any]:
            # The session's scheduler exists once it is open, so look it up
            # now; with none, the timers fall back to the subscriber's.
            session = getattr(target, "session", None)
            timer = scheduler or getattr(session, "scheduler", None)

            def paced(value: Any) -> Observable[Any]:
                if throttle is None:
                    return select(value)
                # the slot stays taken until the answer and the interval are
                # both over: the next waiting value goes out no sooner
                gap = reactivex.timer(throttle, scheduler=timer)
                return reactivex.merge(select(value), gap.pipe(ops.ignore_elements()))

            values = source
            if debounce is not None:
                values = values.pipe(ops.debounce(debounce, scheduler=timer))
            return values.pipe(concat_map_latest(paced))

        return reactivex.defer(factory)

    return _operator


def _field_value(value: Any) -> FieldValue:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        return {"qText": value}
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(int(value)) if float(value).is_integer() else repr(float(value))
        return {"qText": text, "qIsNumeric": True, "qNumber": value}
    raise TypeError(f"cannot select {value!r}: use a string, a number or a dict")

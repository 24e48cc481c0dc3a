"""Operators that run the protocol pipelines on the frames Observable."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from reactivex import Observable, compose
from reactivex import operators as ops

from rxqix import interceptors as stages
from rxqix._protocol.rpc import Reply, Request, handles_of, is_notification

Frame = dict[str, Any]
Pending = MutableMapping[int, Request]


def _stage(
    fn: Callable[[Reply], Reply],
) -> Callable[[Observable[Reply]], Observable[Reply]]:
    def run(reply: Reply) -> Reply:
        if reply.error is not None:
            return reply
        try:
            return fn(reply)
        except Exception as exc:  # a stage failure fails this reply, not the stream
            reply.error = exc
            return reply

    return ops.map(run)


def take_reply(pending: Pending, frame: Frame) -> Reply | None:
    """Pair a frame with its pending request (taking it), or return None.

    Only an integer id that is pending makes a reply: an unsolicited frame is
    never taken for one.
    """
    request_id = frame.get("id")
    if type(request_id) is not int:
        return None
    request = pending.pop(request_id, None)
    return None if request is None else Reply(request, frame)


def correlate(pending: Pending) -> Callable[[Observable[Frame]], Observable[Reply]]:
    """Pair each frame whose id is pending with its request; drop the rest.

    ::

        frames:  --r1--n--r2--x--|     (n: notification, x: unknown id)
        replies: --R1-----R2-----|
    """

    def take(frame: Frame) -> Reply | None:
        return take_reply(pending, frame)

    def taken(reply: Reply | None) -> bool:
        return reply is not None

    return compose(ops.map(take), ops.filter(taken))  # type: ignore[misc]


def map_engine_errors() -> Callable[[Observable[Reply]], Observable[Reply]]:
    """Fail replies that carry a JSON-RPC ``error`` with an EngineError."""
    return _stage(stages.map_engine_error)


def merge_deltas(
    cache: stages.DeltaCache,
) -> Callable[[Observable[Reply]], Observable[Reply]]:
    """Merge delta patches into the per-handle cache, in arrival order."""
    return _stage(lambda reply: stages.merge_delta(reply, cache))


def take_results() -> Callable[[Observable[Reply]], Observable[Reply]]:
    """Take each reply's ``result`` object."""
    return _stage(stages.take_result)


def unwrap_out_params() -> Callable[[Observable[Reply]], Observable[Reply]]:
    """Reduce each result to ``qReturn``, the single out-parameter, or the whole."""
    return _stage(stages.unwrap_out_param)


def response_pipeline(
    pending: Pending, cache: stages.DeltaCache
) -> Callable[[Observable[Frame]], Observable[Reply]]:
    """The built-in response stages, from frames to settled replies.

    The same as ``correlate``, ``map_engine_errors``, ``merge_deltas``,
    ``take_results`` and ``unwrap_out_params`` in a row, fused into one
    operator because it runs once per frame::

        frames:  --r1--n--r2--|
        replies: --R1-----R2--|     (each with .value or .error set)
    """
    merge_delta = stages.merge_delta
    chain = (
        stages.map_engine_error,
        lambda reply: merge_delta(reply, cache),
        stages.take_result,
        stages.unwrap_out_param,
    )

    def _pipeline(source: Observable[Frame]) -> Observable[Reply]:
        def subscribe(observer: Any, scheduler: Any = None) -> Any:
            def on_next(frame: Frame) -> None:
                reply = take_reply(pending, frame)
                if reply is None:
                    return
                try:
                    for stage in chain:
                        reply = stage(reply)
                        if reply.error is not None:
                            break
                except Exception as exc:  # a stage failure fails this reply only
                    reply.error = exc
                observer.on_next(reply)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return _pipeline


def notifications() -> Callable[[Observable[Frame]], Observable[Frame]]:
    """Keep the frames that are notifications: a method and no id."""
    return ops.filter(is_notification)


def handle_events() -> Callable[[Observable[Frame]], Observable[tuple[str, int]]]:
    """Turn ``change`` and ``close`` lists into ``("changed"|"closed", handle)`` events.

    ::

        frames: --{change:[1,2]}--{close:[2]}--|
        events: --(c1,c2)---------x2-----------|
    """

    def _events(source: Observable[Frame]) -> Observable[tuple[str, int]]:
        def subscribe(observer: Any, scheduler: Any = None) -> Any:
            def on_next(frame: Frame) -> None:
                if "change" in frame:
                    for handle in handles_of(frame, "change"):
                        observer.on_next(("changed", handle))
                if "close" in frame:
                    for handle in handles_of(frame, "close"):
                        observer.on_next(("closed", handle))

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return _events

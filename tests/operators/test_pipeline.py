"""The response pipeline and frame routing, stage by stage and as operators."""

from __future__ import annotations

import pytest
from reactivex.testing.marbles import marbles_testing

from rxqix import interceptors as stages
from rxqix._protocol.rpc import Reply, Request
from rxqix.errors import EXPECTED_ARRAY_OF_PATCHES, EngineError, PatchError
from rxqix.operators import correlate, handle_events, notifications, response_pipeline


def reply(
    method: str, response: dict, handle: int = 1, out_key: str | None = None
) -> Reply:
    return Reply(Request(handle, method, [], out_key, id=1), response)


def test_engine_errors_become_engine_error():
    """An error object keeps code, parameter and message, and names the method."""
    r = stages.map_engine_error(
        reply(
            "GetObject",
            {"id": 1, "error": {"code": 2, "parameter": "x", "message": "No"}},
        )
    )
    assert isinstance(r.error, EngineError)
    assert (r.error.code, r.error.parameter, r.error.message) == (2, "x", "No")
    assert r.error.method == "GetObject"
    assert r.error.enigma_error is False


def test_delta_merge_keys_cache_by_handle_method_and_key():
    """The first root add is cached; [] later gives the cached value again."""
    cache: stages.DeltaCache = {}
    first = stages.merge_delta(
        reply(
            "GetLayout",
            {
                "delta": True,
                "result": {"qLayout": [{"op": "add", "path": "/", "value": {"a": 1}}]},
            },
        ),
        cache,
    )
    assert first.response["result"] == {"qLayout": {"a": 1}}
    again = stages.merge_delta(
        reply("GetLayout", {"delta": True, "result": {"qLayout": []}}), cache
    )
    assert again.response["result"]["qLayout"] is first.response["result"]["qLayout"]
    assert cache[1] == {("GetLayout", "qLayout"): {"a": 1}}
    other = stages.merge_delta(
        reply("GetLayout", {"delta": True, "result": {"qLayout": []}}, handle=2), cache
    )
    assert other.response["result"]["qLayout"] == {}


def test_delta_merge_leaves_the_raw_frame_alone():
    """Traffic listeners keep seeing the patches that were received."""
    frame = {
        "delta": True,
        "result": {"qReturn": [{"op": "add", "path": "/", "value": True}]},
    }
    stages.merge_delta(reply("AllowCreateApp", frame), {})
    assert frame["result"]["qReturn"] == [{"op": "add", "path": "/", "value": True}]


def test_delta_merge_requires_arrays_of_patches():
    """A delta reply whose key is not a patch array fails with code -3."""
    r = stages.merge_delta(
        reply("Foo", {"delta": True, "result": {"qReturn": {"foo": {}}}}), {}
    )
    assert isinstance(r.error, PatchError)
    assert r.error.code == EXPECTED_ARRAY_OF_PATCHES


def test_non_delta_replies_pass_unchanged():
    """Without the delta flag the response object is passed on as is."""
    response = {"result": {"qReturn": 1}}
    assert stages.merge_delta(reply("Foo", response), {}).response is response


@pytest.mark.parametrize(
    ("method", "out_key", "result", "expected"),
    [
        ("GetLayout", "qLayout", {"qLayout": {"a": 1}}, {"a": 1}),
        (
            "CreateObject",
            "qInfo",
            {"qInfo": {"qId": "x"}, "qReturn": {"qHandle": 2}},
            {"qHandle": 2},
        ),
        ("AbortAll", None, {}, {}),
        (
            "GetHyperCubeContinuousData",
            None,
            {"qDataPages": [], "qAxisData": {}},
            {"qDataPages": [], "qAxisData": {}},
        ),
        (
            "CreateSessionApp",
            None,
            {"qReturn": {"qHandle": 1, "qType": "Doc"}, "qSessionAppId": "S_1"},
            {"qHandle": 1, "qType": "Doc", "qGenericId": "S_1"},
        ),
        ("StoreTempSelectionState", "qId", {"qReturn": True, "qId": "t1"}, "t1"),
    ],
)
def test_out_params_unwrap_like_enigma(method, out_key, result, expected):
    """qReturn wins, then the single out key, then the whole result."""
    r = Reply(Request(1, method, [], out_key, id=1), {"result": result})
    assert stages.unwrap_out_param(stages.take_result(r)).value == expected


def test_correlate_takes_only_pending_ids():
    """A frame is a reply only if its id is pending; late or unknown ids are dropped."""
    pending = {1: Request(1, "GetLayout", [], id=1)}
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        frames = hot(
            "-a-b-c-|",
            {
                "a": {"id": 1, "result": {}},
                "b": {"id": 1, "result": {}},
                "c": {"method": "OnConnected", "params": {}},
            },
        )
        got = start(frames.pipe(correlate(pending)))
    assert [m.time - 200 for m in got if m.value.kind == "N"] == [1]
    assert pending == {}


def test_response_pipeline_settles_values_and_errors():
    """Replies leave the pipeline with a value or an error, never an on_error."""
    pending = {
        1: Request(1, "GetLayout", [], "qLayout", id=1),
        2: Request(1, "GetLayout", [], "qLayout", id=2),
    }
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        frames = hot(
            "-a-b-|",
            {
                "a": {
                    "id": 1,
                    "delta": True,
                    "result": {
                        "qLayout": [{"op": "add", "path": "/", "value": {"x": 1}}]
                    },
                },
                "b": {
                    "id": 2,
                    "error": {
                        "code": 15,
                        "parameter": "",
                        "message": "Request aborted",
                    },
                },
            },
        )
        got = start(frames.pipe(response_pipeline(pending, {})))
    values = [m.value.value for m in got if m.value.kind == "N"]
    assert values[0].value == {"x": 1}
    assert isinstance(values[1].error, EngineError)
    assert values[1].error.code == 15
    assert got[-1].value.kind == "C"


def test_handle_events_route_change_and_close_lists():
    """change and close arrays become (kind, handle) events, in order."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        frames = hot(
            "-a-b-c-|",
            {
                "a": {"id": 3, "result": {}, "change": [1, 2]},
                "b": {"close": [2]},
                "c": {"id": 4, "result": {}},
            },
        )
        got = start(frames.pipe(handle_events()))
    events = [(m.time - 200, m.value.value) for m in got if m.value.kind == "N"]
    assert events == [(1, ("changed", 1)), (1, ("changed", 2)), (3, ("closed", 2))]


def test_notifications_are_frames_with_a_method_and_no_id():
    """OnConnected is a notification; a reply with a method echo is not."""
    with marbles_testing(timespan=1) as (start, cold, hot, exp):
        frames = hot(
            "-a-b-|",
            {
                "a": {
                    "method": "OnConnected",
                    "params": {"qSessionState": "SESSION_CREATED"},
                },
                "b": {"id": 1, "method": "X", "result": {}},
            },
        )
        got = start(frames.pipe(notifications()))
    assert [m.time - 200 for m in got if m.value.kind == "N"] == [1]

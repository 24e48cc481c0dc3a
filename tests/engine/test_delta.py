"""The engine's delta encoding: diffs that QIX clients' appliers agree on."""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Any

import jsonpatch
import pytest

from rxqix.engine.delta import DeltaCache, diff


def apply_rfc(doc: Any, patches: list[dict[str, Any]]) -> Any:
    """Apply with the RFC 6902 library, reading QIX's root path "/" as the root."""
    doc = copy.deepcopy(doc)
    for patch in patches:
        if patch["path"] == "/":
            doc = copy.deepcopy(patch["value"])
        else:
            doc = jsonpatch.apply_patch(doc, [patch])
    return doc


def apply_enigma_style(doc: Any, patches: list[dict[str, Any]]) -> Any:
    """Apply the way enigma.js does: no ~ decoding, index add splices in."""
    doc = copy.deepcopy(doc)
    for patch in patches:
        if patch["path"] == "/":
            doc = copy.deepcopy(patch["value"])
            continue
        *parents, last = patch["path"][1:].split("/")
        parent = doc
        for segment in parents:
            parent = (
                parent[int(segment)] if isinstance(parent, list) else parent[segment]
            )
        value = copy.deepcopy(patch.get("value"))
        if isinstance(parent, list):
            index = int(last)
            if patch["op"] == "add":
                parent.insert(index, value)
            elif patch["op"] == "replace":
                parent[index] = value
            else:
                del parent[index]
        elif patch["op"] == "remove":
            parent.pop(last, None)
        else:
            parent[last] = value
    return doc


def same_json(a: Any, b: Any) -> bool:
    """Equality as JSON sees it (Python's == takes True for 1)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def both_agree(old: Any, new: Any) -> list[dict[str, Any]]:
    patches = diff(old, new)
    assert same_json(apply_rfc(old, patches), new)
    assert same_json(apply_enigma_style(old, patches), new)
    assert {p["op"] for p in patches} <= {"add", "replace", "remove"}
    return patches


def test_unchanged_gives_no_patches() -> None:
    value = {"a": [1, {"b": "x"}], "c": None}
    assert diff(value, copy.deepcopy(value)) == []


def test_changed_leaf_is_replaced_at_its_path() -> None:
    old = {"qHyperCube": {"qSize": {"qcx": 2, "qcy": 100}}}
    new = {"qHyperCube": {"qSize": {"qcx": 2, "qcy": 3}}}
    assert both_agree(old, new) == [
        {"op": "replace", "path": "/qHyperCube/qSize/qcy", "value": 3}
    ]


def test_new_and_gone_keys() -> None:
    patches = both_agree({"a": 1, "b": 2}, {"a": 1, "c": 3})
    assert patches == [
        {"op": "add", "path": "/c", "value": 3},
        {"op": "remove", "path": "/b"},
    ]


def test_list_of_other_length_is_replaced_whole() -> None:
    patches = both_agree({"rows": [1, 2, 3]}, {"rows": [1, 2]})
    assert patches == [{"op": "replace", "path": "/rows", "value": [1, 2]}]


def test_list_of_same_length_is_diffed_per_index() -> None:
    old = {"m": [[{"qText": "a", "qState": "O"}], [{"qText": "b", "qState": "O"}]]}
    new = {"m": [[{"qText": "a", "qState": "S"}], [{"qText": "b", "qState": "O"}]]}
    assert both_agree(old, new) == [
        {"op": "replace", "path": "/m/0/0/qState", "value": "S"}
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [(True, False), ("a", "b"), (1, 2), ({"a": 1}, [1]), ([1], [1, 2]), (None, 0)],
)
def test_root_values(old: Any, new: Any) -> None:
    patches = both_agree(old, new)
    assert patches == [{"op": "replace", "path": "/", "value": new}]


def test_bool_and_number_are_different_leaves() -> None:
    assert diff({"a": True}, {"a": 1}) == [{"op": "replace", "path": "/a", "value": 1}]
    assert diff([[0, 1]], [[0, True]]) == [
        {"op": "replace", "path": "/0/1", "value": True}
    ]
    assert diff(0, False) == [{"op": "replace", "path": "/", "value": False}]


def test_int_and_float_of_equal_value_are_equal() -> None:
    # JSON (and JavaScript) have one number type.
    assert diff({"qNum": 1}, {"qNum": 1.0}) == []


def test_key_order_is_not_a_change() -> None:
    assert diff({"a": 1, "b": [True]}, {"b": [True], "a": 1}) == []


def test_nan_equals_nan() -> None:
    assert diff({"qNum": math.nan}, {"qNum": float("nan")}) == []
    assert diff([math.nan], [0.0]) == [{"op": "replace", "path": "/0", "value": 0.0}]


@pytest.mark.parametrize("key", ["a/b", "t~1", "__proto__", "constructor"])
def test_keys_that_cannot_be_a_path_replace_their_dict(key: str) -> None:
    old = {"props": {key: 1, "other": 1}}
    new = {"props": {key: 2, "other": 1}}
    assert both_agree(old, new) == [
        {"op": "replace", "path": "/props", "value": new["props"]}
    ]
    # Unchanged awkward keys are fine next to a change elsewhere.
    changed = {"props": {key: 1, "other": 2}}
    assert both_agree(old, changed) == [
        {"op": "replace", "path": "/props/other", "value": 2}
    ]


def test_awkward_key_at_root_replaces_the_root() -> None:
    assert both_agree({"a/b": 1}, {}) == [{"op": "replace", "path": "/", "value": {}}]


def _random_json(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(6 if depth > 0 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randrange(-3, 4)
    if kind == 2:
        return rng.choice(["", "a", "NaN", "x/y"])
    if kind == 3:
        return rng.random()
    if kind == 4:
        return [_random_json(rng, depth - 1) for _ in range(rng.randrange(4))]
    keys = ["qA", "qB", "c", "d/e", "~f", "g"]
    return {k: _random_json(rng, depth - 1) for k in rng.sample(keys, rng.randrange(4))}


def _mutate(rng: random.Random, value: Any, depth: int) -> Any:
    if rng.random() < 0.3 or depth == 0:
        return _random_json(rng, 2)
    if isinstance(value, dict) and value:
        out = dict(value)
        key = rng.choice(list(out))
        if rng.random() < 0.2:
            del out[key]
        else:
            out[key] = _mutate(rng, out[key], depth - 1)
        return out
    if isinstance(value, list) and value:
        out_list = list(value)
        index = rng.randrange(len(out_list))
        out_list[index] = _mutate(rng, out_list[index], depth - 1)
        return out_list
    return _random_json(rng, 2)


def test_random_trees_round_trip_in_both_appliers() -> None:
    rng = random.Random(20270)
    for _ in range(400):
        old = _random_json(rng, 4)
        new = _mutate(rng, copy.deepcopy(old), 4)
        both_agree(old, new)


def test_cache_first_add_then_empty_then_diff() -> None:
    cache = DeltaCache()
    layout = {"qInfo": {"qId": "x"}, "n": 1}
    first = cache.encode(2, "GetLayout", {"qLayout": layout})
    assert first == {"qLayout": [{"op": "add", "path": "/", "value": layout}]}
    assert cache.encode(2, "GetLayout", {"qLayout": dict(layout)}) == {"qLayout": []}
    changed = {"qInfo": {"qId": "x"}, "n": 2}
    assert cache.encode(2, "GetLayout", {"qLayout": changed}) == {
        "qLayout": [{"op": "replace", "path": "/n", "value": 2}]
    }


def test_cache_keys_are_handle_method_and_result_key() -> None:
    cache = DeltaCache()
    cache.encode(2, "GetLayout", {"qLayout": {"a": 1}})
    # Another handle, method or key starts over with a root add.
    for handle, method, key in [(3, "GetLayout", "qLayout"), (2, "GetInfo", "qInfo")]:
        encoded = cache.encode(handle, method, {key: {"a": 1}})
        assert encoded[key][0]["op"] == "add"
    # Params are not part of the key: the same method diffs against its last value.
    assert cache.encode(2, "GetLayout", {"qLayout": {"a": 1}}) == {"qLayout": []}


def test_primitive_results_are_patches_too() -> None:
    cache = DeltaCache()
    assert cache.encode(5, "Select", {"qReturn": True}) == {
        "qReturn": [{"op": "add", "path": "/", "value": True}]
    }
    assert cache.encode(5, "Select", {"qReturn": True}) == {"qReturn": []}
    assert cache.encode(5, "Select", {"qReturn": False}) == {
        "qReturn": [{"op": "replace", "path": "/", "value": False}]
    }


def test_forget_drops_a_handle() -> None:
    cache = DeltaCache()
    cache.encode(2, "GetLayout", {"qLayout": {"a": 1}})
    cache.encode(2, "GetInfo", {"qInfo": {"a": 1}})
    cache.forget(2, "GetInfo")
    assert cache.encode(2, "GetLayout", {"qLayout": {"a": 1}}) == {"qLayout": []}
    assert cache.encode(2, "GetInfo", {"qInfo": {"a": 1}})["qInfo"][0]["op"] == "add"
    cache.forget(2)
    assert 2 not in cache
    assert (
        cache.encode(2, "GetLayout", {"qLayout": {"a": 1}})["qLayout"][0]["op"] == "add"
    )

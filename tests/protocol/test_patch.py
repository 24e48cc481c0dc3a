"""Merging delta patches: the root quirk, copy-on-write, failures."""

from __future__ import annotations

import copy

import pytest

from rxqix._protocol.patch import apply_patches
from rxqix.errors import PATCH_HAS_NO_PARENT, PatchError

BASE = {
    "simpleString": "string",
    "simpleNumber": 392,
    "simpleArray": [392, "string", False],
    "complexObject": {"title": "foo", "array": [1, 2, 3], "nested": {"foo": True}},
    "other": {"untouched": [1, 2]},
}


def test_root_add_sets_the_whole_value():
    """The path "/" addresses the whole value, not the member named ""."""
    assert apply_patches(None, [{"op": "add", "path": "/", "value": {"a": 1}}]) == {
        "a": 1
    }


def test_root_primitive_is_kept_as_is():
    """A boolean or string result sent as a root add becomes the value."""
    assert apply_patches(None, [{"op": "add", "path": "/", "value": False}]) is False
    assert apply_patches("x", [{"op": "replace", "path": "/", "value": "y"}]) == "y"


def test_empty_patches_keep_the_cached_value():
    """[] means unchanged: the very same cached object comes back."""
    cached = {"a": 1}
    assert apply_patches(cached, []) is cached
    assert apply_patches(False, []) is False


def test_empty_patches_without_a_cache_give_an_empty_object():
    """[] with nothing cached gives {}."""
    assert apply_patches(None, []) == {}


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (
            {"op": "add", "path": "/prop", "value": "hello"},
            lambda d: d["prop"] == "hello",
        ),
        (
            {"op": "add", "path": "/simpleArray/-", "value": "last"},
            lambda d: d["simpleArray"][3] == "last",
        ),
        (
            {"op": "add", "path": "/simpleArray/1", "value": "mid"},
            lambda d: d["simpleArray"] == [392, "mid", "string", False],
        ),
        (
            {"op": "replace", "path": "/simpleString", "value": "hi"},
            lambda d: d["simpleString"] == "hi",
        ),
        (
            {"op": "replace", "path": "/complexObject", "value": {"x": True}},
            lambda d: d["complexObject"] == {"x": True},
        ),
        (
            {"op": "replace", "path": "/simpleArray/1", "value": 5938},
            lambda d: d["simpleArray"][1] == 5938,
        ),
        ({"op": "remove", "path": "/simpleString"}, lambda d: "simpleString" not in d),
        (
            {"op": "remove", "path": "/simpleArray/1"},
            lambda d: d["simpleArray"] == [392, False],
        ),
        (
            {"op": "replace", "path": "/complexObject/nested/foo", "value": False},
            lambda d: d["complexObject"]["nested"]["foo"] is False,
        ),
    ],
)
def test_patch_operations_apply(patch, check):
    """add, replace and remove work on objects and arrays."""
    assert check(apply_patches(BASE, [patch]))


def test_cached_value_is_never_mutated():
    """Earlier values keep their content; untouched parts are shared."""
    before = copy.deepcopy(BASE)
    after = apply_patches(
        BASE,
        [
            {"op": "replace", "path": "/complexObject/nested/foo", "value": False},
            {"op": "add", "path": "/complexObject/array/-", "value": 4},
        ],
    )
    assert BASE == before
    assert after["complexObject"]["nested"]["foo"] is False
    assert after["complexObject"]["array"] == [1, 2, 3, 4]
    assert after["other"] is BASE["other"]


def test_rfc6901_escapes_are_decoded():
    """~1 and ~0 in a path mean / and ~."""
    assert apply_patches(
        {"a/b": 1}, [{"op": "replace", "path": "/a~1b", "value": 2}]
    ) == {"a/b": 2}


@pytest.mark.parametrize(
    "patch",
    [
        {"op": "replace", "path": "/missing/deeper", "value": 1},
        {"op": "remove", "path": "/nope"},
        {"op": "add", "path": "/__proto__", "value": {"polluted": True}},
        {"op": "remove", "path": "/"},
        {"path": "/x"},
    ],
)
def test_bad_patches_raise_patch_error(patch):
    """A patch that does not fit fails with PatchError, code -4."""
    with pytest.raises(PatchError) as info:
        apply_patches(BASE, [patch])
    assert info.value.code == PATCH_HAS_NO_PARENT


def test_move_copy_and_test_go_through_jsonpatch():
    """The rare operations work too, and leave the cached value alone."""
    doc = {"a": {"x": 1}, "b": [1, 2]}
    after = apply_patches(
        doc,
        [
            {"op": "test", "path": "/a/x", "value": 1},
            {"op": "copy", "from": "/a", "path": "/c"},
            {"op": "move", "from": "/b/0", "path": "/b/-"},
        ],
    )
    assert after == {"a": {"x": 1}, "b": [2, 1], "c": {"x": 1}}
    assert doc == {"a": {"x": 1}, "b": [1, 2]}


def test_a_failed_test_operation_raises():
    """A test operation that does not hold fails the merge."""
    with pytest.raises(PatchError):
        apply_patches({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])


def test_many_cell_patches_apply_like_jsonpatch():
    """Thousands of per-cell replaces give what jsonpatch gives, untouched input."""
    import jsonpatch

    matrix = [
        [{"qText": str(r * 10 + c), "qNum": r * 10 + c} for c in range(7)]
        for r in range(500)
    ]
    doc = {"qDataPages": [{"qMatrix": matrix}]}
    patches = [
        {"op": "replace", "path": f"/qDataPages/0/qMatrix/{r}/{c}/qNum", "value": -r}
        for r in range(500)
        for c in range(7)
    ]
    before = copy.deepcopy(doc)
    assert apply_patches(doc, patches) == jsonpatch.apply_patch(doc, patches)
    assert doc == before

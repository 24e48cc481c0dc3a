"""Merging QIX delta patches into cached values.

The engine sends RFC 6902 patches with one quirk: the whole value is addressed
by the path ``"/"`` (RFC 6901 would read that as the member named ``""``).
Root patches are handled here. ``add``, ``replace`` and ``remove`` (all the
engine sends, often thousands per reply) are applied here with RFC 6902's
rules; ``move``, ``copy`` and ``test`` go through ``jsonpatch``.

Values are never changed in place. Before an operation touches a container,
every container on its path is copied once (copy-on-write), so a value handed
out earlier keeps its content while the new value shares all untouched parts
with it. Merging a small patch into a large layout therefore costs the depth of
the patch, not the size of the layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonpatch
import jsonpointer

from rxqix.errors import PATCH_HAS_NO_PARENT, PatchError

ROOT = "/"

_UNSAFE = frozenset({"__proto__", "constructor", "prototype"})
_SIMPLE = frozenset({"add", "replace", "remove"})


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _parts(path: str) -> list[str]:
    if not path.startswith("/"):
        raise PatchError(
            f"patch path must start with '/': {path!r}", PATCH_HAS_NO_PARENT
        )
    parts = [_unescape(part) for part in path[1:].split("/")]
    for part in parts:
        if part in _UNSAFE:
            raise PatchError(f"unsafe key in patch path: {part}", PATCH_HAS_NO_PARENT)
    return parts


def _shallow(container: Any) -> Any:
    if isinstance(container, dict):
        return dict(container)
    if isinstance(container, list):
        return list(container)
    return container


def _own_parents(root: Any, parts: Sequence[str], owned: set[int]) -> tuple[Any, Any]:
    """Copy the containers on the way to the parent of ``parts``.

    Returns the (possibly new) root and the parent container, or None for the
    parent when the path does not lead to one.
    """
    if id(root) not in owned:
        root = _shallow(root)
        owned.add(id(root))
    node = root
    for part in parts[:-1]:
        if isinstance(node, dict):
            key: Any = part
            if key not in node:
                return root, None
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return root, None
            key = int(part)
        else:
            return root, None
        child = node[key]
        if isinstance(child, dict | list) and id(child) not in owned:
            child = _shallow(child)
            owned.add(id(child))
            node[key] = child
        node = child
    return root, node


def _apply_simple(parent: Any, key: str, op: dict[str, Any]) -> None:
    """Apply one add, replace or remove to its (already copied) parent."""
    kind = op["op"]
    if isinstance(parent, dict):
        if kind == "add":
            parent[key] = op.get("value")
        elif key not in parent:
            raise PatchError(f"cannot {kind} missing key {key!r}", PATCH_HAS_NO_PARENT)
        elif kind == "replace":
            parent[key] = op.get("value")
        else:
            del parent[key]
        return
    if not isinstance(parent, list):
        raise PatchError("patchee is not an object we can patch", PATCH_HAS_NO_PARENT)
    if kind == "add" and key == "-":
        parent.append(op.get("value"))
        return
    if not key.isdigit():
        raise PatchError(f"bad array index {key!r}", PATCH_HAS_NO_PARENT)
    index = int(key)
    size = len(parent) + (1 if kind == "add" else 0)
    if index >= size:
        raise PatchError(f"array index {index} out of range", PATCH_HAS_NO_PARENT)
    if kind == "add":
        parent.insert(index, op.get("value"))
    elif kind == "replace":
        parent[index] = op.get("value")
    else:
        del parent[index]


def _empty_like(patches: Sequence[Any]) -> Any:
    first = patches[0] if patches else None
    if isinstance(first, dict) and isinstance(first.get("value"), list):
        return []
    return {}


def apply_patches(cached: Any, patches: Sequence[Any]) -> Any:
    """Return ``cached`` with ``patches`` applied, leaving ``cached`` unchanged.

    Args:
        cached: the last value for this handle, method and key, or None.
        patches: the patch operations of one delta reply.

    Raises:
        PatchError: when an operation does not fit the value.
    """
    if not patches:
        return cached if cached is not None else {}
    doc = cached if cached is not None else _empty_like(patches)
    owned: set[int] = set()

    for op in patches:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"malformed patch operation: {op!r}", PATCH_HAS_NO_PARENT)
        if op["path"] == ROOT:
            doc = _apply_root(doc, op)
            owned = set()
            continue
        parts = _parts(op["path"])
        doc, parent = _own_parents(doc, parts, owned)
        if op["op"] in _SIMPLE:
            if parent is None:
                raise PatchError(
                    f"no parent for path {op['path']!r}", PATCH_HAS_NO_PARENT
                )
            _apply_simple(parent, parts[-1], op)
        else:
            if "from" in op:
                doc, _ = _own_parents(doc, _parts(op["from"]), owned)
            doc = _apply_library(doc, op)
    return doc


def _apply_root(doc: Any, op: dict[str, Any]) -> Any:
    kind = op["op"]
    if kind in ("add", "replace"):
        return op.get("value")
    if kind == "test":
        return doc
    raise PatchError(
        f"patchee is not an object we can patch: {kind} on the root",
        PATCH_HAS_NO_PARENT,
    )


def _apply_library(doc: Any, op: dict[str, Any]) -> Any:
    if not isinstance(doc, dict | list):
        raise PatchError("patchee is not an object we can patch", PATCH_HAS_NO_PARENT)
    try:
        return jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(f"cannot apply patch: {exc}", PATCH_HAS_NO_PARENT) from exc
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PatchError(f"cannot apply patch: {exc}", PATCH_HAS_NO_PARENT) from exc

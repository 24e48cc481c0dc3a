"""The QIX delta protocol, engine side: diff results into JSON patches.

When a request carries ``"delta": true`` the engine answers every key of
``result`` as a list of patch operations against the last value it sent for
the same (handle, method, result key) in the session. Two points differ from
RFC 6902 and follow what QIX clients expect:

* the whole document is addressed by the path ``"/"`` (not ``""``);
* the first answer for a key is ``[{"op": "add", "path": "/", "value": v}]``
  and an unchanged value gives ``[]``.

The diff only emits ``add``, ``replace`` and ``remove``, in a form that both
enigma.js's own applier and an RFC 6902 library apply the same way:

* dicts are diffed key by key (new keys ``add``, gone keys ``remove``);
* lists of equal length are diffed index by index, and a list whose length
  changed is replaced whole (so no index ever shifts under a later patch);
* a primitive that changed is replaced.

Paths are never escaped. enigma.js does not decode ``~0``/``~1`` while RFC
6901 libraries do, so an escaped path would mean different things to
different clients. Instead, when a changed key contains ``/`` or ``~`` (or
is one of the names enigma.js refuses in a path, such as ``__proto__``), the
dict holding it is replaced whole.

Equality is strict about JSON types: ``true`` never equals ``1`` (Python's
``==`` says it does), while an unchanged NaN equals itself (``==`` says it
does not). To stay fast on large layouts the checks run in C where they can:
``==`` rejects differing subtrees, and a subtree that ``==`` accepts is
confirmed by comparing its ``marshal`` bytes, which keep bools, ints and
floats apart. Only when those bytes differ (a bool/number swap, a NaN, other
key order, values marshal cannot write) does the diff walk the subtree in
Python.
"""

from __future__ import annotations

import marshal
from collections.abc import Iterable
from typing import Any

Patch = dict[str, Any]

ROOT = "/"

# Keys that cannot appear in a patch path: "/" and "~" would need RFC 6901
# escaping, and enigma.js throws on the prototype-related names.
_UNSAFE_NAMES = frozenset({"__proto__", "constructor", "prototype"})


_LEAF_TYPES = frozenset({str, int, float, bool, type(None)})

# Version 2 writes no back-references, so equal values give equal bytes
# whatever objects they happen to share.
_MARSHAL_VERSION = 2


def _unsafe(key: str) -> bool:
    return "/" in key or "~" in key or key in _UNSAFE_NAMES


def _same(old: Any, new: Any) -> bool:
    """Return True when two JSON values are certainly equal on the wire.

    False may also mean "not proven equal": the caller then diffs the two
    values, which yields no patches when they turn out to be equal.
    """
    if old is new:
        return True
    if type(old) in _LEAF_TYPES and type(new) in _LEAF_TYPES:
        return _same_leaf(old, new)
    try:
        if not old == new:
            return False
    except (TypeError, ValueError):
        # Array-likes whose == is elementwise: let the walk decide.
        return False
    try:
        return marshal.dumps(old, _MARSHAL_VERSION) == marshal.dumps(
            new, _MARSHAL_VERSION
        )
    except ValueError:
        return False


def _same_leaf(old: Any, new: Any) -> bool:
    if (type(old) is bool) != (type(new) is bool):
        return False
    if old == new:
        return True
    # NaN != NaN, yet an unchanged NaN must not produce a patch.
    return (
        isinstance(old, float) and isinstance(new, float) and old != old and new != new
    )


_SMALL_LIST = 8


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def diff(old: Any, new: Any) -> list[Patch]:
    """Return the patches that turn ``old`` into ``new``.

    Args:
        old: The value last sent to the client.
        new: The value to send now.

    Returns:
        An empty list when nothing changed, otherwise ``add``/``replace``/
        ``remove`` operations with ``"/"`` as the root path.
    """
    if _same(old, new):
        return []
    out: list[Patch] = []
    _diff_value(old, new, "", out)
    return out


def _diff_value(old: Any, new: Any, path: str, out: list[Patch]) -> None:
    """Append the patches for a value known to differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        _diff_dict(old, new, path, out)
    elif _is_list(old) and _is_list(new) and len(old) == len(new):
        _diff_list(old, new, path, out)
    else:
        out.append({"op": "replace", "path": path or ROOT, "value": new})


def _diff_dict(
    old: dict[str, Any], new: dict[str, Any], path: str, out: list[Patch]
) -> None:
    mine: list[Patch] = []
    for key, value in new.items():
        if key in old:
            previous = old[key]
            if _same(previous, value):
                continue
            if _unsafe(key):
                break
            _diff_value(previous, value, f"{path}/{key}", mine)
        else:
            if _unsafe(key):
                break
            mine.append({"op": "add", "path": f"{path}/{key}", "value": value})
    else:
        gone = _removed(old, new)
        if not any(_unsafe(key) for key in gone):
            mine.extend({"op": "remove", "path": f"{path}/{key}"} for key in gone)
            out.extend(mine)
            return
    # A changed key cannot be addressed safely: replace this dict whole.
    out.append({"op": "replace", "path": path or ROOT, "value": new})


def _removed(old: dict[str, Any], new: dict[str, Any]) -> Iterable[str]:
    if len(old) == len(new) and old.keys() == new.keys():
        return ()
    return [key for key in old if key not in new]


def _diff_list(
    old: list[Any] | tuple[Any, ...],
    new: list[Any] | tuple[Any, ...],
    path: str,
    out: list[Patch],
) -> None:
    # When most items changed (the next page of a cube, say), one replace of
    # the list is smaller on the wire and far cheaper to apply than a patch
    # per item.
    limit = len(new) // 2 if len(new) > _SMALL_LIST else len(new)
    mine: list[Patch] = []
    changed = 0
    for index, (previous, value) in enumerate(zip(old, new, strict=True)):
        if not _same(previous, value):
            changed += 1
            if changed > limit:
                out.append({"op": "replace", "path": path or ROOT, "value": new})
                return
            _diff_value(previous, value, f"{path}/{index}", mine)
    out.extend(mine)


class DeltaCache:
    """The last value sent per (handle, method, result key) in one session."""

    def __init__(self) -> None:
        self._sent: dict[int, dict[tuple[str, str], Any]] = {}

    def encode(
        self, handle: int, method: str, result: dict[str, Any]
    ) -> dict[str, list[Patch]]:
        """Turn a result into its delta form and remember what was sent.

        The values in ``result`` are kept by reference, so callers must not
        mutate them afterwards (handlers build fresh values per call).

        Args:
            handle: The handle the request was made on.
            method: The QIX method name.
            result: The plain result, keyed by out-parameter name.

        Returns:
            The result with every value replaced by a patch list.
        """
        sent = self._sent.setdefault(handle, {})
        encoded: dict[str, list[Patch]] = {}
        for key, value in result.items():
            slot = (method, key)
            if slot in sent:
                encoded[key] = diff(sent[slot], value)
            else:
                encoded[key] = [{"op": "add", "path": ROOT, "value": value}]
            sent[slot] = value
        return encoded

    def forget(self, handle: int, method: str | None = None) -> None:
        """Drop what was sent on a handle (or for one method on it)."""
        if method is None:
            self._sent.pop(handle, None)
            return
        sent = self._sent.get(handle)
        if sent:
            for slot in [slot for slot in sent if slot[0] == method]:
                del sent[slot]

    def clear(self) -> None:
        """Drop everything (the session ended)."""
        self._sent.clear()

    def __contains__(self, handle: object) -> bool:
        return handle in self._sent

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

Equality uses Python's ``==`` as a fast first check (it runs in C), with two
refinements at the leaves: NaN equals NaN, and a bool never equals a number.
A bool/number swap of equal value nested inside a container that is otherwise
equal (``[true]`` to ``[1]``) still passes the container check; QIX layouts
never switch a key between the two types.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Patch = dict[str, Any]

ROOT = "/"

# Keys that cannot appear in a patch path: "/" and "~" would need RFC 6901
# escaping, and enigma.js throws on the prototype-related names.
_UNSAFE_NAMES = frozenset({"__proto__", "constructor", "prototype"})


def _unsafe(key: str) -> bool:
    return "/" in key or "~" in key or key in _UNSAFE_NAMES


def _same(old: Any, new: Any) -> bool:
    """Return True when two JSON values are equal for the wire."""
    if old is new:
        return True
    try:
        equal = bool(old == new)
    except (TypeError, ValueError):
        # Array-likes whose == is elementwise; treat them as changed.
        return False
    if equal:
        # True == 1 in Python, but not on the wire.
        return (type(old) is bool) == (type(new) is bool)
    # NaN != NaN, yet an unchanged NaN must not produce a patch.
    return (
        isinstance(old, float) and isinstance(new, float) and old != old and new != new
    )


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
    for index, (previous, value) in enumerate(zip(old, new, strict=True)):
        if not _same(previous, value):
            _diff_value(previous, value, f"{path}/{index}", out)


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

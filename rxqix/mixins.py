"""Mixins: extend or override the generated API of chosen types.

A mixin names its ``types``: struct types (``Doc``, ``GenericObject``, ...)
or generic types (``barchart``, ``sheet``, ...). For each type it may

* ``override`` methods: the function gets the API object, the method it
  replaces (bound), then the call's arguments::

      async def create_object(api, base, *args, **kwargs):
          return await base(*args, **kwargs)

* ``extend`` the API with new methods (``self`` is the API) or attributes;
  extending an existing method is refused (code -10), as is overriding a
  method that does not exist (code -9);
* ``init(api, config)``: run once for each new API object.

Struct-type mixins are woven into the generated class the first time the
type is used; generic-type mixins into each instance whose ``generic_type``
matches. Within one mixin, overrides come before extends; mixins apply in the
order given, so the last override is the outermost.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rxqix.errors import (
    SCHEMA_MIXIN_CANT_OVERRIDE_FUNCTION,
    SCHEMA_MIXIN_EXTEND_NOT_ALLOWED,
    ConfigurationError,
    MixinError,
)

_KEYS = frozenset({"types", "type", "extend", "override", "init"})


@dataclass(frozen=True)
class Mixin:
    """One mixin; see the module docstring."""

    types: tuple[str, ...]
    extend: Mapping[str, Any] = field(default_factory=dict)
    override: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    init: Callable[..., Any] | None = None


def as_mixin(value: Any, where: str = "mixins") -> Mixin:
    """Accept a Mixin or an enigma.js-style mapping; raise ConfigurationError."""
    if isinstance(value, Mixin):
        return value
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where} must be a Mixin or a mapping", where)
    unknown = set(value) - _KEYS
    if unknown:
        raise ConfigurationError(f"{where} has unknown keys: {sorted(unknown)}", where)
    types = value.get("types", ())
    types = [types] if isinstance(types, str) else list(types)
    if isinstance(value.get("type"), str):
        types.append(value["type"])
    if not types or not all(isinstance(t, str) and t for t in types):
        raise ConfigurationError(f"{where}.types must name at least one type", where)
    for key in ("extend", "override"):
        if not isinstance(value.get(key, {}), Mapping):
            raise ConfigurationError(f"{where}.{key} must be a mapping", where)
    if any(not callable(fn) for fn in value.get("override", {}).values()):
        raise ConfigurationError(f"{where}.override values must be callable", where)
    init = value.get("init")
    if init is not None and not callable(init):
        raise ConfigurationError(f"{where}.init must be callable", where)
    return Mixin(tuple(types), value.get("extend", {}), value.get("override", {}), init)


def _overriding(fn: Callable[..., Any], base: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(base)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(self, functools.partial(base, self), *args, **kwargs)

    return method


class MixinRegistry:
    """The mixins of one session, by type, in registration order."""

    def __init__(self, mixins: Sequence[Any] = ()) -> None:
        self._by_type: dict[str, list[Mixin]] = {}
        for index, value in enumerate(mixins):
            mixin = as_mixin(value, f"mixins[{index}]")
            for type_name in mixin.types:
                self._by_type.setdefault(type_name, []).append(mixin)

    def for_type(self, type_name: str | None) -> list[Mixin]:
        """The mixins registered for a type, in order."""
        return self._by_type.get(type_name or "", []) if type_name else []

    def weave_class(self, cls: type, struct: str) -> None:
        """Apply the struct-type mixins to a generated class."""
        for mixin in self.for_type(struct):
            for name, fn in mixin.override.items():
                base = getattr(cls, name, None)
                if not callable(base):
                    raise _cant_override(struct, name)
                setattr(cls, name, _overriding(fn, base))
            for name, value in mixin.extend.items():
                if callable(getattr(cls, name, None)) and callable(value):
                    raise _cant_extend(struct, name)
                setattr(cls, name, value)

    def weave_instance(self, api: Any) -> None:
        """Apply the generic-type mixins to one API object."""
        if not api.generic_type or api.generic_type == api.type:
            return
        for mixin in self.for_type(api.generic_type):
            for name, fn in mixin.override.items():
                base = getattr(api, name, None)
                if not callable(base):
                    raise _cant_override(api.generic_type, name)
                setattr(api, name, functools.partial(fn, api, base))
            for name, value in mixin.extend.items():
                if callable(getattr(api, name, None)) and callable(value):
                    raise _cant_extend(api.generic_type, name)
                if isinstance(value, types.FunctionType):
                    value = types.MethodType(value, api)
                setattr(api, name, value)

    def run_init(self, api: Any, config: Mapping[str, Any]) -> None:
        """Run the ``init`` of every mixin for the API's struct, then generic type."""
        mixins = list(self.for_type(api.type))
        if api.generic_type and api.generic_type != api.type:
            mixins += self.for_type(api.generic_type)
        for mixin in mixins:
            if mixin.init is not None:
                mixin.init(api, config)


def _cant_override(type_name: str, name: str) -> MixinError:
    return MixinError(
        f"no function to override. type: {type_name} function: {name}",
        SCHEMA_MIXIN_CANT_OVERRIDE_FUNCTION,
    )


def _cant_extend(type_name: str, name: str) -> MixinError:
    return MixinError(
        f"extend is not allowed for this mixin. type: {type_name} function: {name}",
        SCHEMA_MIXIN_EXTEND_NOT_ALLOWED,
    )

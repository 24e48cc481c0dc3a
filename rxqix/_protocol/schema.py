"""The QIX API schema: structs, methods, parameters and out-parameters.

Two file forms are understood:

* enigma.js schema files, as published in its npm package
  (``structs -> Method -> {"In": [...], "Out": [...]}``), taken as given;
* rxqix's bundled form (``"format": "rxqix-schema/1"``), which adds the
  Python names and records the file it was generated from.

Both load into the same frozen objects, so the rest of rxqix never looks at
the file layout.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rxqix._protocol.naming import param_name, snake_case

BUNDLED_FORMAT = "rxqix-schema/1"


@dataclass(frozen=True, slots=True)
class Param:
    """One input parameter of a QIX method."""

    name: str
    py_name: str
    default: Any
    optional: bool

    def default_value(self) -> Any:
        """Return a fresh copy of the schema default (defaults are shared samples)."""
        return copy.deepcopy(self.default)


@dataclass(frozen=True, slots=True)
class Method:
    """One QIX method of a struct, with its parameters and out-parameter names."""

    struct: str
    name: str
    py_name: str
    params: tuple[Param, ...]
    out: tuple[str, ...]
    _by_name: Mapping[str, int] = field(repr=False, compare=False, hash=False)

    @property
    def out_key(self) -> str | None:
        """The single out-parameter name, or None when there are zero or several."""
        return self.out[0] if len(self.out) == 1 else None

    def param_index(self, key: str) -> int | None:
        """Return the position of a parameter given its QIX or Python name."""
        return self._by_name.get(key)


def _method(
    struct: str, name: str, py_name: str, params: list[Param], out: list[str]
) -> Method:
    by_name: dict[str, int] = {}
    for index, param in enumerate(params):
        by_name[param.name] = index
        by_name.setdefault(param.py_name, index)
    return Method(struct, name, py_name, tuple(params), tuple(out), by_name)


@dataclass(frozen=True, slots=True)
class Schema:
    """A loaded QIX schema: ``schema.structs["Doc"]["GetObject"]``."""

    structs: Mapping[str, Mapping[str, Method]]
    enums: Mapping[str, Mapping[str, int]]
    engine_version: str | None = None
    source: Mapping[str, Any] | None = None

    def struct(self, name: str) -> Mapping[str, Method]:
        """Return the methods of a struct, raising KeyError when it is unknown."""
        return self.structs[name]

    def method(self, struct: str, name: str) -> Method | None:
        """Return a method by struct and QIX name, or None."""
        return self.structs.get(struct, {}).get(name)


def parse_schema(data: Mapping[str, Any]) -> Schema:
    """Build a Schema from either file form.

    Raises:
        ValueError: when the mapping has no ``structs`` object.
    """
    structs_in = data.get("structs")
    if not isinstance(structs_in, Mapping):
        raise ValueError("schema has no 'structs' object")
    bundled = data.get("format") == BUNDLED_FORMAT

    structs: dict[str, dict[str, Method]] = {}
    for struct, methods in structs_in.items():
        converted: dict[str, Method] = {}
        for name, spec in methods.items():
            if bundled:
                params = [
                    Param(p["name"], p["py"], p.get("default"), bool(p.get("optional")))
                    for p in spec.get("in", [])
                ]
                out = list(spec.get("out", []))
                py_name = spec.get("py") or snake_case(name)
            else:
                params = [
                    Param(
                        p["Name"],
                        param_name(p["Name"]),
                        p.get("DefaultValue"),
                        bool(p.get("Optional", False)),
                    )
                    for p in spec.get("In", [])
                ]
                out = [o["Name"] for o in spec.get("Out", [])]
                py_name = snake_case(name)
            converted[name] = _method(struct, name, py_name, params, out)
        structs[struct] = converted

    return Schema(
        structs=structs,
        enums=data.get("enums", {}),
        engine_version=data.get("engine_version") or data.get("version"),
        source=data.get("source"),
    )


def load_schema(
    source: str | Path | Mapping[str, Any] | Schema | None = None,
) -> Schema:
    """Load a schema: the bundled one by default, or a path, a mapping or a Schema."""
    if isinstance(source, Schema):
        return source
    if source is None:
        return bundled_schema()
    if isinstance(source, Mapping):
        return parse_schema(source)
    return parse_schema(json.loads(Path(source).read_text(encoding="utf-8")))


_BUNDLED: Schema | None = None


def bundled_schema() -> Schema:
    """Return the schema bundled in ``rxqix.schemas`` (parsed once per process)."""
    global _BUNDLED
    if _BUNDLED is None:
        path = Path(__file__).resolve().parent.parent / "schemas" / "engine.json"
        _BUNDLED = parse_schema(json.loads(path.read_text(encoding="utf-8")))
    return _BUNDLED

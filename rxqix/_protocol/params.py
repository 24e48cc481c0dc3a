"""Turning a Python call into the positional ``params`` array of a request.

Rules, in order:

1. Keyword arguments name parameters by their QIX name (``qId``) or their
   Python name (``id``); they combine with positional ones.
2. One positional dict whose keys are all parameter names (and no keywords)
   is taken as named parameters, as enigma.js does: ``get_object({"qId": "x"})``.
3. Omitted optional parameters are filled with a copy of the schema default;
   an omitted required parameter is an error.

Unlike enigma.js, a value given as ``False``, ``0`` or ``""`` is sent as given;
only a missing value falls back to the default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rxqix._protocol.schema import Method
from rxqix.errors import InvalidArgumentsError

_MISSING: Any = object()


def is_named_dict(method: Method, args: Sequence[Any]) -> bool:
    """Tell whether a single dict argument is enigma.js's named-parameter form.

    An empty dict is the named form ("all defaults") only when no parameter
    is required; otherwise it is the value of the first one
    (``create_session_object({})``).
    """
    if len(args) != 1 or not isinstance(args[0], Mapping):
        return False
    if not args[0]:
        return all(param.optional for param in method.params)
    names = {param.name for param in method.params}
    return all(key in names for key in args[0])


def build_params(
    method: Method, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> list[Any]:
    """Return the positional params array for a call of ``method``.

    Raises:
        InvalidArgumentsError: on too many arguments, an unknown or repeated
            keyword, or a missing required parameter.
    """
    params = method.params
    if not kwargs and is_named_dict(method, args):
        kwargs, args = args[0], ()

    if len(args) > len(params):
        raise InvalidArgumentsError(
            f"{method.py_name}() takes {len(params)} arguments, got {len(args)}"
        )
    values: list[Any] = list(args) + [_MISSING] * (len(params) - len(args))

    for key, value in kwargs.items():
        index = method.param_index(key)
        if index is None:
            raise InvalidArgumentsError(
                f"{method.py_name}() got an unexpected argument {key!r}"
            )
        if values[index] is not _MISSING:
            raise InvalidArgumentsError(
                f"{method.py_name}() got more than one value for "
                f"{params[index].py_name!r}"
            )
        values[index] = value

    for index, value in enumerate(values):
        if value is _MISSING:
            param = params[index]
            if not param.optional:
                raise InvalidArgumentsError(
                    f"{method.py_name}() is missing required argument {param.py_name!r}"
                )
            values[index] = param.default_value()
    return values

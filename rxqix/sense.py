"""WebSocket URLs for Qlik Sense, the port of enigma.js's ``SenseUtilities.buildUrl``.

``build_url`` turns the pieces of a Qlik Sense (or Qlik Core) address into the
``ws://`` or ``wss://`` URL that :func:`rxqix.create` connects to::

    >>> build_url(host="my-sense-host", app_id="some-app")
    'wss://my-sense-host/app/some-app'
    >>> build_url({"appId": "x", "urlParams": {"qlikTicket": "abc"}})
    'wss://localhost/app/x?qlikTicket=abc'

The URL is the one enigma.js 2.15.0 builds for the same configuration, byte for
byte, JavaScript truthiness included: ``port`` and ``ttl`` of ``0`` are left out,
``secure`` defaults to true and only a falsy value (``False``, ``0``, ``None``)
gives ``ws://``, an empty ``url_params`` mapping still adds a bare ``?``, and a
``prefix`` of ``"/"`` gives an empty path segment (``wss://localhost//app/...``).

Differences from enigma.js, all deliberate:

* the caller's mapping is never changed (enigma.js writes its defaults into it);
* a key that is not a configuration field (``reloadURI``, ``unsecure``, a typo)
  raises :class:`~rxqix.errors.ConfigurationError` instead of being ignored;
* a value of the wrong type (a ``port`` of ``"abc"``, ``url_params`` that is not
  a mapping, ``secure="false"``) raises the same error, naming the field, as
  does a ``port`` outside 0 to 65535.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, NoReturn
from urllib.parse import quote

from rxqix.errors import ConfigurationError

__all__ = ["FIELDS", "build_url"]

DEFAULT_HOST: Final = "localhost"
"""The host used when ``host`` is falsy."""

DEFAULT_ROUTE: Final = "app/engineData"
"""The route used when neither ``route`` nor ``app_id`` is truthy."""

FIELDS: Final[Mapping[str, str]] = {
    "app_id": "app_id",
    "appId": "app_id",
    "no_data": "no_data",
    "noData": "no_data",
    "secure": "secure",
    "host": "host",
    "port": "port",
    "prefix": "prefix",
    "subpath": "subpath",
    "route": "route",
    "identity": "identity",
    "url_params": "url_params",
    "urlParams": "url_params",
    "ttl": "ttl",
}
"""Every accepted key, Python or enigma.js spelling, mapped to its Python name."""

# encodeURIComponent leaves letters, digits and these characters as they are;
# urllib's quote always keeps letters, digits and "_.-~".
_URI_COMPONENT_SAFE: Final = "!*'()"
_ARRAY_INDEX: Final = re.compile(r"(?:0|[1-9][0-9]*)", re.ASCII)
_MAX_ARRAY_INDEX: Final = 2**32 - 2
_MAX_PORT: Final = 65535
_STRING_FIELDS: Final = ("app_id", "host", "prefix", "subpath", "route", "identity")
_UNDEFINED: Final[Any] = object()


def build_url(config: Mapping[str, Any] | None = None, **fields: Any) -> str:
    """Return the WebSocket URL for a Qlik Sense configuration.

    The rules, in order: the scheme is ``wss`` unless ``secure`` is given and
    falsy; then the host (``localhost`` if falsy); ``:port`` if truthy;
    ``/prefix`` and ``/subpath`` if truthy, each with its leading and trailing
    slashes removed; ``/route`` (same stripping) if truthy, else
    ``/app/<app_id>`` if ``app_id`` is truthy, else ``/app/engineData``;
    ``/identity/<identity>`` and ``/ttl/<ttl>`` if truthy; and
    ``?<query string>`` if ``url_params`` is given. ``app_id``, ``identity`` and
    the query string are percent-encoded as JavaScript's ``encodeURIComponent``
    does; host, prefix, subpath and route are used as given.

    Args:
        config: the configuration as a mapping, with Python (``app_id``) or
            enigma.js (``appId``) keys, so an enigma.js ``SenseConfiguration``
            can be passed as it is. It is not modified.
        **fields: configuration fields as keywords; each replaces the same field
            of ``config``. The fields are:

            * ``app_id`` (str): the app to open, percent-encoded into the path.
            * ``no_data`` (bool): accepted for compatibility; never in the URL.
            * ``secure`` (bool): ``wss`` when truthy or not given, else ``ws``.
            * ``host`` (str): the host name, ``localhost`` when falsy.
            * ``port`` (int): 0 to 65535; 0 and ``None`` add no port.
            * ``prefix`` (str): a virtual proxy prefix.
            * ``subpath`` (str): a path after the prefix.
            * ``route`` (str): a proxy route; when truthy it replaces ``app_id``.
            * ``identity`` (str): a session identity, percent-encoded.
            * ``url_params`` (Mapping): query parameters. A value is a str, a
              bool (``true``/``false``), a number (printed as JavaScript prints
              it; NaN and infinities give an empty value), ``None`` (an empty
              value), or a list or tuple of those (one ``key=value`` each; an
              empty one leaves the key out). Keys come in insertion order,
              except that keys which are array indices (``"2"``, ``"10"``)
              come first in numeric order, as JavaScript orders object keys.
            * ``ttl`` (int | float): seconds the engine keeps the session after
              the socket closes, printed as JavaScript prints numbers
              (``60.0`` gives ``60``); 0, NaN and ``None`` add nothing.

    Returns:
        The ``ws://`` or ``wss://`` URL.

    Raises:
        ConfigurationError: a key is not one of the fields above, a field is
            given in both spellings, or a value has the wrong type (or, for
            ``port``, is not a TCP port). ``field`` names the key as given.
    """
    values, keys = _collect(config, fields)

    app_id = values["app_id"]
    route = values["route"]
    if not _js_truthy(app_id) and not _js_truthy(route):
        route = DEFAULT_ROUTE
    secure = True if values["secure"] is _UNDEFINED else values["secure"]
    host = values["host"]

    url = ("wss" if _js_truthy(secure) else "ws") + "://"
    url += host if _js_truthy(host) else DEFAULT_HOST
    if _js_truthy(values["port"]):
        url += f":{values['port']}"
    if _js_truthy(values["prefix"]):
        url += "/" + values["prefix"].strip("/")
    if _js_truthy(values["subpath"]):
        url += "/" + values["subpath"].strip("/")
    if _js_truthy(route):
        url += "/" + route.strip("/")
    elif _js_truthy(app_id):
        url += "/app/" + _encode_component(app_id, keys.get("app_id", "app_id"))
    if _js_truthy(values["identity"]):
        identity = _encode_component(
            values["identity"], keys.get("identity", "identity")
        )
        url += "/identity/" + identity
    if _js_truthy(values["ttl"]):
        url += "/ttl/" + _js_number_string(_to_js_number(values["ttl"]))
    if _js_truthy(values["url_params"]):
        params_key = keys.get("url_params", "url_params")
        url += "?" + _query_string(values["url_params"], params_key)
    return url


def _js_truthy(value: Any) -> bool:
    """Return whether JavaScript would treat ``value`` as true.

    ``None``, ``False``, zero, NaN and the empty string are falsy; everything
    else is truthy, empty dicts and lists included.
    """
    if value is None or value is _UNDEFINED:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def _collect(
    config: Mapping[str, Any] | None, fields: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge ``config`` and ``fields`` into one checked dict of Python names.

    Returns:
        The values by Python name (``_UNDEFINED`` where a field is missing),
        and the key each given field was spelled as, for error messages.
    """
    if config is None:
        config = {}
    elif not isinstance(config, Mapping):
        raise ConfigurationError(
            f"the buildUrl configuration must be a mapping, not "
            f"{type(config).__name__}",
            "config",
        )
    values: dict[str, Any] = dict.fromkeys(set(FIELDS.values()), _UNDEFINED)
    names: dict[str, str] = {}
    for source in (config, fields):
        seen: dict[str, str] = {}
        for key, value in source.items():
            name = _field_name(key)
            if name in seen:
                raise ConfigurationError(
                    f"buildUrl field {name!r} is given twice, as {seen[name]!r} "
                    f"and {key!r}",
                    key,
                )
            seen[name] = key
            names[name] = key
            values[name] = value
    for name, value in values.items():
        if value is not _UNDEFINED:
            _check(name, names[name], value)
    return values, names


def _field_name(key: Any) -> str:
    """Return the Python name of configuration key ``key``, or raise."""
    if not isinstance(key, str):
        raise ConfigurationError(
            f"buildUrl configuration keys must be strings, not {key!r}", repr(key)
        )
    name = FIELDS.get(key)
    if name is None:
        same_letters = [field for field in FIELDS if field.lower() == key.lower()]
        hint = same_letters or difflib.get_close_matches(key, list(FIELDS), n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ConfigurationError(
            f"unknown buildUrl field {key!r}{suggestion} (the fields are "
            f"{', '.join(sorted(set(FIELDS.values())))})",
            key,
        )
    return name


def _check(name: str, key: str, value: Any) -> None:
    """Raise ConfigurationError if ``value`` does not fit field ``name``."""
    if name in _STRING_FIELDS:
        if value is not None and not isinstance(value, str):
            _wrong(key, "a string", value)
    elif name in ("secure", "no_data"):
        if value is not None and not isinstance(value, int | float):
            _wrong(key, "a boolean", value)
    elif name == "port":
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            _wrong(key, "an integer", value)
        if not 0 <= value <= _MAX_PORT:
            raise ConfigurationError(
                f"buildUrl field {key!r} must be a port from 0 to {_MAX_PORT}, "
                f"not {value!r}",
                key,
            )
    elif name == "ttl":
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            _wrong(key, "a number", value)
    elif name == "url_params":
        if value is not None:
            _check_url_params(key, value)


def _check_url_params(key: str, params: Any) -> None:
    """Raise ConfigurationError unless ``params`` is a mapping of plain values."""
    if not isinstance(params, Mapping):
        _wrong(key, "a mapping", params)
    for param, value in params.items():
        if not isinstance(param, str):
            raise ConfigurationError(
                f"buildUrl field {key!r} must have string keys, not {param!r}", key
            )
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if item is not None and not isinstance(item, str | int | float):
                _wrong(
                    f"{key}.{param}",
                    "a string, number, boolean, None or a list of them",
                    value,
                )


def _wrong(key: str, expected: str, value: Any) -> NoReturn:
    """Raise the ConfigurationError of a value of the wrong type."""
    raise ConfigurationError(
        f"buildUrl field {key!r} must be {expected}, not "
        f"{type(value).__name__} {value!r}",
        key.split(".", 1)[0],
    )


def _encode_component(text: str, key: str) -> str:
    """Percent-encode ``text`` as JavaScript's ``encodeURIComponent`` does."""
    try:
        return quote(text, safe=_URI_COMPONENT_SAFE)
    except UnicodeEncodeError as error:
        # encodeURIComponent throws a URIError on a lone surrogate, too.
        raise ConfigurationError(
            f"buildUrl field {key!r} has a character that cannot be encoded: "
            f"{error.reason}",
            key.split(".", 1)[0],
        ) from None


def _to_js_number(value: int | float) -> float:
    """Return ``value`` as the JavaScript number it would be (big ints overflow)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _js_number_string(value: float) -> str:
    """Return ``value`` as JavaScript's ``String(number)`` prints it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip, as JavaScript does.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    count = len(digits)
    point = count + exponent  # the value is 0.<digits> * 10**point
    if count <= point <= 21:
        text = digits + "0" * (point - count)
    elif 0 < point <= 21:
        text = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        power = point - 1
        mantissa = digits if count == 1 else digits[0] + "." + digits[1:]
        text = f"{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"
    return sign + text


def _query_value(value: Any) -> str:
    """Return one query-string value as Node's ``querystring`` prints it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = _to_js_number(value)
        return _js_number_string(number) if math.isfinite(number) else ""
    return ""


def _js_key_order(keys: list[str]) -> list[str]:
    """Return ``keys`` in JavaScript's ``Object.keys`` order.

    Keys that are array indices (``"0"``, ``"12"``, not ``"01"``) come first in
    numeric order; the rest keep their insertion order.
    """
    indices = [
        key
        for key in keys
        if _ARRAY_INDEX.fullmatch(key) and int(key) <= _MAX_ARRAY_INDEX
    ]
    index_set = set(indices)
    return sorted(indices, key=int) + [key for key in keys if key not in index_set]


def _query_string(params: Mapping[str, Any], key: str) -> str:
    """Return ``params`` as Node's ``querystring.stringify`` encodes them."""
    parts: list[str] = []
    for param in _js_key_order(list(params)):
        value = params[param]
        name = _encode_component(param, key) + "="
        if isinstance(value, list | tuple):
            part = "&".join(
                name + _encode_component(_query_value(item), f"{key}.{param}")
                for item in value
            )
        else:
            part = name + _encode_component(_query_value(value), f"{key}.{param}")
        if part:
            parts.append(part)
    return "&".join(parts)

"""Checking a session configuration, in Python or enigma.js spelling.

``rxqix.create`` takes the fields of enigma.js's Configuration, spelled
either way (``suspend_on_close`` or ``suspendOnClose``). Every mistake raises
:class:`~rxqix.errors.ConfigurationError` naming the field.

``Promise`` has no meaning in Python: calls are asyncio awaitables, so the
field is refused with a message saying so.
"""

from __future__ import annotations

import logging
import ssl as ssl_module
from collections.abc import Mapping, Sequence
from typing import Any

from rxqix.errors import NO_CONFIG_SUPPLIED, PROMISE_REQUIRED, ConfigurationError

FIELDS = frozenset(
    {
        "url",
        "schema",
        "create_socket",
        "headers",
        "subprotocols",
        "ssl",
        "protocol",
        "suspend_on_close",
        "mixins",
        "request_interceptors",
        "response_interceptors",
        "logger",
        "open_timeout",
        "resume_timeout",
    }
)

ENIGMA_SPELLING = {
    "createSocket": "create_socket",
    "suspendOnClose": "suspend_on_close",
    "requestInterceptors": "request_interceptors",
    "responseInterceptors": "response_interceptors",
}


def normalize(
    config: Mapping[str, Any] | None, options: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge a configuration mapping and keyword options into checked fields.

    Raises:
        ConfigurationError: for no configuration, an unknown field, or a field
            of the wrong type.
    """
    if config is None and not options:
        raise ConfigurationError(
            "you need to supply a configuration", None, NO_CONFIG_SUPPLIED
        )
    if config is not None and not isinstance(config, Mapping):
        raise ConfigurationError("the configuration must be a mapping", None)
    merged: dict[str, Any] = {}
    for key, value in {**(config or {}), **options}.items():
        if key == "Promise":
            raise ConfigurationError(
                "Promise has no meaning in Python: rxqix calls are asyncio "
                "awaitables, remove the field",
                "Promise",
                PROMISE_REQUIRED,
            )
        name = ENIGMA_SPELLING.get(key, key)
        if name not in FIELDS:
            raise ConfigurationError(f"unknown configuration field {key!r}", key)
        if name in merged:
            raise ConfigurationError(f"{name} is given twice", name)
        merged[name] = value
    _check(merged)
    return merged


def _fail(field: str, expected: str, value: Any) -> ConfigurationError:
    return ConfigurationError(
        f"{field} must be {expected}, got {type(value).__name__}", field
    )


def _check(fields: dict[str, Any]) -> None:
    if "url" not in fields:
        raise ConfigurationError("url is required", "url")
    value = fields.get("create_socket")
    if value is not None and not callable(value):
        raise ConfigurationError("create_socket must be callable", "create_socket")
    value = fields.get("protocol")
    if value is not None:
        if not isinstance(value, Mapping):
            raise _fail("protocol", "a mapping", value)
        if "delta" in value and not isinstance(value["delta"], bool):
            raise _fail("protocol.delta", "a bool", value["delta"])
    value = fields.get("suspend_on_close", False)
    if not isinstance(value, bool):
        raise _fail("suspend_on_close", "a bool", value)
    value = fields.get("headers")
    if value is not None and not (
        isinstance(value, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        raise ConfigurationError("headers must map str to str", "headers")
    value = fields.get("subprotocols")
    if value is not None and (
        isinstance(value, str) or not isinstance(value, Sequence)
    ):
        raise _fail("subprotocols", "a sequence of str", value)
    value = fields.get("logger")
    if value is not None and not isinstance(value, logging.Logger):
        raise _fail("logger", "a logging.Logger", value)
    value = fields.get("ssl")
    if value is not None and not isinstance(value, ssl_module.SSLContext):
        raise _fail("ssl", "an ssl.SSLContext", value)
    for name in ("open_timeout", "resume_timeout"):
        value = fields.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            raise ConfigurationError(
                f"{name} must be a positive number of seconds", name
            )
    for name in ("mixins", "request_interceptors", "response_interceptors"):
        value = fields.get(name, ())
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
            raise _fail(name, "a list", value)
    for kind, methods in (
        ("request_interceptors", ("on_fulfilled",)),
        ("response_interceptors", ("on_fulfilled", "on_rejected")),
    ):
        for index, interceptor in enumerate(fields.get(kind, ())):
            field = f"{kind}[{index}]"
            handlers = [_handler(interceptor, m) for m in methods]
            if not any(handlers):
                raise ConfigurationError(
                    f"{field} has none of {', '.join(methods)}", field
                )
            if not all(h is None or callable(h) for h in handlers):
                raise ConfigurationError(f"{field} handlers must be callable", field)


def _handler(interceptor: Any, name: str) -> Any:
    camel = {"on_fulfilled": "onFulfilled", "on_rejected": "onRejected"}[name]
    if isinstance(interceptor, Mapping):
        return interceptor.get(name, interceptor.get(camel))
    return getattr(interceptor, name, getattr(interceptor, camel, None))


def handler(interceptor: Any, name: str) -> Any:
    """The interceptor's on_fulfilled or on_rejected (attribute or key), or None."""
    return _handler(interceptor, name)

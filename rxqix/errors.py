"""Exceptions and error codes.

The tree::

    RxqixError                      every error rxqix raises
    ├── EnigmaError                 the library's own errors, with an enigma.js code
    │   ├── NotConnectedError       -1  no open socket, or it closed or failed
    │   │   ├── ConnectionFailedError   the socket could not be opened
    │   │   └── ObjectClosedError   the object's handle is closed
    │   ├── ObjectNotFoundError     -2  the engine answered a lookup with a null handle
    │   ├── PatchError              -3/-4  a delta reply could not be merged
    │   ├── ConfigurationError      -6  a configuration field is wrong
    │   ├── SchemaError             -8  a struct or method the schema lacks
    │   │   └── MethodNotFoundError     (also an AttributeError)
    │   ├── MixinError              -9/-10  a mixin misuses extend or override
    │   ├── SessionSuspendedError   -11 the session is suspended
    │   ├── SessionNotAttachedError -12 resume found a new engine session
    │   ├── InvalidArgumentsError   -1004  arguments that do not fit the method
    │   └── ProtocolError           -1002  a frame that is not JSON-RPC
    └── EngineError                 the engine answered with a JSON-RPC error

``EnigmaError`` keeps enigma.js's numbers (``rxqix.errors.NOT_CONNECTED == -1``);
the codes below -1000 are rxqix's own and never collide with them. Engine
errors keep the engine's ``code``, ``parameter`` and ``message``.
"""

from __future__ import annotations

from typing import Any

# enigma.js error codes, same numbers.
NOT_CONNECTED = -1
OBJECT_NOT_FOUND = -2
EXPECTED_ARRAY_OF_PATCHES = -3
PATCH_HAS_NO_PARENT = -4
ENTRY_ALREADY_DEFINED = -5
NO_CONFIG_SUPPLIED = -6
PROMISE_REQUIRED = -7
SCHEMA_STRUCT_TYPE_NOT_FOUND = -8
SCHEMA_MIXIN_CANT_OVERRIDE_FUNCTION = -9
SCHEMA_MIXIN_EXTEND_NOT_ALLOWED = -10
SESSION_SUSPENDED = -11
SESSION_NOT_ATTACHED = -12

# rxqix's own codes.
INVALID_URL = -1001
PROTOCOL_ERROR = -1002
SCHEMA_METHOD_NOT_FOUND = -1003
INVALID_ARGUMENTS = -1004

ERROR_CODES: dict[str, int] = {
    "NOT_CONNECTED": NOT_CONNECTED,
    "OBJECT_NOT_FOUND": OBJECT_NOT_FOUND,
    "EXPECTED_ARRAY_OF_PATCHES": EXPECTED_ARRAY_OF_PATCHES,
    "PATCH_HAS_NO_PARENT": PATCH_HAS_NO_PARENT,
    "ENTRY_ALREADY_DEFINED": ENTRY_ALREADY_DEFINED,
    "NO_CONFIG_SUPPLIED": NO_CONFIG_SUPPLIED,
    "PROMISE_REQUIRED": PROMISE_REQUIRED,
    "SCHEMA_STRUCT_TYPE_NOT_FOUND": SCHEMA_STRUCT_TYPE_NOT_FOUND,
    "SCHEMA_MIXIN_CANT_OVERRIDE_FUNCTION": SCHEMA_MIXIN_CANT_OVERRIDE_FUNCTION,
    "SCHEMA_MIXIN_EXTEND_NOT_ALLOWED": SCHEMA_MIXIN_EXTEND_NOT_ALLOWED,
    "SESSION_SUSPENDED": SESSION_SUSPENDED,
    "SESSION_NOT_ATTACHED": SESSION_NOT_ATTACHED,
}
"""The twelve enigma.js error codes by name."""

RXQIX_ERROR_CODES: dict[str, int] = {
    "INVALID_URL": INVALID_URL,
    "PROTOCOL_ERROR": PROTOCOL_ERROR,
    "SCHEMA_METHOD_NOT_FOUND": SCHEMA_METHOD_NOT_FOUND,
    "INVALID_ARGUMENTS": INVALID_ARGUMENTS,
}
"""Codes rxqix adds for failures enigma.js has no code for."""


class RxqixError(Exception):
    """Base class of every error rxqix raises."""

    code: int

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message


class EnigmaError(RxqixError):
    """An error of the library itself, with an enigma.js-style code.

    Attributes:
        code: the error code (``rxqix.errors.ERROR_CODES``).
        original: the event behind the error (a close code and reason), if any.
        enigma_error: always True, as enigma.js sets ``enigmaError``.
    """

    enigma_error = True
    default_code = NOT_CONNECTED

    def __init__(
        self, message: str, code: int | None = None, original: Any = None
    ) -> None:
        super().__init__(message, self.default_code if code is None else code)
        self.original = original


class NotConnectedError(EnigmaError):
    """There is no open socket, or it closed or failed while a call was pending."""

    default_code = NOT_CONNECTED


class ConnectionFailedError(NotConnectedError):
    """The socket could not be opened (refused, bad handshake, bad URL scheme)."""


class ObjectClosedError(NotConnectedError):
    """The API object's handle was closed; its methods can no longer be called."""


class ObjectNotFoundError(EnigmaError):
    """The engine answered an object lookup with a null ``qHandle`` and ``qType``."""

    default_code = OBJECT_NOT_FOUND


class PatchError(EnigmaError):
    """A delta reply could not be merged into the cached value."""

    default_code = PATCH_HAS_NO_PARENT


class ConfigurationError(EnigmaError, ValueError):
    """A configuration field is missing or wrong; ``field`` names it."""

    default_code = NO_CONFIG_SUPPLIED

    def __init__(
        self, message: str, field: str | None = None, code: int | None = None
    ) -> None:
        super().__init__(message, code)
        self.field = field


class InvalidUrlError(ConfigurationError):
    """The engine URL is malformed or not a ws:// or wss:// URL."""

    default_code = INVALID_URL


class SchemaError(EnigmaError):
    """The schema lacks a struct type the engine returned."""

    default_code = SCHEMA_STRUCT_TYPE_NOT_FOUND


class MethodNotFoundError(SchemaError, AttributeError):
    """The schema has no such method for the object's struct type."""

    default_code = SCHEMA_METHOD_NOT_FOUND


class MixinError(EnigmaError, TypeError):
    """A mixin overrides a missing function or extends an existing one."""

    default_code = SCHEMA_MIXIN_CANT_OVERRIDE_FUNCTION


class SessionSuspendedError(EnigmaError):
    """The session is suspended; resume it first."""

    default_code = SESSION_SUSPENDED


class SessionNotAttachedError(EnigmaError):
    """Resuming found a new engine session where an attached one was required."""

    default_code = SESSION_NOT_ATTACHED


class InvalidArgumentsError(EnigmaError, TypeError):
    """The arguments given do not fit the method's parameters."""

    default_code = INVALID_ARGUMENTS


class ProtocolError(EnigmaError):
    """The engine sent a frame that is not a JSON-RPC message."""

    default_code = PROTOCOL_ERROR


class EngineError(RxqixError):
    """The engine answered a request with a JSON-RPC error.

    Attributes:
        code: the engine's error code (QIX ``LocalizedErrorCode`` or JSON-RPC).
        parameter: the engine's ``parameter`` text.
        message: the engine's ``message`` text.
        method: the QIX method of the failed request.
        handle: the handle the request was sent to.
    """

    enigma_error = False

    def __init__(
        self,
        code: int,
        message: str,
        parameter: str = "",
        method: str | None = None,
        handle: int | None = None,
    ) -> None:
        super().__init__(message, code)
        self.parameter = parameter
        self.method = method
        self.handle = handle

    def __str__(self) -> str:
        where = f" in {self.method}" if self.method else ""
        detail = f": {self.parameter}" if self.parameter else ""
        return f"{self.message} ({self.code}){where}{detail}"

"""Errors the local engine answers with, as JSON-RPC error objects."""

from __future__ import annotations

from typing import Any

# QIX LocalizedErrorCode values used by the local engine.
JSON_RPC_INVALID_REQUEST = -32600
JSON_RPC_METHOD_NOT_FOUND = -32601
JSON_RPC_INVALID_PARAMETERS = -32602
JSON_RPC_INTERNAL_ERROR = -32603
JSON_RPC_PARSE_ERROR = -32700
GENERIC_NOT_FOUND = 2
GENERIC_INVALID_PARAMETERS = 8
GENERIC_ABORTED = 15
APP_NOT_FOUND = 1003
APP_INVALID = 1007
CALC_INVALID_DEF = 7000
CALC_EVAL_CONDITION_FAILED = 7005
CALC_PAGES_TOO_LARGE = 7009


class EngineError(Exception):
    """A failure answered to the client as ``{"code", "parameter", "message"}``."""

    def __init__(self, code: int, parameter: str, message: str) -> None:
        super().__init__(f"{message} ({code}): {parameter}")
        self.code = code
        self.parameter = parameter
        self.message = message

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-RPC error object."""
        return {"code": self.code, "parameter": self.parameter, "message": self.message}

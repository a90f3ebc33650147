"""Blocks every import of ``lava`` (lava-nc, lava-dl) for the Lava-free test suite (``make test-lavafree``).

Loaded by tests/conftest.py when ``TNA_LAVA_FREE=1``, and, through the ``PYTHONPATH`` the conftest sets, by
every Python the tests start (Python imports ``sitecustomize`` at startup): code that reaches for Lava
meets the ImportError a machine without Lava gives, even where Lava happens to be installed."""

from __future__ import annotations

import importlib.abc
import sys


class BlockLava(importlib.abc.MetaPathFinder):
    """A finder that refuses ``lava`` and every ``lava.*`` module."""

    def find_spec(self, name, path=None, target=None):
        if name == "lava" or name.startswith("lava."):
            raise ModuleNotFoundError(
                f"No module named {name!r} (blocked: the Lava-free suite)", name=name
            )
        return None


def install() -> None:
    """Put the block first on ``sys.meta_path`` (once) and forget any Lava module already imported."""
    if not any(type(f).__name__ == "BlockLava" for f in sys.meta_path):
        sys.meta_path.insert(0, BlockLava())
    for name in [m for m in sys.modules if m == "lava" or m.startswith("lava.")]:
        del sys.modules[name]


install()

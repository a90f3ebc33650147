"""Datasets as in-memory integer tensors, input encoding to T steps, and the paper's augmentation.

The names below load on first use, so ``tna_deploy.data.registry`` (read by the config and the CLI at
startup) imports without torch."""
import importlib
import sys
import types

__all__ = ["Split", "load_split", "encode", "augment"]
_WHERE = {"Split": ".datasets", "load_split": ".datasets", "encode": ".encode", "augment": ".encode"}


def __getattr__(name):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """``tna_deploy.data.encode`` is the function, as when it was imported here eagerly: the submodule
    of the same name, once imported, does not replace it."""

    def __setattr__(self, name, value):
        if name in _WHERE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

"""Import Lava modules without their import-time chatter on stdout (CUDA and Prophesee notices), and
refuse in one line where Lava is missing or cannot run.

Results go to stdout; lava-dl prints notices there when it is imported, so they are captured here
and passed to the log at DEBUG level instead.

What needs which part of Lava (everything else runs without it, on CPython 3.10-3.13):

    Lava's runtime and netx (lava-nc 0.10, lava-dl 0.6)  simulate --backend lava, netx's own load-back
                                                          check of export --format netx; CPython 3.10 only
    lava-dl's SLAYER (pure torch)                         train, evaluate, export from a run; lava-dl
                                                          declares <3.11, yet SLAYER runs on 3.11-3.13
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import logging
import sys
from typing import Optional

from .errors import ConfigError

log = logging.getLogger(__name__)


LAVA_MP = "lava.magma.runtime.message_infrastructure.multiprocessing"
SLAYER = "lava.lib.dl.slayer"
LAVA_PYTHON = (3, 10)  # lava-nc 0.10: `import lava.magma` fails on 3.11
# subpackages a Lava package imports eagerly and tna-deploy never uses: loaded on first attribute use
# instead (SLAYER's object detection pulls in torchvision's models and torch._dynamo: about half
# of SLAYER's import time, by `python -X importtime`)
DEFERRED = {SLAYER: ("lava.lib.dl.slayer.object_detection",)}


def _python() -> str:
    return "%d.%d" % sys.version_info[:2]


def _findable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a parent package missing (or blocked, in the Lava-free tests)
        return False


def missing(name: str, purpose: str) -> Optional[str]:
    """The one-line reason ``purpose`` cannot import the Lava module ``name`` here, or None."""
    if name.startswith(SLAYER):
        if _findable(SLAYER):
            return None
        if sys.version_info[:2] > LAVA_PYTHON:
            return (
                f"{purpose} needs lava-dl's SLAYER, which declares Python <3.11, so the train extra "
                f"leaves it out on {_python()}; SLAYER itself runs here: "
                f"pip install --no-deps --ignore-requires-python lava-dl==0.6.0"
            )
        return f"{purpose} needs lava-dl's SLAYER: pip install 'tna-deploy[train]'"
    if sys.version_info[:2] != LAVA_PYTHON:
        return (
            f"{purpose} needs Lava (lava-nc 0.10, lava-dl 0.6), which runs on CPython 3.10 only, "
            f"not {_python()}: in a Python 3.10 venv, pip install 'tna-deploy[lava]'"
        )
    if _findable("lava.magma") and _findable("lava.lib.dl.netx"):
        return None
    return f"{purpose} needs Lava (lava-nc, lava-dl): pip install 'tna-deploy[lava]'"


def require(name: str, purpose: str) -> None:
    """Refuse ``purpose`` in one line (``ConfigError``) where the Lava module ``name`` cannot load."""
    reason = missing(name, purpose)
    if reason:
        raise ConfigError(reason)


def quiet_import(name: str, purpose: str = "this command"):
    """Import ``name`` with its stdout/stderr chatter sent to the log; a Lava module that is missing,
    or fails to import, is a one-line ``ConfigError`` naming ``purpose`` and what to install.

    Lava's runtime calls ``multiprocessing.set_start_method('fork')`` when first imported, which
    raises if anything (tqdm's lock, for one) already fixed the start method; clearing it first,
    through the public ``set_start_method(None, force=True)``, lets Lava set its own."""
    if name.startswith("lava."):
        require(name, purpose)
        if LAVA_MP not in sys.modules:
            import multiprocessing

            multiprocessing.set_start_method(None, force=True)
    buf = io.StringIO()
    try:
        with (
            contextlib.redirect_stdout(buf),
            contextlib.redirect_stderr(buf),
            _deferred(DEFERRED.get(name, ())),
        ):
            module = importlib.import_module(name)
    except ImportError as e:
        if not name.startswith("lava."):
            raise
        raise ConfigError(
            f"{purpose}: {name} does not import ({type(e).__name__}: {e}); reinstall it: "
            f"pip install 'tna-deploy[{'train' if name.startswith(SLAYER) else 'lava'}]'"
        ) from None
    if buf.getvalue().strip():
        log.debug("import %s said: %s", name, " ".join(buf.getvalue().split()))
    return module


class _DeferredFinder(importlib.abc.MetaPathFinder):
    """Finds ``names`` as the path finder does, with a loader that runs the module on first use
    (``importlib.util.LazyLoader``): the import binds it, an attribute read executes it."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextlib.contextmanager
def _deferred(names):
    """While importing, the subpackages ``names`` load lazily (their first attribute read runs them)."""
    if not names:
        yield
        return
    finder = _DeferredFinder(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)

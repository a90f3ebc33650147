"""Import Lava modules without their import-time chatter on stdout (CUDA and Prophesee notices).

Results go to stdout; lava-dl prints notices there when it is imported, so they are captured here
and passed to the log at DEBUG level instead.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import sys

log = logging.getLogger(__name__)


LAVA_MP = "lava.magma.runtime.message_infrastructure.multiprocessing"


def quiet_import(name: str):
    """Import ``name`` with its stdout/stderr chatter sent to the log.

    Lava's runtime calls ``multiprocessing.set_start_method('fork')`` when first imported, which
    raises if anything (tqdm's lock, for one) already fixed the start method; clearing it first,
    through the public ``set_start_method(None, force=True)``, lets Lava set its own."""
    if name.startswith("lava.") and LAVA_MP not in sys.modules:
        import multiprocessing

        multiprocessing.set_start_method(None, force=True)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        module = importlib.import_module(name)
    if buf.getvalue().strip():
        log.debug("import %s said: %s", name, " ".join(buf.getvalue().split()))
    return module

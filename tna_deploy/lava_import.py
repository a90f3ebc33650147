"""Import Lava modules without their import-time chatter on stdout (CUDA and Prophesee notices).

Results go to stdout; lava-dl prints notices there when it is imported, so they are captured here
and passed to the log at DEBUG level instead.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import logging

log = logging.getLogger(__name__)


def quiet_import(name: str):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        module = importlib.import_module(name)
    if buf.getvalue().strip():
        log.debug("import %s said: %s", name, " ".join(buf.getvalue().split()))
    return module

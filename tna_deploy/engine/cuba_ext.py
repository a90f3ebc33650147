"""The fused CPU build of the CUBA kernel (``csrc/cuba.cpp``), compiled with the system's C++ compiler on
first use and cached by torch (``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``).

Where no compiler is found, or ``TNA_FUSED=0`` is set, :func:`get` returns None and the kernel runs as
portable torch operations (``cuba.py``), which compute the same integers (tested) more slowly.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading

log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict = {}


def get():
    """The compiled module, or None (no compiler, build failed, or disabled)."""
    if os.environ.get("TNA_FUSED", "1") == "0":
        return None
    if "module" in _state:
        return _state["module"]
    with _lock:
        if "module" not in _state:
            _state["module"] = _build()
    return _state["module"]


def _build():
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc", "cuba.cpp")
    try:
        notice = (
            io.StringIO()
        )  # torch prints "No CUDA runtime is found" when the module is imported
        with contextlib.redirect_stdout(notice), contextlib.redirect_stderr(notice):
            from torch.utils.cpp_extension import load
        log.debug("torch.utils.cpp_extension: %s", notice.getvalue().strip())
        with contextlib.redirect_stdout(io.StringIO()):
            log.info("building the fused CUBA kernel (once; cached by torch)")
            # built for this machine's CPU (one build per CPU model, so a shared home dir is safe)
            return load(
                name=f"tna_cuba_{_cpu_tag()}",
                sources=[src],
                extra_cflags=["-O3", "-march=native", "-fno-trapping-math"],
                verbose=False,
            )
    except Exception as e:  # no compiler, no headers: the portable path computes the same integers
        log.warning(
            "fused CUBA kernel unavailable (%s); using portable torch operations",
            str(e).strip().splitlines()[-1][:160] if str(e).strip() else type(e).__name__,
        )
        return None


def _cpu_tag() -> str:
    """A short hash of this CPU's model and feature flags."""
    import hashlib
    import platform

    text = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            text += "".join(
                line for line in f if line.startswith(("model name", "flags", "Features"))
            )
    except OSError:
        pass
    return hashlib.sha1(text.encode()).hexdigest()[:10]

"""The fused CPU build of the CUBA kernel (``csrc/cuba.cpp``, and the fast engine's backward
``csrc/cuba_backward.cpp``, convolution over spikes ``csrc/spike_conv.cpp``, and simulate's counting
``csrc/raster_counts.cpp``), compiled with the
system's C++ compiler on first use and cached by torch (``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``).

The build folder is named by what changes the binary: the sources' hash, the flags, the torch and Python
versions and the CPU (:func:`build_key`). The sources are copied into it and compiled from there, so two
checkouts or venvs with the same sources share one build and never rebuild each other's (torch's build
file records the source path); concurrent first uses wait for one build on the folder's lock
(``cbuild.build_lock``, which also clears the baton file a killed torch build leaves). A first build
is announced through :data:`announce` (the CLI prints it) and happens before any timed work. Once a
build has loaded, a record of its library (``built.json``: its name, size and modification time) lets
every later process load it directly (:func:`_load_built`), without importing torch's build tools and
running ninja to check it (about 0.7 s a process); a library that no longer matches its record takes the
full path again.

Where no compiler is found, or ``TNA_FUSED=0`` is set, :func:`get` returns None and the kernel runs as
portable torch operations (``cuba.py``), which compute the same integers (tested) more slowly.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from typing import Callable, Optional

from .cbuild import build_lock, cpu_tag

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


CSRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")
SOURCES = (
    "cuba.cpp",
    "cuba_backward.cpp",
    "spike_conv.cpp",
    "raster_counts.cpp",
)  # one module; cuba.cpp binds them all
# -ffp-contract=off: no multiply-add fused into one rounding, so the backward rounds as SLAYER's torch ops do
FLAGS = ("-O3", "-march=native", "-fno-trapping-math", "-ffp-contract=off")
announce: Optional[Callable[[str], None]] = None  # told once, before a build (the CLI prints it)


def openmp_flags() -> tuple[list, list]:
    """(compile, link) flags that run the kernels' ``at::parallel_for`` on torch's own OpenMP threads.

    Without ``-fopenmp`` the ATen header's parallel loop compiles serial (one core). Linked against the
    ``libgomp`` that torch's wheel ships (the library torch itself already loaded), the kernels share
    torch's thread pool: a second OpenMP runtime would spin its threads against torch's on the same cores.
    Where torch was built without OpenMP, or off Linux, the kernels stay serial."""
    import glob
    import sys

    import torch

    if not sys.platform.startswith("linux") or not torch.backends.openmp.is_available():
        return [], []
    lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    shipped = sorted(glob.glob(os.path.join(lib, "libgomp*.so*")))
    return ["-fopenmp"], shipped[:1] if shipped else [
        "-fopenmp"
    ]  # else torch uses the system's libgomp


def build_key(source: bytes) -> str:
    """What the binary depends on, hashed: the sources (joined), flags, torch and Python versions, CPU."""
    import hashlib
    import sys

    import torch

    compile_flags, link_flags = openmp_flags()
    text = b"\0".join(
        [
            source,
            " ".join(FLAGS + tuple(compile_flags) + tuple(link_flags)).encode(),
            torch.__version__.encode(),
            sys.version.encode(),
            cpu_tag().encode(),
        ]
    )
    return hashlib.sha1(text).hexdigest()[:16]


def build_dir(source: bytes) -> tuple[str, str]:
    """(module name, build folder) of ``source``, the sources' bytes as :func:`_sources` joins them."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "torch_extensions"
    )
    name = f"tna_cuba_{build_key(source)}"
    return name, os.path.join(root, name)


def _sources() -> dict[str, bytes]:
    out = {}
    for file in SOURCES:
        with open(os.path.join(CSRC, file), "rb") as f:
            out[file] = f.read()
    return out


def _joined(sources: dict[str, bytes]) -> bytes:
    return b"\0\0".join(sources.values())


def is_built() -> bool:
    """True when this machine already has the build these sources, torch and CPU need."""
    name, folder = build_dir(_joined(_sources()))
    return os.path.isfile(os.path.join(folder, f"{name}.so"))


BUILT = "built.json"  # in the build folder: the library a finished build loaded, as it was then


def _stamp(path: str) -> Optional[dict]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _load_built(name: str, folder: str):
    """The module of a build that loaded before (``built.json`` matches its library), loaded directly;
    None where there is no such record or the library does not load."""
    import importlib.util
    import json

    lib = os.path.join(folder, f"{name}.so")
    try:
        with open(os.path.join(folder, BUILT)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("library") != f"{name}.so":
        return None
    if record.get("stamp") is None or record.get("stamp") != _stamp(lib):
        return None
    try:
        spec = importlib.util.spec_from_file_location(name, lib)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError) as e:
        log.debug("cached CUBA kernel %s did not load (%s); building", lib, e)
        return None
    return module


def _record_built(name: str, folder: str) -> None:
    import json

    from ..atomic import atomic_write

    text = json.dumps(
        {"library": f"{name}.so", "stamp": _stamp(os.path.join(folder, f"{name}.so"))}
    )
    atomic_write(os.path.join(folder, BUILT), lambda f: f.write(text.encode()))


def _build():
    try:
        sources = _sources()
        name, folder = build_dir(_joined(sources))
        module = _load_built(name, folder)
        if module is not None:
            return module
        os.makedirs(folder, exist_ok=True)
        with build_lock(folder):  # one build at a time; a killed build's torch baton is cleared
            paths = []
            for file, source in sources.items():
                src = os.path.join(folder, file)  # compiled from here: one path for every checkout
                if _read(src) != source:
                    from ..atomic import atomic_write

                    atomic_write(src, lambda f, source=source: f.write(source))
                paths.append(src)
            if not os.path.isfile(os.path.join(folder, f"{name}.so")) and announce is not None:
                announce(
                    "building the fused CUBA kernel, once for this machine, torch and source (about a minute)"
                )
            notice = (
                io.StringIO()
            )  # torch prints "No CUDA runtime is found" when the module is imported
            with contextlib.redirect_stdout(notice), contextlib.redirect_stderr(notice):
                from torch.utils.cpp_extension import load
            log.debug("torch.utils.cpp_extension: %s", notice.getvalue().strip())
            with contextlib.redirect_stdout(io.StringIO()):
                compile_flags, link_flags = openmp_flags()
                module = load(
                    name=name,
                    sources=paths,
                    extra_cflags=list(FLAGS) + compile_flags,
                    extra_ldflags=link_flags,
                    build_directory=folder,
                    verbose=False,
                )
            _record_built(name, folder)  # still under the lock: the library is complete
            return module
    except Exception as e:  # no compiler, no headers: the portable path computes the same integers
        log.warning(
            "fused CUBA kernel unavailable (%s); using portable torch operations",
            str(e).strip().splitlines()[-1][:160] if str(e).strip() else type(e).__name__,
        )
        return None


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None

"""Command lines for tna-deploy's own child processes, which run exactly the package this process runs.

``python -m pkg.mod`` (and ``python -c``) put the working directory first on ``sys.path``: a
``tna_deploy/`` folder there (a downloaded model bundle, another checkout) would be imported instead
of the installed package, and its code run. A child is therefore started isolated (``-I``: no working
directory or script folder on the path, no ``PYTHON*`` variables, no user site-packages) and loads the
``tna_deploy`` package from the very folder the parent imported it from.
"""

from __future__ import annotations

import os
import sys

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

_BOOT = """import importlib.util as u, sys
spec = u.spec_from_file_location("tna_deploy", {init!r}, submodule_search_locations=[{pkg!r}])
m = u.module_from_spec(spec); sys.modules["tna_deploy"] = m; spec.loader.exec_module(m)
from {module} import main
main()"""


def python_command(module: str, *args: str) -> list:
    """argv that runs ``module.main()`` (a module of this package) in an isolated interpreter, with
    ``sys.argv[1:] == args``."""
    if (
        not module.startswith("tna_deploy.")
        or not module.replace(".", "").replace("_", "").isalnum()
    ):
        raise ValueError(f"not a tna_deploy module: {module!r}")
    boot = _BOOT.format(
        init=os.path.join(PACKAGE_DIR, "__init__.py"), pkg=PACKAGE_DIR, module=module
    )
    return [sys.executable, "-I", "-c", boot, *args]


def script_command(path: str, *args: str) -> list:
    """argv that runs a stand-alone script of this package (it imports only third-party modules) in an
    isolated interpreter: neither the working directory nor the script's folder is on its path."""
    return [sys.executable, "-I", os.path.abspath(path), *args]

"""lava-dl's SLAYER imports without the object-detection subpackage it loads eagerly (torchvision's
models, torch._dynamo: half of its import time), and that subpackage still works on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import no_slayer

pytestmark = pytest.mark.skipif(no_slayer() is not None, reason=str(no_slayer()))

SCRIPT = """
import sys
from tna_deploy.lava_import import quiet_import
slayer = quiet_import("lava.lib.dl.slayer")
print("loaded:", "torchvision" in sys.modules, "lava.lib.dl.slayer.object_detection.boundingbox" in sys.modules)
block = slayer.block.cuba.Dense({"threshold": 1.0, "current_decay": 1.0, "voltage_decay": 0.1}, 4, 2)
print("block:", type(block).__name__)
from lava.lib.dl.slayer.object_detection.boundingbox import utils
print("on use:", "torchvision" in sys.modules, slayer.obd.boundingbox.utils is utils, callable(utils.non_maximum_suppression))
"""


def test_object_detection_loads_on_first_use_only():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    lines = [x for x in out.splitlines() if x.split(":")[0] in ("loaded", "block", "on use")]
    assert lines == ["loaded: False False", "block: Dense", "on use: True True True"]

"""Weight quantizers honouring SLAYER's ``pre_hook_fx(w, descale=False)`` contract.

The names below load on first use, so ``tna_deploy.quant.modes`` (read by the config and the CLI at
startup) can be imported without torch."""
import importlib

__all__ = ["W_SCALE", "WeightQuantizer", "weight_levels", "compression_active"]
_WHERE = {"W_SCALE": ".quantizers", "WeightQuantizer": ".quantizers", "weight_levels": ".quantizers",
          "compression_active": ".schedule"}


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

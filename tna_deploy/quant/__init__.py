"""Weight quantizers honouring SLAYER's ``pre_hook_fx(w, descale=False)`` contract."""
from .quantizers import W_SCALE, WeightQuantizer, weight_levels
from .schedule import compression_active

__all__ = ["W_SCALE", "WeightQuantizer", "weight_levels", "compression_active"]

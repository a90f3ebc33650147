"""Training configuration: one frozen, validated dataclass that travels inside every checkpoint."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from ..checks import is_bool, is_int, is_num, is_str, shown
from ..data.registry import DATASETS as DATASET_REGISTRY
from ..errors import ConfigError
from ..quant.modes import WEIGHT_MODES
from .methods import METHODS as METHOD_REGISTRY
from .methods import teacher_methods

# Live views of the registries the choices come from (a new registry entry shows up here, in the
# checks below and in the CLI's choices).
DATASETS = DATASET_REGISTRY.keys()
METHODS = METHOD_REGISTRY.keys()
WEIGHTS = WEIGHT_MODES  # the middle-layer modes of quant/modes.py
ENGINES = ("fast", "slayer")  # how SLAYER blocks compute: models/fast.py, or lava-dl's own forward
CIFARNET = "128C3-256C3-AP2-512C3-AP2-1024C3-512C3-1024FC-512FC"

# The paper's tuned alpha per dataset (Table 1) and for kd-ce (Fig. 3a).
PAPER_ALPHA = {"fashion-mnist": 1e-4, "cifar10": 1e-3, "cifar100": 1e-3, "cifar10-dvs": 1e-4}
KD_CE_ALPHA = 1e-5

# A run that finishes in about two minutes on 2 CPU cores with the fast engine (12,000 images an epoch;
# stock SLAYER took as long for 2,000); every field can still be overridden by a flag. Its few hundred
# steps learn faster without augmentation and with a smaller learning rate than the paper's.
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": dict(
        width=0.125,
        epochs=2,
        quantize_epoch=1,
        limit_train=12000,
        limit_test=1000,
        batch_size=64,
        augment=False,
        lr=0.002,
    ),
    "paper": dict(width=1.0, epochs=250, quantize_epoch=150, batch_size=256),
    # `make demo`: the `small` recipe on the whole of Fashion-MNIST, ternary from the second epoch
    "demo": dict(
        arch="small",
        width=1.0,
        epochs=2,
        quantize_epoch=1,
        batch_size=64,
        augment=False,
        lr=0.002,
        lr_gamma=0.7,
    ),
}


def _flag_field(
    default: Any,
    help: str,
    *,
    choices: Any = None,
    default_text: Optional[str] = None,
    flag: Optional[str] = None,
    directory: bool = False,
) -> Any:
    """A field that is also a ``train`` flag. The CLI builds the option from this metadata (cli_options.py
    ``config_options``): ``help`` (``{choices}`` becomes the choice names joined by " | "), then the
    default in brackets, read from the field or ``default_text`` (shown when the default is None);
    ``choices``: the registry the values select from; ``flag``: the flag if not ``--field-name``;
    ``directory``: a folder path."""
    return field(
        default=default,
        metadata=dict(
            cli=True,
            help=help,
            choices=choices,
            default_text=default_text,
            flag=flag,
            directory=directory,
        ),
    )


def _fixed_field(default: Any, help: str) -> Any:
    """A field kept in every config but not offered as a ``train`` flag."""
    return field(default=default, metadata=dict(cli=False, help=help))


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run. Defaults are the paper's (§5.1-5.2)."""

    dataset: str = _flag_field("fashion-mnist", "Dataset", choices=DATASET_REGISTRY)
    data_dir: Optional[str] = _flag_field(
        None, "Where the dataset files are (or go)", directory=True
    )
    arch: str = _flag_field(CIFARNET, "Architecture string", default_text=f"CIFARNet: {CIFARNET}")
    width: float = _flag_field(1.0, "Channel multiplier, e.g. 0.125 for CPU-sized runs")
    timesteps: int = _flag_field(5, "Timesteps T")
    method: str = _flag_field("tna", "{choices}", choices=METHOD_REGISTRY)
    twins: int = _flag_field(1, "Number of twins under tna")
    alpha: Optional[float] = _flag_field(  # None: the paper's value for the dataset / method
        None, "Weight of the logit-matching MSE", default_text="paper's per dataset"
    )
    teacher: Optional[str] = _flag_field(  # run directory of a trained model (kd, kd-ce)
        None, "Run directory of the frozen teacher (kd, kd-ce)", directory=True
    )
    weights: str = _flag_field("ternary", "Middle-layer weights of the base", choices=WEIGHT_MODES)
    delta: float = _flag_field(0.1, "Ternary threshold, a fraction of the layer's max |w|")
    quantize_epoch: Optional[int] = _flag_field(  # None: 60 % of the epochs (paper: 150 of 250)
        None, "First compressed epoch, 0-based", default_text="60% of --epochs"
    )
    epochs: int = _flag_field(250, "Epochs")
    batch_size: int = _flag_field(256, "Batch size")
    lr: float = _flag_field(0.01, "Adam learning rate")
    lr_gamma: float = _flag_field(0.928, "Exponential learning-rate decay per epoch")
    dropout: Optional[float] = _flag_field(  # None: 0.2 static data, 0.5 event data (CIFAR-10-DVS)
        None, "Dropout on FC layers", default_text="0.2 static, 0.5 DVS"
    )
    seed: int = _flag_field(0, "Random seed")
    limit_train: Optional[int] = _flag_field(None, "Use only the first N training samples")
    limit_test: Optional[int] = _flag_field(None, "Use only the first N test samples")
    val_split: Optional[int] = (
        _flag_field(  # None: train on every training sample, no validation set
            None,
            "Hold out the last N training samples as a validation set (val accuracy per epoch, "
            "for choosing hyperparameters without the test set)",
        )
    )
    augment: bool = _flag_field(True, "The paper's augmentation")
    # neuron and encoding (lava-dl CUBA; see README "Neuron and input encoding")
    threshold: float = _flag_field(1.0, "Neuron threshold")
    current_decay: float = _flag_field(1.0, "CUBA current decay in [0, 1], 1 = plain LIF")
    voltage_decay: float = _flag_field(0.25, "CUBA voltage decay in [0, 1]")
    tau_grad: float = _fixed_field(0.1, "Surrogate-gradient time constant of the spike function")
    scale_grad: float = _fixed_field(1.0, "Surrogate-gradient scale of the spike function")
    weight_scale: float = _fixed_field(3.0, "SLAYER's weight_scale of the initial weights")
    input_bits: int = _flag_field(4, "Graded-spike bits of the input")
    dvs_size: int = _fixed_field(48, "Side of the CIFAR10-DVS frames, in pixels")

    def __post_init__(self) -> None:
        self._check_choices()
        self._check_ranges()

    def _check_choices(self) -> None:
        from ..models.arch import parse_arch

        parse_arch(self.arch)  # a bad --arch is refused here, before any data is read
        if self.dataset not in DATASET_REGISTRY:
            raise ConfigError(
                f"unknown dataset {self.dataset!r}: choose one of {', '.join(DATASET_REGISTRY)}"
            )
        if self.method not in METHOD_REGISTRY:
            raise ConfigError(
                f"unknown method {self.method!r}: choose one of {', '.join(METHOD_REGISTRY)}"
            )
        if self.weights not in WEIGHT_MODES:
            raise ConfigError(
                f"unknown weights {self.weights!r}: choose one of {', '.join(WEIGHT_MODES)}"
            )
        needs_teacher = METHOD_REGISTRY[self.method].needs_teacher
        if needs_teacher and not self.teacher:
            raise ConfigError(
                f"--method {self.method} needs --teacher RUN_DIR (a trained run to distil from)"
            )
        if not needs_teacher and self.teacher:
            raise ConfigError(
                f"--teacher is only used by --method {' or '.join(teacher_methods())}, "
                f"not {self.method}"
            )

    def _check_ranges(self) -> None:
        positive_ints = ("timesteps", "epochs", "batch_size", "twins", "input_bits", "dvs_size")
        for name in positive_ints:
            if getattr(self, name) < 1:
                raise ConfigError(f"--{_flag(name)} must be at least 1, got {getattr(self, name)}")
        for name in ("limit_train", "limit_test", "val_split"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{_flag(name)} must be at least 1, got {value}")
        if (
            self.val_split is not None
            and self.limit_train is not None
            and self.val_split >= self.limit_train
        ):
            raise ConfigError(
                f"--val-split {self.val_split} leaves no training samples of --limit-train "
                f"{self.limit_train}: hold out fewer"
            )
        if not (math.isfinite(self.width) and self.width > 0):
            raise ConfigError(f"--width must be a positive channel multiplier, got {self.width}")
        if self.alpha is not None and not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise ConfigError(
                f"--alpha must be >= 0 (the weight of the logit-matching loss), got {self.alpha}"
            )
        if not (0.0 < self.delta < 1.0):
            raise ConfigError(
                f"--delta must lie in (0, 1) (a fraction of each layer's largest |w|), got {self.delta}"
            )
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if not (0.0 < self.lr_gamma <= 1.0):
            raise ConfigError(f"--lr-gamma must lie in (0, 1], got {self.lr_gamma}")
        if self.dropout is not None and not (0.0 <= self.dropout < 1.0):
            raise ConfigError(f"--dropout must lie in [0, 1), got {self.dropout}")
        if self.quantize_epoch is not None:
            if self.weights == "fp":
                raise ConfigError(
                    "--quantize-epoch needs --weights ternary or binary (fp weights are never compressed)"
                )
            if not (0 <= self.quantize_epoch < self.epochs):
                raise ConfigError(
                    f"--quantize-epoch {self.quantize_epoch} is beyond --epochs {self.epochs}: "
                    f"compression must start at an epoch in 0..{self.epochs - 1}"
                )
        if (
            not (0.0 < self.threshold)
            or not (0.0 <= self.current_decay <= 1.0)
            or not (0.0 <= self.voltage_decay <= 1.0)
        ):
            raise ConfigError("neuron settings out of range: threshold > 0, decays in [0, 1]")
        if self.input_bits > 16:
            raise ConfigError(
                f"--input-bits must be at most 16 (graded-spike payload), got {self.input_bits}"
            )

    # ---- resolved values -------------------------------------------------------------
    @property
    def resolved_alpha(self) -> float:
        if self.alpha is not None:
            return self.alpha
        return KD_CE_ALPHA if self.method == "kd-ce" else PAPER_ALPHA[self.dataset]

    @property
    def resolved_dropout(self) -> float:
        if self.dropout is not None:
            return self.dropout
        return 0.5 if DATASET_REGISTRY[self.dataset].event_data else 0.2

    @property
    def resolved_quantize_epoch(self) -> Optional[int]:
        if self.weights == "fp":
            return None
        if self.quantize_epoch is not None:
            return self.quantize_epoch
        return min(self.epochs - 1, int(round(0.6 * self.epochs)))

    @property
    def n_twins(self) -> int:
        return self.twins if METHOD_REGISTRY[self.method].has_twins else 0

    def resolved(self) -> dict[str, Any]:
        """The config with every None default replaced by the value actually used."""
        d = self.to_dict()
        d.update(
            alpha=self.resolved_alpha,
            dropout=self.resolved_dropout,
            quantize_epoch=self.resolved_quantize_epoch,
        )
        return d

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: Optional[str] = None) -> "TrainConfig":
        """A config from saved values, each checked against its field's type first.

        ``where`` names the file (and field) the values come from: errors then name that file and
        its fields instead of the command-line flags."""
        try:
            if not isinstance(d, dict):
                raise ConfigError(f"is a {type(d).__name__}, expected an object of config fields")
            known = {f.name for f in fields(cls)}
            unknown = set(d) - known
            if unknown:
                raise ConfigError(f"unknown config field(s) {', '.join(sorted(map(str, unknown)))}")
            for f in fields(cls):
                if f.name in d:
                    _check_type(f.name, str(f.type), d[f.name])
            return cls(**d)
        except ConfigError as e:
            if where is None:
                raise
            msg = re.sub(
                r"--([a-z][a-z-]*)", lambda m: "field " + m.group(1).replace("-", "_"), str(e)
            )
            raise ConfigError(f"{where}: {msg}") from None


_KINDS = {
    "str": ("a string", is_str),
    "int": ("an integer", is_int),
    "float": ("a finite number", is_num),
    "bool": ("true or false", is_bool),
}


def _check_type(name: str, annotation: str, value: Any) -> None:
    """``value`` must fit the field's annotation ("int", "Optional[float]", ...)."""
    optional = annotation.startswith("Optional[")
    what, ok = _KINDS[annotation[9:-1] if optional else annotation]
    if (value is None and optional) or ok(value):
        return
    raise ConfigError(
        f"field {name} is {shown(value)}, expected {what}{' or null' if optional else ''}"
    )


def _flag(name: str) -> str:
    return name.replace("_", "-")


def with_preset(preset: Optional[str], overrides: dict[str, Any]) -> TrainConfig:
    """Build a config: dataclass defaults < preset < explicitly given flags."""
    values: dict[str, Any] = {}
    if preset:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
    values.update({k: v for k, v in overrides.items() if v is not None})
    if (
        values.get("weights", TrainConfig.weights) == "fp"
        and overrides.get("quantize_epoch") is None
    ):
        values.pop(
            "quantize_epoch", None
        )  # a preset's compression epoch means nothing for fp weights
    return TrainConfig(**values)

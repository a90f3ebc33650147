"""Field checks shared by every reader of a tna-deploy artifact (checkpoints, config.json, netx metadata,
simulation results, hardware profiles): one way to test a value's type and to show a bad value in a
one-line error, so every reader words its errors alike."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

SHOWN_MAX = 40  # characters of a bad value a message shows; longer ones are named by their type


def shown(value: Any) -> str:
    """A bad value as a one-line error shows it: its repr on one line when short, else ``a <type>``."""
    if hasattr(value, "shape") and hasattr(
        value, "dtype"
    ):  # a tensor or an array: never its contents
        kind = "tensor" if type(value).__name__ == "Tensor" else "array"
        return f"a {kind} of shape {tuple(value.shape)} ({value.dtype})"
    text = " ".join(repr(value).split())
    return text if len(text) <= SHOWN_MAX else f"a {type(value).__name__}"


def is_int(v: Any) -> bool:
    """An int, not a bool (JSON's and TOML's true are not counts)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    """A finite int or float, not a bool (nan, inf and true are not figures)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_str(v: Any) -> bool:
    return isinstance(v, str)


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def is_pos_int(v: Any) -> bool:
    return is_int(v) and v >= 1


@dataclass(frozen=True)
class Field:
    """One field of a record: its test and what a user is told was expected."""

    ok: Callable[[Any], bool]
    expected: str
    optional: bool = False  # may be absent
    nullable: bool = False  # may be null


def check_fields(
    record: Any, fields: dict, where: str, error: type, hint: str = "", noun: str = "field"
) -> None:
    """Every field of ``fields`` ({name: Field}) present in ``record`` (a dict) and passing its test;
    otherwise ``error("<where>: <noun> <name> is <shown>, expected <what>[; <hint>]")`` (``noun``:
    what the file calls its fields, e.g. an HDF5 file's "attribute")."""
    tail = f"; {hint}" if hint else ""
    if not isinstance(record, dict):
        raise error(f"{where} is {shown(record)}, expected an object{tail}")
    for name, f in fields.items():
        if name not in record:
            if f.optional:
                continue
            raise error(f"{where}: {noun} {name} is missing (expected {f.expected}){tail}")
        value = record[name]
        if value is None and f.nullable:
            continue
        if not f.ok(value):
            raise error(f"{where}: {noun} {name} is {shown(value)}, expected {f.expected}{tail}")

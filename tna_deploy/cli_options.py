"""How the CLI's options are built from the registries and the TrainConfig fields, and how ``train``'s
flags become a config: a field or a registry entry added in one place shows up in the CLI."""

from __future__ import annotations

import dataclasses
from typing import Optional

import click

from .train.config import TrainConfig


def choices_help(registry: dict) -> str:
    """A registry as help text: ``name: help; name: help.``"""
    return "; ".join(f"{k}: {v}" for k, v in registry.items()) + "."


_TYPES = {"int": int, "float": float, "str": str, "bool": None}  # bool: an on/off flag pair


def _shown_default(f: dataclasses.Field) -> Optional[str]:
    """A TrainConfig default as the help shows it, read from the field so the two cannot drift."""
    if f.metadata.get("default_text") is not None:
        return f.metadata["default_text"]
    if f.default is None:
        return None
    return {True: "on", False: "off"}[f.default] if isinstance(f.default, bool) else str(f.default)


def config_option(f: dataclasses.Field) -> tuple[list, dict]:
    """The click option of one TrainConfig field, from its metadata (config.py ``_flag_field``):
    ``(param_decls, attrs)``. Every default is None: ``train`` tells given flags by their source,
    and ``with_preset`` (or the saved run) fills the rest."""
    meta = f.metadata
    annotation = str(f.type)
    base = annotation[9:-1] if annotation.startswith("Optional[") else annotation
    flag = meta.get("flag") or "--" + f.name.replace("_", "-")
    if base == "bool" and "/" not in flag:
        flag = f"{flag}/--no-{flag[2:]}"
    choices = meta.get("choices")
    shown = _shown_default(f)
    text = meta["help"].replace("{choices}", " | ".join(choices) if choices is not None else "")
    help_ = text + (f" [{shown}]" if shown is not None else "") + "."
    if choices is not None:
        type_ = click.Choice(list(choices))
    elif meta.get("directory"):
        type_ = click.Path(file_okay=False)
    else:
        type_ = _TYPES[base]
    return [f.name, flag], dict(type=type_, default=None, help=help_)


def config_options(fn):
    """Decorate a command with one option per TrainConfig field marked as a flag, in field order."""
    for f in reversed([f for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli")]):
        decls, attrs = config_option(f)
        fn = click.option(*decls, **attrs)(fn)
    return fn


def train_config(ctx: click.Context, preset, out: str, resume: bool, flags: dict) -> TrainConfig:
    """The config ``train`` runs: the flags given on the command line over the saved run's config
    (``--resume``) or over the preset's."""
    from .train.checkpoint import saved_config
    from .train.config import with_preset

    given = {
        k: v
        for k, v in flags.items()
        if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE
    }
    saved = saved_config(out) if resume else None  # the checkpoint's; config.json's before epoch 1
    if saved is not None:  # flags not given come from the saved run
        return TrainConfig.from_dict(dict(saved, **given))
    return with_preset(preset, given)

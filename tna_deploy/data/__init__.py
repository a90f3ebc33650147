"""Datasets as in-memory integer tensors, input encoding to T steps, and the paper's augmentation."""
from .datasets import Split, load_split
from .encode import augment, encode

__all__ = ["Split", "load_split", "encode", "augment"]

"""Datasets as in-memory integer tensors (``datasets``: ``load_split``; ``registry``: the dataset list), input
encoding to T steps and the paper's augmentation (``encode``). Import the submodules; this package
imports nothing itself, so ``registry`` (read by the config and the CLI at startup) stays torch-free."""

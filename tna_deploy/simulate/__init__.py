"""Run an exported netx file: Lava's CPU simulator for Loihi 2 (and later our emulator); compare with PyTorch."""

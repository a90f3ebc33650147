"""tna-deploy: Twin Network Augmentation and ternary SNNs, from lava-dl SLAYER training to Loihi 2."""

__version__ = "0.1.0"

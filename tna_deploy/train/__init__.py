"""Training: losses (single, tna, kd, kd-ce), one readable loop, atomic checkpoints, evaluation."""

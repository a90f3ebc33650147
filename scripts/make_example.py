"""Write examples/small/: a small netx file trained here (CPython 3.10, lava-dl SLAYER), 8 input samples
and what the emulator computes for them (``expected.json``). The wheel's smoke test
(scripts/smoke.sh) runs the file on every Python and compares with these numbers.

    .venv/bin/python scripts/make_example.py     # a minute on 2 cores
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
OUT = os.path.join(ROOT, "examples", "small")
SAMPLES = 8


def main() -> None:
    import torch
    from helpers import make_images, tiny_config, write_idx

    from tna_deploy.data.datasets import load_split
    from tna_deploy.data.encode import encode
    from tna_deploy.export import to_netx
    from tna_deploy.simulate.run import simulate
    from tna_deploy.train.loop import train

    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for split, n, seed in (("train", 96, 1), ("t10k", 32, 2)):
            x, y = make_images(n, seed)
            write_idx(os.path.join(tmp, f"{split}-images-idx3-ubyte.gz"), x[..., 0])
            write_idx(os.path.join(tmp, f"{split}-labels-idx1-ubyte.gz"), y)
        cfg = tiny_config(tmp, arch="4C3-AP2-AP2-10FC", timesteps=4, seed=1, limit_test=SAMPLES)
        train(cfg, os.path.join(tmp, "run"))
        net = os.path.join(OUT, "small.net")
        to_netx(os.path.join(tmp, "run"), net)
        test = load_split(cfg, "test")
        with torch.no_grad():
            x = encode(test.x[:SAMPLES], cfg.timesteps, cfg.input_bits, test.event_data)
        np.save(os.path.join(OUT, "input.npy"), x.numpy().astype(np.uint8))
        sim = os.path.join(tmp, "sim")
        res = simulate(net, "all", sim, input_path=os.path.join(OUT, "input.npy"))
        logits = np.load(os.path.join(sim, "counts.npz"))["emulator_logits"]
    expected = {"predictions": res["emulator"]["predictions"], "logits": logits.tolist()}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")


if __name__ == "__main__":
    main()

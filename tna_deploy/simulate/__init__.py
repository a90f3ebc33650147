"""``tna-deploy simulate``: run a netx or ONNX file in the emulator (``engine/``), Lava (``lava/``) or
onnxruntime, beside the PyTorch model, and write the simulation record (``results.py``)."""

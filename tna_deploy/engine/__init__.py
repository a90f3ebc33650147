"""The integer engine every stage shares: the CUBA neuron kernel (``cuba``: one kernel, parameterized by
the SLAYER and Loihi flavors), its fused C++ build (``cuba_ext`` + ``csrc/cuba.cpp``), and the bit-exact
Loihi 2 emulator built on it (``emulator``, with one synapse module per layer kind in ``synapses/``, and
``readout`` for a read-out layer such as SLAYER's average). It imports only the IR: training
(``models/fast.py``), export (the ONNX check) and simulation all sit above it."""

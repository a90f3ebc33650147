"""Layer types a netx file may name that tna-deploy refuses outright, each with its reason (one line)."""

from __future__ import annotations

REFUSED_KINDS = {
    # netx reserves the type (hdf5.py create_concat raises NotImplementedError); lava-dl 0.6.0 has no
    # block that exports it, and a netx file is one chain of layers, each fed by the one before it
    "concat": (
        "type 'concat': no lava-dl block writes it, and a netx file is one chain of layers, where a "
        "concatenation has only one input; tna-deploy runs no concat"
    ),
}

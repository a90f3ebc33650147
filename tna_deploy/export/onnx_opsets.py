"""The ONNX opsets ``export --format onnx --opset`` writes, in one registry: the writer, the CLI's choices
and ``simulate``'s graph check read it. Importing it imports no onnx (the CLI builds its help from it).

Every opset here gives the same graph (the ops the writer uses have one form from opset 13 on), and
each is tested: ``onnx.checker`` passes, onnxruntime computes the emulator's integers, and from opset
19 on so does onnx's own ``ReferenceEvaluator``, which implements ``DequantizeLinear`` from opset 19
only. Hence the default 19: the lowest opset both run. 17 is what tna-deploy wrote before (for older
runtimes); 23 is the newest the pinned onnxruntime (1.23) loads."""

from __future__ import annotations

# opset -> the IR version its files carry: the lowest that admits it (onnx.helper.find_min_ir_version_for)
OPSETS = {17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11}
DEFAULT_OPSET = 19


def opset_problem(opset: int, ops) -> str:
    """'' when a graph of ``ops`` (op type names) can be written at ``opset``, else why not, in one line."""
    if opset not in OPSETS:
        return f"ONNX opset {opset} is not one tna-deploy writes ({', '.join(map(str, OPSETS))})"
    import onnx
    import onnx.defs

    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        return (
            f"ONNX opset {opset} is newer than the installed onnx {onnx.__version__} knows "
            f"(up to {newest})"
        )
    missing = sorted(op for op in set(ops) if not onnx.defs.has(op, opset))
    if missing:
        return f"ONNX opset {opset} has no {', '.join(missing)}, which the graph uses"
    return ""


def reference_gap(opset: int, ops) -> str:
    """'' when onnx's ``ReferenceEvaluator`` implements every op of ``ops`` at ``opset``, else the first
    that it does not, in words (it implements some ops from a later opset only)."""
    from onnx.reference.ops import load_op

    for op in sorted(set(ops)):
        try:
            load_op("", op, opset)
        except RuntimeError:
            return f"onnx's ReferenceEvaluator has no {op} at opset {opset}"
    return ""

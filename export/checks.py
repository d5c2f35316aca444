"""Checks on exported graphs that need no GPU (onnx only, no torch, no TensorRT).

``check_graph(model)`` returns every problem found, as readable lines:

1. ``onnx.checker.check_model(full_check=True)`` (strict shape and type inference).
2. TensorRT's ONNX parser supports every operator, for the data type it runs in
   (``trt_supported_ops.txt``, from onnx-tensorrt's docs/operators.md), plus the
   restrictions that apply to our graphs: UINT8 only as graph input/output, Reduce* axes
   as initializers, Conv weights as initializers, supported Resize modes, and Resize given
   ``sizes`` rather than ``scales`` (docs/architecture.md, "Traps").
3. In a graph with FP16 tensors: every convolution / matrix product runs in FP16, and no
   reduction (means, variances, sums, the norm layers) nor square root / reciprocal (the
   std) runs in FP16, nor any arithmetic feeding a reduction (``x - mean``, its square),
   walking back through reshapes and casts to the data being measured.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto

SUPPORTED_OPS_FILE = Path(__file__).with_name("trt_supported_ops.txt")

_TYPE_NAMES = {
    TensorProto.FLOAT: "FP32",
    TensorProto.FLOAT16: "FP16",
    TensorProto.BFLOAT16: "BF16",
    TensorProto.DOUBLE: "DOUBLE",
    TensorProto.INT32: "INT32",
    TensorProto.INT64: "INT64",
    TensorProto.INT8: "INT8",
    TensorProto.UINT8: "UINT8",
    TensorProto.BOOL: "BOOL",
}
FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16)
LOW_PRECISION = (TensorProto.FLOAT16, TensorProto.BFLOAT16)

REDUCTIONS = {
    "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceProd", "GlobalAveragePool", "GlobalLpPool",
    "InstanceNormalization", "LayerNormalization", "GroupNormalization",
    "MeanVarianceNormalization", "RMSNormalization", "BatchNormalization",
}  # fmt: skip
FP32_ONLY = REDUCTIONS | {"Sqrt", "Reciprocal", "Pow"}
CONVOLUTIONS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
# The chain that feeds a reduction is walked back through arithmetic (which must be FP32:
# that is where a square overflows) and through ops that only move or cast values.
_ARITHMETIC = {"Add", "Sub", "Mul", "Div", "Pow", "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Max", "Min"}
_PASS_THROUGH = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand", "Transpose", "Identity", "Cast"}
_RESIZE_COORDS = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
_RESIZE_NEAREST = {"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}


def load_supported_ops(path: Path = SUPPORTED_OPS_FILE) -> tuple[dict[str, set[str]], dict[str, str]]:
    """({operator: supported type names}, {"tensorrt_version": ..., "opset_range": ...})."""
    ops: dict[str, set[str]] = {}
    info: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if parts[0] in ("tensorrt_version", "opset_range"):
            info[parts[0]] = parts[1]
        else:
            ops[parts[0]] = set(parts[1].split(","))
    return ops, info


def tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor, after ONNX shape inference."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    types = {vi.name: vi.type.tensor_type.elem_type for vi in [*g.value_info, *g.input, *g.output]}
    types.update({t.name: t.data_type for t in g.initializer})
    for node in g.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    types[node.output[0]] = attr.t.data_type
    return types


def _constants(graph: onnx.GraphProto) -> set[str]:
    names = {t.name for t in graph.initializer}
    names.update(n.output[0] for n in graph.node if n.op_type == "Constant")
    return names


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def check_onnx(model: onnx.ModelProto) -> list[str]:
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        return [f"onnx.checker: {str(e).splitlines()[0]}"]
    return []


def check_tensorrt_support(model: onnx.ModelProto, types: dict[str, int] | None = None) -> list[str]:
    ops, info = load_supported_ops()
    types = tensor_types(model) if types is None else types
    graph = model.graph
    constants = _constants(graph)
    io = {i.name for i in graph.input} | {o.name for o in graph.output}
    problems = []
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    low, high = (int(v) for v in info.get("opset_range", "9-24").split("-"))
    if not low <= opsets.get("ai.onnx", 0) <= high:
        problems.append(f"opset {opsets.get('ai.onnx')} outside TensorRT {info.get('tensorrt_version')}'s range {low}-{high}")
    for node in graph.node:
        where = f"{node.op_type} node {node.name or node.output[0]!r}"
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{where}: custom domain {node.domain!r} (needs a TensorRT plugin)")
            continue
        if node.op_type not in ops:
            problems.append(f"{where}: operator not supported by TensorRT's ONNX parser")
            continue
        checked = [node.input[0]] if node.input and node.input[0] else []
        if node.op_type in ("Cast", "CastLike"):
            checked.append(node.output[0])
        for name in checked:
            t = types.get(name)
            if t and _TYPE_NAMES.get(t, str(t)) not in ops[node.op_type]:
                problems.append(f"{where}: {name!r} is {_TYPE_NAMES.get(t, t)}, TensorRT supports {sorted(ops[node.op_type])}")
        for name in [*node.input, *node.output]:
            if types.get(name) == TensorProto.UINT8 and name not in io:
                problems.append(f"{where}: UINT8 tensor {name!r} inside the graph (TensorRT: UINT8 only as network I/O)")
        if node.op_type.startswith("Reduce") and len(node.input) > 1 and node.input[1] and node.input[1] not in constants:
            problems.append(f"{where}: axes {node.input[1]!r} is not an initializer")
        if node.op_type in ("Conv", "ConvTranspose") and node.input[1] not in constants:
            problems.append(f"{where}: weights {node.input[1]!r} are not an initializer")
        if node.op_type == "MaxPool" and (len(node.output) > 1 or any(d != 1 for d in (_attr(node, "dilations") or []))):
            problems.append(f"{where}: Indices output or dilations are unsupported")
        if node.op_type == "Resize":
            problems += _check_resize(node, where)
    return problems


def _check_resize(node: onnx.NodeProto, where: str) -> list[str]:
    problems = []
    mode = _attr(node, "mode", "nearest")
    coords = _attr(node, "coordinate_transformation_mode", "half_pixel")
    nearest = _attr(node, "nearest_mode", "round_prefer_floor")
    if mode not in ("nearest", "linear"):
        problems.append(f"{where}: mode {mode!r} unsupported")
    if coords not in _RESIZE_COORDS:
        problems.append(f"{where}: coordinate_transformation_mode {coords!r} unsupported")
    if mode == "nearest" and nearest not in _RESIZE_NEAREST:
        problems.append(f"{where}: nearest_mode {nearest!r} unsupported")
    if _attr(node, "antialias", 0):
        problems.append(f"{where}: antialiasing unsupported")
    if _attr(node, "keep_aspect_ratio_policy", "stretch") != "stretch":
        problems.append(f"{where}: keep_aspect_ratio_policy must be stretch")
    if len(node.input) < 4 or not node.input[3]:
        problems.append(f"{where}: uses scales, not sizes (TensorRT needs sizes)")
    return problems


def check_fp16(model: onnx.ModelProto, types: dict[str, int] | None = None) -> list[str]:
    """In a mixed-precision graph: convolutions FP16, statistics FP32 (see the module docstring)."""
    types = tensor_types(model) if types is None else types
    graph = model.graph
    if not any(t in LOW_PRECISION for t in types.values()):
        return []
    producer = {o: n for n in graph.node for o in n.output}
    problems = []
    for node in graph.node:
        where = f"{node.op_type} node {node.name or node.output[0]!r}"
        data = node.input[0] if node.input else ""
        if node.op_type in CONVOLUTIONS:
            for name in node.input[:2]:
                if types.get(name) not in LOW_PRECISION:
                    problems.append(f"{where}: convolution input {name!r} is not FP16")
        if node.op_type in FP32_ONLY and types.get(data) in FLOAT_TYPES:
            if types[data] != TensorProto.FLOAT:
                problems.append(f"{where}: runs in FP16 (statistics must be FP32)")
            if node.op_type in REDUCTIONS:
                problems += _walk_back(data, producer, types, where)
    return problems


def _walk_back(name: str, producer: dict[str, onnx.NodeProto], types: dict[str, int], where: str) -> list[str]:
    """No FP16 arithmetic on the way into a reduction, casts included (a square computed in
    FP16 and cast to FP32 afterwards has already overflowed). The walk stops at anything
    else (a convolution, an activation): that is the data being measured."""
    problems, todo, seen = [], [name], set()
    while todo:
        t = todo.pop()
        if t in seen or t not in producer:
            continue
        seen.add(t)
        node = producer[t]
        if node.op_type in _ARITHMETIC and types.get(t) in LOW_PRECISION:
            problems.append(f"{where}: FP16 {node.op_type} output {t!r} feeds the reduction")
        if node.op_type in _ARITHMETIC or node.op_type in _PASS_THROUGH:
            todo += [i for i in node.input if i and types.get(i) in FLOAT_TYPES]
    return problems


def check_graph(model: onnx.ModelProto) -> list[str]:
    """All checks; an empty list means the graph passed."""
    problems = check_onnx(model)
    types = tensor_types(model)
    return problems + check_tensorrt_support(model, types) + check_fp16(model, types)

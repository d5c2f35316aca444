"""Small, explicit rewrites of exported ONNX graphs (onnx only, no torch).

- ``resize_scales_to_sizes``: every ``Resize`` with constant integer ``scales`` gets
  ``sizes = Shape(X) * scales`` instead (docs/architecture.md, "Traps").
- ``wrap_frames_uint8_nhwc``: frames in and out as uint8 NHWC RGB, the conversion inside
  the graph, so the host only copies bytes (see export/README.md for the measurement).
- ``expose``: add an internal tensor as an extra graph output (tests compare the float core).
- metadata helpers and a size / node-count summary.
"""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Internal names of the float NCHW core inside a uint8-wrapped stylizer graph.
FLOAT_FRAMES = "frames_float_nchw"
FLOAT_STYLIZED = "stylized_float_nchw"


def _all_names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {o.name for o in graph.output} | {t.name for t in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
        names.add(node.name)
    return names


class _Namer:
    def __init__(self, graph: onnx.GraphProto) -> None:
        self.taken = _all_names(graph)

    def __call__(self, base: str) -> str:
        name, i = base, 0
        while name in self.taken:
            i += 1
            name = f"{base}_{i}"
        self.taken.add(name)
        return name


def constant_value(graph: onnx.GraphProto, name: str) -> np.ndarray | None:
    """The value of an initializer or ``Constant`` node output, else None."""
    for t in graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
    return None


def resize_scales_to_sizes(model: onnx.ModelProto) -> int:
    """Rewrite constant-integer-``scales`` Resize nodes to ``sizes`` (in place); returns how many."""
    graph = model.graph
    namer = _Namer(graph)
    nodes: list[onnx.NodeProto] = []
    changed = 0
    for node in graph.node:
        inputs = list(node.input)
        has_scales = node.op_type == "Resize" and len(inputs) >= 3 and inputs[2] and (len(inputs) < 4 or not inputs[3])
        scales = constant_value(graph, inputs[2]) if has_scales else None
        if scales is None or not np.all(scales == np.round(scales)) or not np.all(scales >= 1):
            nodes.append(node)
            continue
        shape = namer(f"{node.name or inputs[0]}_in_shape")
        factors = namer(f"{node.name or inputs[0]}_int_scales")
        sizes = namer(f"{node.name or inputs[0]}_sizes")
        graph.initializer.append(numpy_helper.from_array(scales.astype(np.int64), factors))
        nodes.append(helper.make_node("Shape", [inputs[0]], [shape], name=namer("resize_shape")))
        nodes.append(helper.make_node("Mul", [shape, factors], [sizes], name=namer("resize_sizes")))
        del node.input[:]
        node.input.extend([inputs[0], "", "", sizes])
        nodes.append(node)
        changed += 1
    del graph.node[:]
    graph.node.extend(nodes)
    remove_unused_initializers(model)
    return changed


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The graphs held by a node's attributes (the branches of ``If``, the body of ``Loop``)."""
    graphs = []
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            graphs.append(attr.g)
        elif attr.type == onnx.AttributeProto.GRAPHS:
            graphs.extend(attr.graphs)
    return graphs


def _used_names(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name a node of ``graph`` or of its subgraphs reads (subgraphs may read
    the outer graph's tensors and initializers by name)."""
    used = set()
    for node in graph.node:
        used.update(node.input)
        for sub in _subgraphs(node):
            used |= _used_names(sub)
    return used


def remove_unused_initializers(model: onnx.ModelProto) -> None:
    graph = model.graph
    used = _used_names(graph) | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    if len(keep) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(keep)


def set_dims(model: onnx.ModelProto, name: str, dims: list[str | int]) -> None:
    """Name the dimensions of graph input or output ``name`` (in place)."""
    for vi in [*model.graph.input, *model.graph.output]:
        if vi.name == name:
            shape = vi.type.tensor_type.shape
            del shape.dim[:]
            for d in dims:
                shape.dim.add().CopyFrom(onnx.TensorShapeProto.Dimension(dim_param=d) if isinstance(d, str) else onnx.TensorShapeProto.Dimension(dim_value=d))


def _dims(value_info: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def _rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename a tensor wherever it is read or written, subgraphs included."""
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for sub in _subgraphs(node):
            _rename_tensor(sub, old, new)
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
    for vi in graph.value_info:
        if vi.name == old:
            vi.name = new


def wrap_frames_uint8_nhwc(model: onnx.ModelProto, frames: str = "frames", output: str = "stylized") -> onnx.ModelProto:
    """A copy of ``model`` whose float NCHW [0,1] ``frames``/``output`` become uint8 NHWC [0,255].

    In: Cast(uint8 -> float32) -> Transpose(NHWC -> NCHW) -> / 255. Out: Clip(0, 1) -> * 255 ->
    Round (half to even) -> Transpose(NCHW -> NHWC) -> Cast(uint8). Casts sit directly at the
    graph's inputs and outputs because TensorRT takes UINT8 only as network I/O.
    """
    model = copy.deepcopy(model)
    graph = model.graph
    src_in = next(i for i in graph.input if i.name == frames)
    src_out = next(o for o in graph.output if o.name == output)
    n, c, h, w = _dims(src_in)
    on, oc, oh, ow = _dims(src_out)
    if c != 3 or oc != 3:
        raise ValueError(f"expected 3-channel NCHW {frames!r} -> {output!r}, got {_dims(src_in)} -> {_dims(src_out)}")
    _rename_tensor(graph, frames, FLOAT_FRAMES)
    _rename_tensor(graph, output, FLOAT_STYLIZED)

    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(255.0, np.float32), "k_255"),
            numpy_helper.from_array(np.array(0.0, np.float32), "k_0"),
            numpy_helper.from_array(np.array(1.0, np.float32), "k_1"),
        ]
    )
    pre = [
        helper.make_node("Cast", [frames], ["frames_f32_nhwc"], to=TensorProto.FLOAT, name="frames_to_float"),
        helper.make_node("Transpose", ["frames_f32_nhwc"], ["frames_f32_nchw"], perm=[0, 3, 1, 2], name="frames_to_nchw"),
        helper.make_node("Div", ["frames_f32_nchw", "k_255"], [FLOAT_FRAMES], name="frames_to_unit"),
    ]
    post = [
        helper.make_node("Clip", [FLOAT_STYLIZED, "k_0", "k_1"], ["stylized_clipped"], name="stylized_clip"),
        helper.make_node("Mul", ["stylized_clipped", "k_255"], ["stylized_255"], name="stylized_scale"),
        helper.make_node("Round", ["stylized_255"], ["stylized_rounded"], name="stylized_round"),
        helper.make_node("Transpose", ["stylized_rounded"], ["stylized_nhwc"], perm=[0, 2, 3, 1], name="stylized_to_nhwc"),
        helper.make_node("Cast", ["stylized_nhwc"], [output], to=TensorProto.UINT8, name="stylized_to_uint8"),
    ]
    nodes = pre + list(graph.node) + post
    del graph.node[:]
    graph.node.extend(nodes)

    new_in = helper.make_tensor_value_info(frames, TensorProto.UINT8, [n, h, w, 3])
    new_out = helper.make_tensor_value_info(output, TensorProto.UINT8, [on, oh, ow, 3])
    inputs = [new_in if i.name == frames else i for i in graph.input]
    outputs = [new_out if o.name == output else o for o in graph.output]
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.output[:]
    graph.output.extend(outputs)
    return model


def expose(model: onnx.ModelProto, tensor: str, elem_type: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """A copy of ``model`` with the internal ``tensor`` as an extra output (for comparisons)."""
    model = copy.deepcopy(model)
    model.graph.output.append(helper.make_tensor_value_info(tensor, elem_type, None))
    return model


def set_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    helper.set_model_props(model, {k: str(v) for k, v in props.items()})


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def summary(model: onnx.ModelProto) -> dict[str, object]:
    """Node count, operator histogram, parameter count and bytes of the initializers."""
    ops = Counter(n.op_type for n in model.graph.node)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    weight_bytes = sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)
    return {"nodes": len(model.graph.node), "ops": dict(sorted(ops.items())), "params": params, "weight_bytes": weight_bytes}

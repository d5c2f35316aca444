"""Read Magenta's arbitrary-stylisation ``.tflite`` files into state dicts (numpy only).

How the file is read
--------------------
A ``.tflite`` file is a FlatBuffer with the schema of TensorFlow Lite. ``ai-edge-litert``
(Google's maintained successor of ``tflite-runtime``, which we already need for the parity
tests) ships the flatc-generated Python reader of that schema as
``ai_edge_litert.schema_py_generated``; it only needs the ``flatbuffers`` package (a
dependency of ``ai-edge-litert``). We use that reader rather than the interpreter's tensor
access, because:

- the interpreter hides the graph (which op consumes what, strides, padding, activation),
  which we need both to map weights onto the PyTorch modules and to refuse graphs whose
  semantics differ from ``model.py``;
- the interpreter may drop or fold constant tensors (the FP16 file stores weights as FP16
  constants behind ``DEQUANTIZE`` ops that XNNPACK folds away).

No TensorFlow and no interpreter are involved: this module imports only numpy and the schema
reader; torch is not imported either (``model.load_pretrained`` builds the modules).

What is done with it
--------------------
1. The file is checked to be a TFLite flatbuffer (``TFL3`` identifier), not empty.
2. The graph is recognised as ``magenta_predictor`` (MobileNetV2 style predictor,
   ``style_image`` -> ``mobilenet_conv/Conv/BiasAdd``) or ``magenta_transformer``
   (``content_image`` + bottleneck -> ``transformer/expand/conv3/conv/Sigmoid``).
3. Constant weights are dequantised to float32: FP16 constants (behind ``DEQUANTIZE``),
   int8 weights with per-channel scales / zero points on their ``quantized_dimension``, int32
   biases with their own per-channel scales. Fully-quantised (int8 activation) graphs are
   read the same way; only their weights are used.
4. Every ``CONV_2D`` / ``DEPTHWISE_CONV_2D`` is mapped onto a state-dict key from the name
   of its weight tensor (biases are taken from the op's third input, not by name: the
   converter de-duplicates identical buffers, e.g. the all-zero residual biases all carry the
   name of one of them). Conditional-instance-norm parameters are told apart by use: the
   1x1 conv on the style vector whose output feeds a ``MUL`` is ``gamma``, the one feeding a
   ``SUB`` is ``beta``. Layouts are transposed: conv OHWI -> OIHW, depthwise 1HWC -> C1HW,
   1x1 conv / fully-connected on the style vector -> ``nn.Linear`` [out, in].
5. The op attributes that ``model.py`` hard-codes are checked (stride, SAME/VALID padding,
   fused activation, reflect mirror padding, nearest resize without align_corners /
   half-pixel centres), then keys and shapes are checked against ``layout.py``.

Anything the user can fix (wrong file, truncated file, other graph) raises
``runtime.errors.UserError`` with a one-line message.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylize.runtime.errors import UserError
from stylize.training.magenta.layout import LAYOUTS, STYLE_DIM, mobilenet_v2_blocks

PREDICTOR = "magenta_predictor"
TRANSFORMER = "magenta_transformer"

_TFLITE_IDENTIFIER = b"TFL3"


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise UserError(
            "reading .tflite files needs the 'ai-edge-litert' package (pip install 'stylize[tflite]')"
        ) from exc
    return schema


# ----------------------------------------------------------------------------- parsing


@dataclass
class _Op:
    index: int
    kind: str
    inputs: list[int]
    outputs: list[int]
    options: object | None


class _Graph:
    """The first subgraph of a TFLite model, with constants resolved through DEQUANTIZE."""

    def __init__(self, path: Path, data: bytes) -> None:
        schema = _schema()
        self.path = path
        try:
            model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
        except Exception as exc:  # flatbuffers raises assorted errors on corrupt input
            detail = " ".join(str(exc).split())[:120]
            raise UserError(f"{path}: corrupt or truncated TFLite file ({type(exc).__name__}: {detail})") from exc
        if not model.subgraphs:
            raise UserError(f"{path}: TFLite file has no subgraph")
        self.model = model
        self.raw = data
        self.graph = model.subgraphs[0]
        self.tensors = self.graph.tensors or []
        self.type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
        op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        self.ops: list[_Op] = []
        for i, op in enumerate(self.graph.operators or []):
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            kind = op_names.get(builtin, f"OP_{builtin}")
            ins = [int(t) for t in (op.inputs if op.inputs is not None else [])]
            outs = [int(t) for t in (op.outputs if op.outputs is not None else [])]
            self.ops.append(_Op(i, kind, ins, outs, op.builtinOptions))
        self.inputs = [int(t) for t in (self.graph.inputs if self.graph.inputs is not None else [])]
        self.outputs = [int(t) for t in (self.graph.outputs if self.graph.outputs is not None else [])]
        # tensor produced by DEQUANTIZE of a constant (FP16 weights) -> that constant
        self.alias: dict[int, int] = {}
        for op in self.ops:
            if op.kind == "DEQUANTIZE" and op.inputs and self._is_const(op.inputs[0]):
                self.alias[op.outputs[0]] = op.inputs[0]
        self.producer: dict[int, _Op] = {t: op for op in self.ops for t in op.outputs}
        self.consumers: dict[int, list[_Op]] = {}
        for op in self.ops:
            for t in op.inputs:
                self.consumers.setdefault(t, []).append(op)

    # -- tensors
    def name(self, t: int) -> str:
        t = self.alias.get(t, t)
        raw = self.tensors[t].name
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")

    def shape(self, t: int) -> tuple[int, ...]:
        shape = self.tensors[t].shape
        return tuple(int(s) for s in shape) if shape is not None else ()

    def _buffer_bytes(self, t: int) -> bytes | None:
        buf = self.model.buffers[self.tensors[t].buffer]
        if buf.data is not None and len(buf.data):
            return np.asarray(buf.data, dtype=np.uint8).tobytes()
        if buf.offset and buf.offset > 1 and buf.size:  # data stored after the flatbuffer (large models)
            return self.raw[buf.offset : buf.offset + buf.size]
        return None

    def _is_const(self, t: int) -> bool:
        return 0 <= t < len(self.tensors) and self._buffer_bytes(t) is not None

    def const(self, t: int) -> np.ndarray:
        """The float32 value of constant tensor ``t`` (through DEQUANTIZE, dequantised)."""
        t = self.alias.get(t, t)
        tensor = self.tensors[t]
        data = self._buffer_bytes(t)
        if data is None:
            raise UserError(f"{self.path}: tensor '{self.name(t)}' is not a constant")
        type_name = self.type_names.get(tensor.type, str(tensor.type))
        dtypes = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT8": np.int8, "UINT8": np.uint8, "INT32": np.int32}
        if type_name not in dtypes:
            raise UserError(f"{self.path}: tensor '{self.name(t)}' has unsupported type {type_name}")
        shape = self.shape(t)
        try:
            value = np.frombuffer(data, dtype=dtypes[type_name]).reshape(shape)
        except ValueError as exc:
            raise UserError(f"{self.path}: tensor '{self.name(t)}' has {len(data)} bytes for shape {shape}") from exc
        if type_name in ("FLOAT32", "FLOAT16"):
            return value.astype(np.float32)
        q = tensor.quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            raise UserError(f"{self.path}: integer tensor '{self.name(t)}' has no quantisation scale")
        scale = np.asarray(q.scale, dtype=np.float64)
        zero = np.asarray(q.zeroPoint if q.zeroPoint is not None else [0], dtype=np.float64)
        if zero.size == 1 and scale.size > 1:
            zero = np.full_like(scale, zero.item())
        if scale.size > 1:  # per-channel
            axis = int(q.quantizedDimension)
            if not (0 <= axis < value.ndim) or value.shape[axis] != scale.size:
                raise UserError(f"{self.path}: tensor '{self.name(t)}' has {scale.size} scales on axis {axis} of {shape}")
            bshape = [1] * value.ndim
            bshape[axis] = scale.size
            scale, zero = scale.reshape(bshape), zero.reshape(bshape)
        return ((value.astype(np.float64) - zero) * scale).astype(np.float32)

    def origin(self, t: int) -> int:
        """The tensor ``t`` was (de)quantised from, followed back to its source."""
        seen = 0
        while t in self.producer and self.producer[t].kind in ("QUANTIZE", "DEQUANTIZE") and seen < 8:
            t = self.producer[t].inputs[0]
            seen += 1
        return t

    def consumer_kinds(self, t: int) -> set[str]:
        """Kinds of the ops that use ``t``, looking through (de)quantisation ops."""
        kinds: set[str] = set()
        for op in self.consumers.get(t, []):
            if op.kind in ("QUANTIZE", "DEQUANTIZE"):
                kinds |= self.consumer_kinds(op.outputs[0])
            else:
                kinds.add(op.kind)
        return kinds


# ----------------------------------------------------------------------------- recognition

_ACT = {0: "NONE", 1: "RELU", 3: "RELU6"}
_PAD = {0: "SAME", 1: "VALID"}


def _recognise(g: _Graph) -> str:
    names = [g.name(i) for i in range(len(g.tensors))]
    in_names = [g.name(t) for t in g.inputs]
    out_names = [g.name(t) for t in g.outputs]
    if (
        len(g.inputs) == 1
        and len(g.outputs) == 1
        and any(n.startswith("MobilenetV2/Conv/") for n in names)
        and out_names[0].startswith("mobilenet_conv/Conv/BiasAdd")
    ):
        return PREDICTOR
    if (
        len(g.inputs) == 2
        and len(g.outputs) == 1
        and any(n.startswith("transformer/contract/") for n in names)
        and any(n.startswith("style_params/transformer/") for n in names)
        and out_names[0].startswith("transformer/expand/conv3/conv/Sigmoid")
    ):
        return TRANSFORMER
    raise UserError(
        f"{g.path}: not a Magenta arbitrary-stylization graph (inputs {in_names}, outputs {out_names}); "
        "expected the style predictor or the style transformer .tflite"
    )


# ----------------------------------------------------------------------------- mapping


def _conv_weight(g: _Graph, op: _Op) -> np.ndarray:
    w = g.const(op.inputs[1])
    if op.kind == "CONV_2D":  # OHWI -> OIHW
        if w.ndim != 4:
            raise UserError(f"{g.path}: conv weight '{g.name(op.inputs[1])}' has shape {w.shape}")
        return np.ascontiguousarray(w.transpose(0, 3, 1, 2))
    if op.kind == "DEPTHWISE_CONV_2D":  # 1HW(C*M) -> (C*M)1HW
        if w.ndim != 4 or w.shape[0] != 1 or getattr(op.options, "depthMultiplier", 1) not in (0, 1):
            raise UserError(f"{g.path}: unsupported depthwise weight '{g.name(op.inputs[1])}' {w.shape}")
        return np.ascontiguousarray(w.transpose(3, 0, 1, 2))
    if op.kind == "FULLY_CONNECTED":  # [out, in]
        return np.ascontiguousarray(w)
    raise AssertionError(op.kind)


def _layer_key(patterns, wname: str, path: object, what: str) -> str:  # noqa: ANN001
    """The state-dict prefix for a TFLite weight name, by the first pattern that matches."""
    for pattern, make in patterns:
        m = pattern.match(wname)
        if m:
            return make(m)
    raise UserError(f"{path}: unexpected layer '{wname}' in the {what} graph")


def _conv_bias(g: _Graph, op: _Op, out_channels: int) -> np.ndarray:
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = g.const(op.inputs[2]).reshape(-1)
    else:
        b = np.zeros(out_channels, np.float32)
    return np.ascontiguousarray(b)


def _attrs(op: _Op) -> tuple[str, int, str]:
    o = op.options
    if op.kind == "FULLY_CONNECTED":
        return ("VALID", 1, _ACT.get(getattr(o, "fusedActivationFunction", 0), "?"))
    stride = int(getattr(o, "strideH", 1))
    if int(getattr(o, "strideW", 1)) != stride or int(getattr(o, "dilationHFactor", 1)) != 1 or int(getattr(o, "dilationWFactor", 1)) != 1:
        return ("?", -1, "?")
    return (_PAD.get(getattr(o, "padding", -1), "?"), stride, _ACT.get(getattr(o, "fusedActivationFunction", -1), "?"))


def _expected_predictor_attrs() -> dict[str, tuple[str, int, str]]:
    spec = {"stem": ("SAME", 2, "RELU6"), "head": ("SAME", 1, "RELU6")}
    for i, (cin, hidden, _cout, stride) in enumerate(mobilenet_v2_blocks()):
        if hidden != cin:
            spec[f"blocks.{i}.expand"] = ("SAME", 1, "RELU6")
        spec[f"blocks.{i}.depthwise"] = ("SAME", stride, "RELU6")
        spec[f"blocks.{i}.project"] = ("SAME", 1, "NONE")
    return spec


def _expected_transformer_attrs() -> dict[str, tuple[str, int, str]]:
    spec = {
        "contract.conv1": ("VALID", 1, "RELU"),
        "contract.conv2": ("VALID", 2, "RELU"),
        "contract.conv3": ("VALID", 2, "RELU"),
    }
    for r in range(1, 6):
        for c in ("conv1", "conv2"):
            spec[f"residual.residual{r}.{c}"] = ("VALID", 1, "NONE")
    for c in ("conv1", "conv2", "conv3"):
        spec[f"expand.{c}"] = ("VALID", 1, "NONE")
    return spec


_PRED_PATTERNS = [
    (re.compile(r"^MobilenetV2/Conv/weights"), lambda m: "stem"),
    (re.compile(r"^MobilenetV2/Conv_1/weights"), lambda m: "head"),
    (
        re.compile(r"^MobilenetV2/expanded_conv(?:_(\d+))?/(expand|depthwise|project)/(?:depthwise_)?weights"),
        lambda m: f"blocks.{int(m.group(1) or 0)}.{m.group(2)}",
    ),
]
_TRANS_PATTERNS = [
    (re.compile(r"^transformer/contract/(conv\d)/weights"), lambda m: f"contract.{m.group(1)}"),
    (re.compile(r"^transformer/residual/(residual\d)/(conv\d)/weights"), lambda m: f"residual.{m.group(1)}.{m.group(2)}"),
    (re.compile(r"^transformer/expand/(conv\d)/conv/weights"), lambda m: f"expand.{m.group(1)}"),
]
_STYLE_PATTERNS = [
    re.compile(r"^style_params/transformer/residual/(residual\d)/(conv\d)/StyleNorm/"),
    re.compile(r"^style_params/transformer/expand/(conv\d)/conv/StyleNorm/"),
]


def _map_predictor(g: _Graph) -> dict[str, np.ndarray]:
    state: dict[str, np.ndarray] = {}
    expected = _expected_predictor_attrs()
    for op in g.ops:
        if op.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        wname = g.name(op.inputs[1])
        if wname.startswith("mobilenet_conv/"):
            w = g.const(op.inputs[1])
            w = w.reshape(w.shape[0], -1)  # [100,1,1,1280] 1x1 conv on the pooled features -> Linear
            state["bottleneck.weight"] = np.ascontiguousarray(w)
            state["bottleneck.bias"] = _conv_bias(g, op, w.shape[0])
            continue
        key = _layer_key(_PRED_PATTERNS, wname, g.path, "style predictor")
        if key in expected and _attrs(op) != expected[key]:
            raise UserError(f"{g.path}: layer '{wname}' has (padding, stride, activation) {_attrs(op)}, expected {expected[key]}")
        w = _conv_weight(g, op)
        state[f"{key}.weight"] = w
        state[f"{key}.bias"] = _conv_bias(g, op, w.shape[0])
    # the pooled features are a spatial MEAN (global average pool)
    if not any(op.kind == "MEAN" for op in g.ops):
        raise UserError(f"{g.path}: style predictor graph has no global average pool")
    return state


def _map_transformer(g: _Graph) -> dict[str, np.ndarray]:
    state: dict[str, np.ndarray] = {}
    expected = _expected_transformer_attrs()
    style_input = g.inputs[1] if len(g.inputs) > 1 else -1
    for op in g.ops:
        if op.kind == "MIRROR_PAD":
            mode = int(getattr(op.options, "mode", 0))
            if mode != 0:  # REFLECT = 0, SYMMETRIC = 1
                raise UserError(f"{g.path}: MIRROR_PAD '{g.name(op.outputs[0])}' is SYMMETRIC; model.py implements REFLECT")
        elif op.kind.startswith("RESIZE"):
            o = op.options
            if op.kind != "RESIZE_NEAREST_NEIGHBOR" or getattr(o, "alignCorners", False) or getattr(o, "halfPixelCenters", False):
                raise UserError(f"{g.path}: resize '{g.name(op.outputs[0])}' is not plain nearest-neighbour")
        if op.kind not in ("CONV_2D", "FULLY_CONNECTED"):
            continue
        wname = g.name(op.inputs[1])
        style_match = None
        for pattern in _STYLE_PATTERNS:
            style_match = pattern.match(wname)
            if style_match:
                break
        if style_match:
            groups = style_match.groups()
            layer = f"residual.{groups[0]}.{groups[1]}" if len(groups) == 2 else f"expand.{groups[0]}"
            kinds = g.consumer_kinds(op.outputs[0])
            if "MUL" in kinds and "SUB" not in kinds:
                role = "gamma"
            elif "SUB" in kinds and "MUL" not in kinds:
                role = "beta"
            else:
                raise UserError(f"{g.path}: cannot tell gamma from beta for '{wname}' (used by {sorted(kinds)})")
            if g.origin(op.inputs[0]) != style_input:
                raise UserError(f"{g.path}: style parameter layer '{wname}' does not read the style vector input")
            w = g.const(op.inputs[1])
            w = w.reshape(w.shape[0], -1)  # [C,1,1,100] -> Linear [C,100]
            if f"{layer}.{role}.weight" in state:
                raise UserError(f"{g.path}: two '{role}' layers for '{layer}'")
            state[f"{layer}.{role}.weight"] = np.ascontiguousarray(w)
            state[f"{layer}.{role}.bias"] = _conv_bias(g, op, w.shape[0])
            continue
        key = _layer_key(_TRANS_PATTERNS, wname, g.path, "style transformer")
        if key in expected and _attrs(op) != expected[key]:
            raise UserError(f"{g.path}: layer '{wname}' has (padding, stride, activation) {_attrs(op)}, expected {expected[key]}")
        w = _conv_weight(g, op)
        state[f"{key}.conv.weight"] = w
        state[f"{key}.conv.bias"] = _conv_bias(g, op, w.shape[0])
    # instance-norm epsilon: model.py uses 1e-5 (stored as 1.0014e-5 in the FP16 file)
    return state


def check_layout(state: dict[str, np.ndarray], layout_name: str, source: str = "weights") -> None:
    """Raise ``UserError`` unless ``state`` has exactly the keys and shapes of ``layout_name``."""
    layout = LAYOUTS[layout_name]
    missing = [k for k in layout if k not in state]
    extra = [k for k in state if k not in layout]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (first: {missing[0]})")
        if extra:
            parts.append(f"unexpected {len(extra)} (first: {extra[0]})")
        raise UserError(f"{source}: does not match the {layout_name} layout: " + ", ".join(parts))
    for key, shape in layout.items():
        if tuple(state[key].shape) != tuple(shape):
            raise UserError(f"{source}: '{key}' has shape {tuple(state[key].shape)}, the {layout_name} layout wants {tuple(shape)}")
        if not np.all(np.isfinite(state[key])):
            raise UserError(f"{source}: '{key}' holds non-finite values")


def read_tflite(path: str | os.PathLike[str]) -> tuple[str, dict[str, np.ndarray]]:
    """Read a Magenta ``.tflite`` file: ``(layout name, {state-dict key: float32 array})``.

    The layout name is ``"magenta_predictor"`` or ``"magenta_transformer"``; the dict loads
    with ``strict=True`` into ``model.StylePredictor`` / ``model.Transformer`` (use
    ``torch.from_numpy``). Raises ``UserError`` for a missing, empty, non-TFLite or
    truncated file and for a TFLite graph that is not one of the two Magenta graphs.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such file: {p}")
    data = p.read_bytes()
    if not data:
        raise UserError(f"{p}: empty file, expected a .tflite model")
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        raise UserError(f"{p}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    g = _Graph(p, data)
    try:
        kind = _recognise(g)
        state = _map_predictor(g) if kind == PREDICTOR else _map_transformer(g)
    except UserError:
        raise
    except (IndexError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise UserError(f"{p}: malformed TFLite graph ({type(exc).__name__}: {exc})") from exc
    check_layout(state, kind, str(p))
    if kind == PREDICTOR:
        style_out = g.shape(g.outputs[0])
        if style_out and style_out[-1] != STYLE_DIM:
            raise UserError(f"{p}: style vector has {style_out[-1]} values, expected {STYLE_DIM}")
    return kind, state

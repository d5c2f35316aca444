"""Export a model family's graphs to ONNX: ``style_encoder.onnx`` and ``stylizer.onnx``, and
for tiled stills ``norm_stats.onnx`` and ``stylize_tiled.onnx`` (``export.graphs``).

    graphs = export_graphs(stylizer_module, "adain", precision="fp16", weights=WeightsIdentity.random("adain"))
    paths = save_graphs(graphs, folder)

Steps, the same for every family:
1. ``torch.onnx.export`` (dynamo) of ``export.graphs.StyleEncoderGraph`` / ``StylizerGraph``
   with dynamic batch, height and width, opset ``OPSET``.
2. ``Resize`` gets ``sizes`` instead of ``scales`` (``onnx_passes.resize_scales_to_sizes``).
3. The stylizer gets uint8 NHWC frame I/O (``onnx_passes.wrap_frames_uint8_nhwc``) unless
   ``frames="float-nchw"``; see export/README.md for the measurement behind that choice.
4. ``metadata_props`` (``METADATA_KEYS``) and the checks of ``export.checks``; a graph that
   fails a check is not written.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import torch
from torch import nn

from stylize.export import checks, onnx_passes
from stylize.export.graphs import graph_modules, tile_graph_modules
from stylize.runtime.backends import TILE_GRAPHS
from stylize.runtime.errors import UserError
from stylize.runtime.files import atomic_output
from stylize.runtime.models import FAMILIES, ModelWeights
from stylize.runtime.store import Store, make_folder, record_graph_digest, sha256_file

OPSET = 18  # TensorRT 10.0 parses opsets 9-20, 10.15 9-24; ONNX Runtime >= 1.14 runs 18
FRAME_FORMATS = ("uint8-nhwc", "float-nchw")
DEFAULT_FRAMES = "uint8-nhwc"
MIN_SIDE, MAX_SIDE, MAX_BATCH = 16, 8192, 256
# Example sizes for tracing: neither 0, 1, nor divisible by 8, nor the magenta predictor's 256.
_EXAMPLE = {"batch": 2, "height": 67, "width": 93}

METADATA_KEYS = (
    "family", "graph", "model_id", "weights_sha256", "precision",
    "input_layout", "input_dtype", "value_range", "colour_order",
    "output_layout", "output_dtype", "output_value_range", "style_vector_shape",
    "shape_rule", "opset", "exporter",
)  # fmt: skip


@dataclass(frozen=True)
class WeightsIdentity:
    """Which weights a graph was exported from: written into its metadata."""

    family: str
    model_id: str
    role_sha256: dict[str, str] = field(default_factory=dict)  # empty: random weights

    @classmethod
    def of(cls, weights: ModelWeights) -> WeightsIdentity:
        return cls(weights.family, weights.model_id, {role: r.sha256 for role, r in sorted(weights.records.items())})

    @classmethod
    def random(cls, family: str) -> WeightsIdentity:
        return cls(family, f"{family}-random")

    @property
    def sha256_text(self) -> str:
        if not self.role_sha256:
            return "random"
        return ";".join(f"{role}={sha}" for role, sha in sorted(self.role_sha256.items()))


@dataclass
class ExportedGraphs:
    family: str
    precision: str
    frames: str
    models: dict[str, onnx.ModelProto]  # "style_encoder", "stylizer", "norm_stats", "stylize_tiled"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress lines and torchvision warnings are noise here."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _torch_export(module: nn.Module, args: tuple[torch.Tensor, ...], input_names: list[str], output_name: str, dynamic: dict) -> onnx.ModelProto:
    from torch.export import Dim

    dims = {
        "batch": Dim("batch", min=1, max=MAX_BATCH),
        "height": Dim("height", min=MIN_SIDE, max=MAX_SIDE),
        "width": Dim("width", min=MIN_SIDE, max=MAX_SIDE),
    }
    shapes = {name: ({axis: dims[d] for axis, d in dynamic[name].items()} if name in dynamic else None) for name in input_names}
    with _quiet(), torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(
            module,
            args,
            input_names=input_names,
            output_names=[output_name],
            dynamic_shapes=shapes,
            dynamo=True,
            opset_version=OPSET,
            optimize=True,
            verbose=False,
        )
    return program.model_proto


def _exporter_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    import onnxscript

    try:
        ours = version("stylize")
    except PackageNotFoundError:  # running from a checkout that is not installed
        ours = "unknown"
    return f"torch {torch.__version__} (torch.onnx dynamo), onnxscript {onnxscript.__version__}, onnx {onnx.__version__}, stylize {ours}"


def _metadata(graph: str, weights: WeightsIdentity, precision: str, frames: str, stats_size: int = 0) -> dict[str, str]:
    vec = ",".join(["N", *(str(d) for d in FAMILIES[weights.family].style_vector_shape)])
    common = {
        "family": weights.family,
        "graph": graph,
        "model_id": weights.model_id,
        "weights_sha256": weights.sha256_text,
        **{f"weights_sha256.{role}": sha for role, sha in sorted(weights.role_sha256.items())},
        "precision": precision,
        "colour_order": "RGB",
        "style_vector_shape": vec,
        "opset": str(OPSET),
        "exporter": _exporter_version(),
    }
    float_in = {"input_layout": "NCHW", "input_dtype": "float32", "value_range": "0..1"}
    float_frames = {**float_in, "output_layout": "NCHW", "output_dtype": "float32", "output_value_range": "0..1 nominal, not clipped"}
    if graph in TILE_GRAPHS:
        stats = {"stats_size": str(stats_size)}
        if graph == "norm_stats":
            io = {
                **float_in,
                "output_layout": "normalisation statistics",
                "output_dtype": "float32",
                "output_value_range": "unbounded",
                "shape_rule": f"content batch 1, H, W >= {MIN_SIDE} (the whole picture, reduced); stats [1, {stats_size}]",
            }
        else:
            io = {**float_frames, "shape_rule": f"output N x H x W = input N x H x W (tiles); style_vector batch 1; stats [1, {stats_size}] from norm_stats"}
        return {**common, **io, **stats}
    if graph == "style_encoder":
        io = {**float_in, "output_layout": "style vector", "output_dtype": "float32", "output_value_range": "unbounded", "shape_rule": f"any N; H, W >= {MIN_SIDE}"}
    elif frames == "uint8-nhwc":
        io = {
            "input_layout": "NHWC",
            "input_dtype": "uint8",
            "value_range": "0..255",
            "output_layout": "NHWC",
            "output_dtype": "uint8",
            "output_value_range": "0..255 (clipped, rounded half to even)",
            "shape_rule": "output N x H x W = input N x H x W (network output cropped); style_vector batch 1",
        }
    else:
        io = {**float_frames, "shape_rule": "output N x H x W = input N x H x W (network output cropped); style_vector batch 1"}
    return {**common, **io}


def export_graphs(
    stylizer: nn.Module,
    family: str,
    *,
    weights: WeightsIdentity,
    precision: str = "fp32",
    frames: str = DEFAULT_FRAMES,
    check: bool = True,
) -> ExportedGraphs:
    """The graphs of ``stylizer`` (a family's module, ``training.models.build_stylizer``):
    both of every frame path, and the two of tiled stills (``TILE_GRAPHS``)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}")
    if frames not in FRAME_FORMATS:
        raise ValueError(f"unknown frame format {frames!r}: choose one of {', '.join(FRAME_FORMATS)}")
    encoder, stylizer_graph = graph_modules(stylizer, precision)
    b, h, w = _EXAMPLE["batch"], _EXAMPLE["height"], _EXAMPLE["width"]
    vec_shape = (1, *FAMILIES[family].style_vector_shape)
    dynamic = {"batch": "batch", "height": "height", "width": "width"}
    nchw = {0: dynamic["batch"], 2: dynamic["height"], 3: dynamic["width"]}

    models = {
        "style_encoder": _torch_export(encoder, (torch.rand(b, 3, h - 6, w - 16),), ["style"], "style_vector", {"style": nchw}),
        "stylizer": _torch_export(
            stylizer_graph,
            (torch.rand(b, 3, h, w), torch.rand(*vec_shape), torch.tensor([0.75])),
            ["frames", "style_vector", "alpha"],
            "stylized",
            {"frames": nchw},
        ),
    }
    stats_size = 0
    if FAMILIES[family].tile_multiple is not None:  # a family whose modules have norm_stats
        norm_graph, tiled_graph = tile_graph_modules(stylizer, precision)
        example_vec, example_alpha = torch.rand(*vec_shape), torch.tensor([0.75])
        with torch.no_grad():
            stats_size = int(norm_graph(torch.rand(1, 3, h, w), example_vec, example_alpha).shape[1])
        models["norm_stats"] = _torch_export(
            norm_graph, (torch.rand(1, 3, h, w), example_vec, example_alpha), ["content", "style_vector", "alpha"], "stats", {"content": nchw}
        )
        models["stylize_tiled"] = _torch_export(
            tiled_graph,
            (torch.rand(b, 3, h, w), example_vec, example_alpha, torch.rand(1, stats_size) + 0.5),
            ["frames", "style_vector", "alpha", "stats"],
            "stylized",
            {"frames": nchw},
        )
    for name, model in models.items():
        onnx_passes.resize_scales_to_sizes(model)
        if name in ("stylizer", "stylize_tiled"):  # the exporter writes the crop as Min(height, 8*((height-1)//8)+8)
            onnx_passes.set_dims(model, "stylized", ["batch", 3, "height", "width"])
        if name == "stylizer" and frames == "uint8-nhwc":
            model = onnx_passes.wrap_frames_uint8_nhwc(model)
        model.producer_name = "stylize"
        model.doc_string = f"stylize {family} {name} ({precision}, {weights.model_id})"
        onnx_passes.set_metadata(model, _metadata(name, weights, precision, frames if name == "stylizer" else "float-nchw", stats_size))
        if check:
            problems = checks.check_graph(model)
            if problems:
                raise RuntimeError(f"exported {family} {name} ({precision}) fails its checks:\n  " + "\n  ".join(problems))
        models[name] = model
    return ExportedGraphs(family, precision, frames, models)


def save_graphs(graphs: ExportedGraphs, folder: str | Path) -> dict[str, Path]:
    """Write every graph (``GRAPH.onnx``) into ``folder`` (atomically), each
    with its digest beside it (``GRAPH.onnx.sha256``), which the engines compare before they
    load a graph."""
    folder = make_folder(folder)
    paths = {}
    for name, model in graphs.models.items():
        path = folder / f"{name}.onnx"
        try:
            with atomic_output(path, group_write=False) as tmp:
                onnx.save_model(model, str(tmp))
                digest = sha256_file(tmp)
            record_graph_digest(path, digest)
        except OSError as e:
            raise UserError(f"cannot write {path}: {e.strerror or e}") from None
        paths[name] = path
    return paths


def export_from_store(store: Store, weights: ModelWeights, folder: Path, *, precision: str, frames: str = DEFAULT_FRAMES) -> dict[str, Path]:
    """Load the store's weights, export the graphs, write them into ``folder``."""
    from stylize.training.models import load_stylizer

    module = load_stylizer(store, weights)
    graphs = export_graphs(module, weights.family, weights=WeightsIdentity.of(weights), precision=precision, frames=frames)
    return save_graphs(graphs, folder)

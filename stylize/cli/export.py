"""``stylize export`` (PyTorch -> ONNX) and ``stylize build-engine`` (ONNX -> TensorRT).

``export`` needs the optional PyTorch, onnx and onnxscript, ``build-engine`` onnx and
TensorRT: ``stylize.export`` loads when a command runs, with a one-line error naming the
extra where they are missing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stylize.api import resolve_weights
from stylize.cli.common import command
from stylize.options import add_options, arg_type, number_in
from stylize.runtime.errors import UserError
from stylize.runtime.models import ModelWeights
from stylize.runtime.store import Store

EXPORT_HELP = "export a model family's graphs (style encoder, stylizer, and the two of tiled stills) to ONNX"
BUILD_HELP = "build TensorRT engines from the exported ONNX graphs (needs TensorRT and an NVIDIA GPU)"


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "export", help=EXPORT_HELP,
        description=EXPORT_HELP[0].upper() + EXPORT_HELP[1:] + ", from the weights installed in the store. Writes "
        "style_encoder.onnx and stylizer.onnx, and norm_stats.onnx and stylize_tiled.onnx for tiled stills, into the store (ROOT/onnx/MODEL_ID/fp32 or fp16) or into -o DIR, "
        "after checking them (onnx.checker, TensorRT operator support, FP32 statistics in FP16 graphs), each "
        "with its SHA-256 beside it (GRAPH.onnx.sha256), which every engine checks before loading it.",
        epilog="example: stylize export --model adain --fp16",
    )  # fmt: skip
    add_options(p, "model", "weights", model={"required": True})
    p.add_argument("--fp16", action="store_true", help="mixed precision: convolutions FP16, statistics FP32 (for TensorRT)")
    p.add_argument(
        "--frames",
        choices=("uint8-nhwc", "float-nchw"),
        default="uint8-nhwc",
        help="stylizer frame format: uint8 NHWC with conversion inside the graph (default) or float32 NCHW in [0, 1]",
    )
    p.add_argument("-o", "--output", type=Path, metavar="DIR", help="folder for the .onnx files (default: the store)")
    p.set_defaults(func=run_export)

    b = command(
        sub, "build-engine", help=BUILD_HELP,
        description=BUILD_HELP[0].upper() + BUILD_HELP[1:] + ". One optimisation profile per graph; engines are "
        "saved in the store, keyed by the ONNX file's SHA-256, the GPU, its compute capability, the TensorRT "
        "version and the profile. `--backend tensorrt` reuses them where their profile covers a frame size, and "
        "builds an engine for any other size on first use.",
        epilog="example: stylize build-engine --model adain --fp16 --shapes 360x640:720x1280:1080x1920",
    )  # fmt: skip
    add_options(b, "model", "weights", model={"required": True})
    b.add_argument("--fp16", action="store_true", help="use the FP16 graphs (stylize export --fp16)")
    b.add_argument("--shapes", required=True, metavar="MIN:OPT:MAX", help="frame sizes HxW (or NxHxW with batch), e.g. 360x640:720x1280:1080x1920")
    b.add_argument("--style-shapes", metavar="MIN:OPT:MAX", help="style image sizes (default: adain 1x64x64:1x512x768:1x2048x2048, magenta 256x256)")
    b.add_argument("--onnx", type=Path, metavar="DIR", help="folder with style_encoder.onnx and stylizer.onnx (default: the store's)")
    b.add_argument("--workspace-gib", type=arg_type(number_in(above=0), "workspace_gib"), default=None, help="TensorRT workspace limit in GiB (default: TensorRT's)")
    b.set_defaults(func=run_build_engine)


def _weights(args: argparse.Namespace) -> ModelWeights:
    return resolve_weights(Store(args.home), args.model, args.weights)


def run_export(args: argparse.Namespace) -> int:
    store = Store(args.home)
    weights = _weights(args)  # a clear error when the weights are not installed
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        raise UserError(f"export needs PyTorch, onnx and onnxscript: pip install 'stylize[export]' ({e})") from None
    from stylize.export.onnx_export import export_from_store
    from stylize.export.onnx_passes import summary

    precision = "fp16" if args.fp16 else "fp32"
    folder = args.output or store.graph_folder(weights.model_id, precision)
    paths = export_from_store(store, weights, folder, precision=precision, frames=args.frames)
    import onnx

    for name, path in paths.items():
        nodes = summary(onnx.load(str(path)))["nodes"]
        print(f"{path} ({path.stat().st_size / 1e6:.1f} MB, {nodes} nodes, {weights.family} {precision}, {weights.model_id})")
    return 0


def run_build_engine(args: argparse.Namespace) -> int:
    from stylize.export.tensorrt_build import DEFAULT_STYLE_SHAPES, build_engines, gpu_info, parse_shapes, tensorrt_or_error
    from stylize.runtime.backends import missing_graphs

    shapes = parse_shapes(args.shapes)
    style_shapes = parse_shapes(args.style_shapes or DEFAULT_STYLE_SHAPES[args.model], "--style-shapes")
    trt = tensorrt_or_error()  # one-line errors: no TensorRT ...
    gpu = gpu_info()  # ... or no GPU
    store = Store(args.home)
    folder = args.onnx or store.graph_folder(_weights(args).model_id, "fp16" if args.fp16 else "fp32")
    missing = missing_graphs(folder)
    if missing:
        fp16 = " --fp16" if args.fp16 else ""
        raise UserError(f"{', '.join(missing)} not found in {folder}; run `stylize export --model {args.model}{fp16}` first")
    for path in build_engines(store, folder, shapes, style_shapes, gpu=gpu, workspace_gib=args.workspace_gib).values():
        print(f"{path} ({path.stat().st_size / 1e6:.1f} MB, {gpu.name} sm {gpu.compute_capability}, TensorRT {trt.__version__})")
    return 0

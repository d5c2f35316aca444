"""Engines: the same two graphs run by PyTorch, ONNX Runtime or TensorRT."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path

from ..engine import Engine
from ..errors import UserError
from ..models import FAMILIES, ModelWeights
from ..store import Store, check_graph

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
GRAPHS = ("style_encoder", "stylizer")  # the two graphs `stylize export` writes, as GRAPH.onnx
TILE_GRAPHS = ("norm_stats", "stylize_tiled")  # and, for tiled stills, these two (absent from older exports)
log = logging.getLogger(__name__)


def missing_graphs(folder: str | os.PathLike[str]) -> list[str]:
    """The graph files ``stylize export -o DIR`` writes that ``folder`` lacks."""
    return [f"{g}.onnx" for g in GRAPHS if not (Path(folder) / f"{g}.onnx").is_file()]


@functools.lru_cache(maxsize=8)
def _style_encoder_metadata(path: Path, mtime_ns: int, size: int) -> dict[str, str]:
    from .onnxruntime_backend import graph_metadata

    return graph_metadata(path)


def _graphs_metadata(folder: str | os.PathLike[str]) -> tuple[Path, dict[str, str]]:
    path = Path(folder) / f"{GRAPHS[0]}.onnx"
    check_graph(path, f"stylize export --model MODEL -o {folder}", required=False)  # its digest, where one is recorded
    stat = path.stat()
    return path, _style_encoder_metadata(path, stat.st_mtime_ns, stat.st_size)


def graphs_family(folder: str | os.PathLike[str]) -> str:
    """The model family a folder's graphs were exported from (their metadata)."""
    path, meta = _graphs_metadata(folder)
    family = meta.get("family")
    if family not in FAMILIES:
        raise UserError(f"{path} names no model family in its metadata ({family}); give --model")
    return str(family)


def check_graphs(folder: str | os.PathLike[str], weights: ModelWeights) -> None:
    """Refuse, before anything runs, a folder of graphs exported from other weights (the
    engines check both graphs again when they load them)."""
    from .onnxruntime_backend import check_graph_metadata

    path, meta = _graphs_metadata(folder)
    check_graph_metadata(weights, GRAPHS[0], path, meta)


def _tensorrt_unavailable(device: str) -> str | None:
    from .tensorrt.keys import tensorrt_unavailable

    return tensorrt_unavailable(device)


def choose_backend(store: Store, weights: ModelWeights, device: str = "auto", graphs: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """``--backend auto``: (backend, why), from what is installed and what was measured.

    TensorRT where it runs here (TensorRT, onnx and cuda-python installed, a CUDA GPU) and the
    graphs are exported: it builds engines for this GPU from them. Else, on an NVIDIA GPU, the
    torch engine (FP16, channels-last, compiled) is the fastest one measured; on a CPU the ONNX
    Runtime engine runs the exported graphs faster than PyTorch (benchmarks/README.md), so it
    is chosen where the graphs were exported. ``graphs`` (a folder of exported graphs) leaves
    TensorRT or ONNX Runtime.
    """
    no_tensorrt = _tensorrt_unavailable(device)
    if graphs is not None:
        if no_tensorrt is None:
            return "tensorrt", f"the graphs of {graphs} on a CUDA GPU with TensorRT (engines built on first use, kept in the store)"
        return "onnxruntime", f"the graphs of {graphs} ({no_tensorrt}: ONNX Runtime runs them)"
    exported = {p: (store.graph_folder(weights.model_id, p) / "stylizer.onnx").is_file() for p in ("fp16", "fp32")}
    if no_tensorrt is None and (exported["fp16"] or exported["fp32"]):
        return "tensorrt", "TensorRT and a CUDA GPU, graphs exported: TensorRT engines (built on first use, kept in the store)"
    has_torch = importlib.util.find_spec("torch") is not None
    if has_torch and device != "cpu":
        from .torch_backend import cuda_device_name

        gpu = cuda_device_name()
        if gpu is not None:
            hint = f" (`stylize export --model {weights.family} --fp16` lets TensorRT run)" if no_tensorrt is None else ""
            return "torch", f"CUDA GPU ({gpu}): compiled torch FP16 is the fastest engine there{hint}"
    if exported["fp32"]:
        return "onnxruntime", "exported ONNX graphs found: ONNX Runtime is faster than PyTorch on the CPU"
    if has_torch:
        return "torch", f"no exported graphs (run `stylize export --model {weights.family}` for the faster ONNX Runtime engine)"
    return "onnxruntime", "PyTorch is not installed"


def open_engine(
    store: Store, weights: ModelWeights, backend: str = "auto", device: str = "auto", graphs: str | os.PathLike[str] | None = None
) -> Engine:
    """Build the engine for ``weights`` on ``backend`` (``auto``: see ``choose_backend``,
    whose reason is logged). ``graphs``: run the graphs of that folder (``stylize export
    -o DIR``) instead of the store's; the torch backend runs no graphs."""
    if graphs is not None and backend == "torch":
        raise UserError("--graphs runs exported graphs, which the torch backend does not: use --backend onnxruntime, tensorrt or auto")
    if backend == "auto":
        backend, why = choose_backend(store, weights, device, graphs)
        log.info("backend %s: %s", backend, why)
    if backend == "torch":
        if importlib.util.find_spec("torch") is None:
            raise UserError("the torch backend needs PyTorch: pip install 'stylize[train]'")
        from .torch_backend import TorchEngine

        return TorchEngine(store, weights, device=device)
    if backend == "onnxruntime":
        from .onnxruntime_backend import OnnxRuntimeEngine

        return OnnxRuntimeEngine(store, weights, device=device, folder=graphs)
    if backend == "tensorrt":
        from .tensorrt.engine import TensorRTEngine

        return TensorRTEngine(store, weights, device=device, folder=graphs)
    raise UserError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")

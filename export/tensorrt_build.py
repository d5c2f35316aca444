"""``stylize build-engine``: TensorRT engines for both graphs, built ahead of their first use.

The engine keys, the build and the checks on kept engines belong to the runtime
(``stylize.runtime.backends.tensorrt``), whose TensorRT engine builds what it lacks on first
use; this module builds both graphs of a folder for the profiles a user chooses
(``--shapes``, ``--style-shapes``), into the store, where that engine finds and reuses them
wherever their profile covers a shape. Unverified: not yet run with TensorRT (README.md,
"Limits").
"""

from __future__ import annotations

from pathlib import Path

from stylize.runtime.backends.tensorrt.build import build_engine
from stylize.runtime.backends.tensorrt.keys import DEFAULT_STYLE_SHAPES, GpuInfo, Profile, gpu_info, parse_shapes, tensorrt_or_error
from stylize.runtime.store import Store

__all__ = ["DEFAULT_STYLE_SHAPES", "build_engines", "gpu_info", "parse_shapes", "tensorrt_or_error"]


def build_engines(store: Store, folder: Path, shapes: Profile, style_shapes: Profile, *, gpu: GpuInfo, workspace_gib: float | None = None) -> dict[str, Path]:
    """The engines of ``folder``'s style encoder (``style_shapes``) and stylizer (``shapes``),
    built or reused: {graph: engine path}."""
    profiles = {"style_encoder": style_shapes, "stylizer": shapes}
    return {graph: build_engine(store, folder / f"{graph}.onnx", profile, gpu=gpu, workspace_gib=workspace_gib) for graph, profile in profiles.items()}

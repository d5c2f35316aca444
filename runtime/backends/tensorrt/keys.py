"""What a TensorRT engine depends on, where it is kept, and whether a kept one can run here.

An engine is only valid for the exact ONNX bytes, GPU (name and compute capability),
TensorRT version and optimisation profile it was built with. Each is saved in the store
(``Store.engine_path``) as ``GRAPH-ONNXSHA-GPU-smCC-trtVER-PROFILE.engine`` with a JSON record
of that full key and the engine's own SHA-256 beside it. A record that does not match is
stale (other ONNX bytes), foreign (other GPU, compute capability or TensorRT version) or
damaged (the engine's bytes changed): such an engine is never deserialised. The functions
that decide this (``rebuild_reason``, ``choose_engine``) are pure and need no TensorRT.

Profiles are ``MIN:OPT:MAX`` shapes of (batch, height, width), laid out per input by
``build.profile_shapes``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...store import Store, sha256_file

Shape3 = tuple[int, int, int]  # (batch, height, width)
Profile = tuple[Shape3, Shape3, Shape3]  # (min, opt, max)

# Style-image profiles: AdaIN styles have their shorter side at 512 (any aspect); Magenta's
# are resized to 256x256; a johnson network encodes no style image (its graph gives a constant).
DEFAULT_STYLE_SHAPES = {
    "adain": "1x64x64:1x512x768:1x2048x2048",
    "magenta": "1x256x256:1x256x256:1x256x256",
    "johnson": "1x16x16:1x16x16:1x16x16",
}
REBUILD = "rebuild it with `stylize build-engine`"
TILE_MIN_SIDE = 16  # the smallest tile an engine of the tiled stylizer takes (export.onnx_export.MIN_SIDE)


# ----------------------------------------------------------------------------- profiles
def parse_shapes(text: str, what: str = "--shapes") -> Profile:
    """``"360x640:720x1280:1080x1920"`` or ``"1x360x640:4x720x1280:8x1080x1920"`` -> (min, opt, max)."""
    parts = text.strip().lower().split(":")
    if len(parts) != 3:
        raise UserError(f"{what} {text!r}: expected MIN:OPT:MAX, e.g. 360x640:720x1280:1080x1920 (or NxHxW each)")
    shapes = []
    for part in parts:
        if not re.fullmatch(r"\d+x\d+(x\d+)?", part):
            raise UserError(f"{what} {text!r}: {part!r} is not HxW or NxHxW")
        nums = [int(v) for v in part.split("x")]
        shape = (1, *nums) if len(nums) == 2 else tuple(nums)
        if min(shape) < 1:
            raise UserError(f"{what} {text!r}: sizes must be positive")
        shapes.append(shape)
    lo, opt, hi = shapes
    if not all(a <= b <= c for a, b, c in zip(lo, opt, hi)):
        raise UserError(f"{what} {text!r}: need MIN <= OPT <= MAX in every dimension")
    return lo, opt, hi


def profile_text(shapes: Profile) -> str:
    return ":".join("x".join(str(v) for v in s) for s in shapes)


def covers(profile: Profile, shape: Shape3) -> bool:
    """Whether an engine built for ``profile`` runs inputs of ``shape``."""
    lo, _, hi = profile
    return all(a <= x <= b for a, x, b in zip(lo, shape, hi))


def first_use_profile(graph: str, family: str, shape: Shape3) -> Profile:
    """The profile of an engine built on first use for ``shape``: frames get exactly their
    height and width (the fastest kernels; video and live keep one size), any batch up to
    ``shape``'s (a video's last batch is smaller); styles the default style profile where it
    covers them, as ``stylize build-engine`` builds it, so one engine serves every style."""
    n, h, w = shape
    if graph == "style_encoder":
        default = parse_shapes(DEFAULT_STYLE_SHAPES[family], "style profile")
        if covers(default, shape):
            return default
    if graph == "stylize_tiled":  # the first tile of a plan is its largest: one engine serves every tile
        return (1, TILE_MIN_SIDE, TILE_MIN_SIDE), (n, h, w), (n, h, w)
    return (1, h, w), (n, h, w), (n, h, w)


# ----------------------------------------------------------------------------- what is installed
def tensorrt_or_error():  # noqa: ANN201 (the tensorrt module)
    try:
        import tensorrt as trt
    except ImportError:
        raise UserError(
            "TensorRT is not installed: install TensorRT 10.x or 11.x with its Python bindings "
            "(NVIDIA's pip index or the TensorRT tar/deb packages); the PyPI 'tensorrt' stubs fetch from NVIDIA"
        ) from None
    return trt


def onnx_or_error():  # noqa: ANN201 (the onnx module)
    try:
        import onnx
    except ImportError:
        raise UserError("the tensorrt backend reads the ONNX graphs with onnx: pip install 'stylize[gpu]'") from None
    return onnx


def cudart_or_error():  # noqa: ANN201 (cuda-python's runtime bindings)
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python < 12.6
        except ImportError:
            raise UserError("the tensorrt backend needs cuda-python: pip install 'stylize[gpu]'") from None
    return cudart


def device_index(device: str) -> int:
    """``auto`` / ``cuda`` -> 0, ``cuda:N`` -> N; the CPU is refused (TensorRT needs a GPU)."""
    base, _, index = device.partition(":")
    if base == "cpu":
        raise UserError("--device cpu: the tensorrt backend runs on an NVIDIA GPU (use --backend onnxruntime or torch on the CPU)")
    return int(index) if index else 0


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str  # "9.0"


def gpu_info(device: int = 0) -> GpuInfo:
    """Name and compute capability of CUDA device ``device``, from cuda-python (which the
    TensorRT runner needs anyway); UserError when there is none."""
    cudart = cudart_or_error()
    err, count = cudart.cudaGetDeviceCount()
    if int(err) != 0 or count <= device:
        raise UserError("no CUDA GPU found (cudaGetDeviceCount: none usable); TensorRT engines need an NVIDIA GPU")
    err, props = cudart.cudaGetDeviceProperties(device)
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return GpuInfo(name.strip("\x00 "), f"{props.major}.{props.minor}")


def tensorrt_unavailable(device: str = "auto") -> str | None:
    """Why the TensorRT engine cannot run here, in a few words; None where it can (TensorRT,
    onnx and cuda-python import and a CUDA GPU answers). ``--backend auto`` asks this."""
    try:
        index = device_index(device)
    except UserError:
        return "--device cpu"
    for module, what in (("tensorrt", "TensorRT is not installed"), ("onnx", "onnx is not installed")):
        if importlib.util.find_spec(module) is None:
            return what
    try:
        cudart_or_error()
        gpu_info(index)
    except UserError as e:
        return str(e)
    return None


# ----------------------------------------------------------------------------- keys and records
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


@dataclass(frozen=True)
class EngineKey:
    """What an engine depends on: the graph's bytes, the GPU, TensorRT and the profile."""

    graph: str  # "style_encoder" | "stylizer"
    model_id: str
    onnx_sha256: str
    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    profile: str  # "NxHxW:NxHxW:NxHxW"

    def stem(self) -> str:
        prof = hashlib.sha256(self.profile.encode()).hexdigest()[:10]
        cc = self.compute_capability.replace(".", "")
        return f"{self.graph}-{self.onnx_sha256[:16]}-{_slug(self.gpu_name)}-sm{cc}-trt{self.tensorrt_version}-{prof}"


def current_key(onnx_path: Path, graph: str, model_id: str, gpu: GpuInfo, tensorrt_version: str, profile: str) -> EngineKey:
    return EngineKey(graph, model_id, sha256_file(onnx_path), gpu.name, gpu.compute_capability, tensorrt_version, profile)


def engine_path(store: Store, key: EngineKey) -> Path:
    return store.engine_path(key.model_id, key.stem())


def record_path(engine: Path) -> Path:
    return Store.engine_record_path(engine)


def timing_cache_path(store: Store, gpu: GpuInfo, tensorrt_version: str) -> Path:
    cc = gpu.compute_capability.replace(".", "")
    return store.timing_cache_path(f"{_slug(gpu.name)}-sm{cc}-trt{tensorrt_version}")


def read_record(engine: Path) -> dict[str, Any] | None:
    """An engine's record, or None where it is missing or unreadable."""
    try:
        record = json.loads(record_path(engine).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def kept_engines(store: Store, model_id: str) -> list[tuple[Path, dict[str, Any] | None]]:
    """Every engine the store keeps for ``model_id``, with its record (None: unreadable)."""
    return [(path, read_record(path)) for path in store.engine_paths(model_id)]


def rebuild_reason(
    engine_name: str,
    record: dict[str, Any] | None,
    onnx_name: str,
    onnx_sha256: str,
    gpu: GpuInfo,
    tensorrt_version: str,
    engine_sha256: str | None = None,
) -> str | None:
    """Why an engine cannot run this graph on this GPU with this TensorRT (None: it can).

    Stale: built from other ONNX bytes; foreign: another GPU, compute capability or
    TensorRT version; damaged: no readable record, or (``engine_sha256`` given) bytes that
    are not those recorded.
    """
    if record is None:
        return f"engine {engine_name} has no readable record ({Path(engine_name).with_suffix('.json').name})"
    if record.get("onnx_sha256") != onnx_sha256:
        return f"engine {engine_name} is stale: built from ONNX {str(record.get('onnx_sha256'))[:12]}, {onnx_name} is now {onnx_sha256[:12]}"
    if record.get("gpu_name") != gpu.name or record.get("compute_capability") != gpu.compute_capability:
        return (
            f"engine {engine_name} was built for {record.get('gpu_name')} (sm {record.get('compute_capability')}), "
            f"this GPU is {gpu.name} (sm {gpu.compute_capability})"
        )
    if record.get("tensorrt_version") != tensorrt_version:
        return f"engine {engine_name} was built with TensorRT {record.get('tensorrt_version')}, this is {tensorrt_version}"
    if engine_sha256 is not None and engine_sha256 != record.get("engine_sha256"):
        return f"engine {engine_name} does not match its record (damaged or replaced)"
    return None


def load_checked(engine: Path, onnx_path: Path, gpu: GpuInfo, tensorrt_version: str) -> bytes:
    """The engine's bytes, after checking its record against this ONNX file, GPU and TensorRT.

    Raises UserError naming what differs (``rebuild_reason``): a stale, foreign or damaged
    engine is refused, never deserialised.
    """
    record = read_record(engine)
    onnx_sha = sha256_file(onnx_path)
    why = rebuild_reason(engine.name, record, onnx_path.name, onnx_sha, gpu, tensorrt_version)
    if why is not None:
        raise UserError(f"{why}; {REBUILD}")
    data = engine.read_bytes()
    why = rebuild_reason(engine.name, record, onnx_path.name, onnx_sha, gpu, tensorrt_version, hashlib.sha256(data).hexdigest())
    if why is not None:
        raise UserError(f"{why}; {REBUILD}")
    return data


def _same_graph_file(record: dict[str, Any], onnx_path: Path, onnx_sha256: str) -> bool:
    """A record made from this graph: its bytes now, or this file before it changed (stale)."""
    return record.get("onnx_sha256") == onnx_sha256 or record.get("onnx_path") == str(onnx_path.resolve())


def choose_engine(
    kept: Iterable[tuple[Path, dict[str, Any] | None]],
    graph: str,
    onnx_path: Path,
    onnx_sha256: str,
    gpu: GpuInfo,
    tensorrt_version: str,
    shape: Shape3,
) -> tuple[Path | None, str | None]:
    """(an engine to load, None) where a kept engine of this graph covers ``shape`` and fits
    this GPU and TensorRT; else (None, why one must be built: the first covering engine's
    ``rebuild_reason``, or None where no engine of this graph covers the shape at all).

    Among fitting engines, one whose optimum is ``shape`` is preferred, then the one with the
    narrowest range (TensorRT tunes its kernels for the optimum)."""
    fitting: list[tuple[bool, int, str, Path]] = []
    refused: list[str] = []
    for path, record in kept:
        if record is None or record.get("graph") != graph or not _same_graph_file(record, onnx_path, onnx_sha256):
            continue
        try:
            profile = parse_shapes(str(record.get("profile", "")), "profile")
        except UserError:
            continue
        if not covers(profile, shape):
            continue
        why = rebuild_reason(path.name, record, onnx_path.name, onnx_sha256, gpu, tensorrt_version)
        if why is None:
            lo, opt, hi = profile
            span = (hi[0] * hi[1] * hi[2]) - (lo[0] * lo[1] * lo[2])
            fitting.append((opt != shape, span, path.name, path))
        else:
            refused.append(why)
    if fitting:
        return min(fitting)[3], None
    return None, (refused[0] if refused else None)

"""Build TensorRT engines from the exported ONNX graphs (TensorRT 10.x and 11.x Python API).

Unverified: written to TensorRT's documented Python API and not yet run with TensorRT
(README.md, "Limits"). What can be checked without TensorRT (shape parsing, engine keys,
refusing stale or foreign engines, the CLI's error messages) is tested; the build is tested
where ``tensorrt`` imports and a GPU exists.

Torch-free; ``tensorrt`` and ``cuda-python`` are imported lazily, inside functions.

- The network is strongly typed: the precision is the ONNX graph's own (FP16 graphs carry
  their FP32 islands as explicit casts). TensorRT 10 needs the ``STRONGLY_TYPED`` creation
  flag; TensorRT 11 always builds strongly typed and keeps the flag only as an ignored
  deprecated member, so setting it is right for both. No precision builder flags are used
  (TensorRT 11 removed ``BuilderFlag.FP16``).
- One optimisation profile: frames ``MIN:OPT:MAX`` from ``--shapes`` (``HxW`` or
  ``NxHxW`` each), style images from ``--style-shapes``; static inputs need none.
- A timing cache per GPU and TensorRT version in the store's engine folder, read before and
  written after every build, so rebuilding (another profile, the other graph) is faster.
- Engines are saved as ``ROOT/engines/MODEL_ID/GRAPH-ONNXSHA-GPU-smCC-trtVER-PROFILE.engine``
  with a JSON record of the full key beside them. ``load_checked`` refuses an engine whose
  record does not match the ONNX file (stale), the GPU, its compute capability or the
  TensorRT version (foreign), or whose bytes changed (damaged): it is never deserialised.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from stylize.runtime.errors import UserError
from stylize.runtime.files import atomic_output
from stylize.runtime.store import Store, sha256_file

Shape3 = tuple[int, int, int]  # (batch, height, width)

# Style-image profiles: AdaIN styles have their shorter side at 512 (any aspect); Magenta's
# are resized to 256x256.
DEFAULT_STYLE_SHAPES = {"adain": "1x64x64:1x512x768:1x2048x2048", "magenta": "1x256x256:1x256x256:1x256x256"}


def parse_shapes(text: str, what: str = "--shapes") -> tuple[Shape3, Shape3, Shape3]:
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


def profile_text(shapes: tuple[Shape3, Shape3, Shape3]) -> str:
    return ":".join("x".join(str(v) for v in s) for s in shapes)


def tensorrt_or_error():  # noqa: ANN201 (the tensorrt module)
    try:
        import tensorrt as trt
    except ImportError:
        raise UserError(
            "TensorRT is not installed: install TensorRT 10.x or 11.x with its Python bindings "
            "(NVIDIA's pip index or the TensorRT tar/deb packages); the PyPI 'tensorrt' stubs fetch from NVIDIA"
        ) from None
    return trt


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str  # "9.0"


def gpu_info(device: int = 0) -> GpuInfo:
    """Name and compute capability of CUDA device ``device``; UserError when there is none."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python < 12.6
        except ImportError:
            cudart = None
    if cudart is not None:
        err, count = cudart.cudaGetDeviceCount()
        if int(err) != 0 or count <= device:
            raise UserError("no CUDA GPU found (cudaGetDeviceCount: none usable); TensorRT engines need an NVIDIA GPU")
        err, props = cudart.cudaGetDeviceProperties(device)
        name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
        return GpuInfo(name.strip("\x00 "), f"{props.major}.{props.minor}")
    try:
        import torch
    except ImportError:
        raise UserError("cannot query the GPU: install cuda-python (pip install 'stylize[gpu]')") from None
    if not torch.cuda.is_available() or torch.cuda.device_count() <= device:
        raise UserError("no CUDA GPU found; TensorRT engines need an NVIDIA GPU")
    major, minor = torch.cuda.get_device_capability(device)
    return GpuInfo(torch.cuda.get_device_name(device), f"{major}.{minor}")


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


def engine_path(store: Store, key: EngineKey) -> Path:
    return store.engines_dir / key.model_id / f"{key.stem()}.engine"


def timing_cache_path(store: Store, gpu: GpuInfo, tensorrt_version: str) -> Path:
    cc = gpu.compute_capability.replace(".", "")
    return store.engines_dir / f"timing-{_slug(gpu.name)}-sm{cc}-trt{tensorrt_version}.cache"


def _record_path(engine: Path) -> Path:
    return engine.with_suffix(".json")


def graph_inputs(onnx_path: Path) -> tuple[dict[str, str], dict[str, list[int | str]]]:
    """(metadata, {input name: dims, symbolic ones as names}) of an ONNX file."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    return meta, dims


def profile_shapes(dims: dict[str, list[int | str]], shapes: tuple[Shape3, Shape3, Shape3]) -> dict[str, tuple[tuple[int, ...], ...]]:
    """min/opt/max of every input with symbolic dims (batch, height, width), in its own layout."""
    out = {}
    for name, ds in dims.items():
        if all(isinstance(d, int) and d > 0 for d in ds):
            continue  # static input (style_vector, alpha): no profile needed
        per = []
        for b, h, w in shapes:
            values = {"batch": b, "height": h, "width": w}
            try:
                per.append(tuple(d if isinstance(d, int) and d > 0 else values[d] for d in ds))
            except KeyError as e:
                raise UserError(f"input {name!r} has dimension {e.args[0]!r}: not batch/height/width") from None
        out[name] = tuple(per)
    return out


def _parser_error(error) -> str:  # noqa: ANN001 (tensorrt.ParserError)
    desc = error.desc() if hasattr(error, "desc") else str(error)
    node = error.node() if hasattr(error, "node") else -1
    return f"{desc} (node {node})" if node is not None and node >= 0 else desc


def build_serialized(onnx_path: Path, profile: dict[str, tuple[tuple[int, ...], ...]], cache_file: Path, workspace_gib: float | None = None) -> bytes:
    """Parse ``onnx_path`` into a strongly typed network and build it (not yet verified on TensorRT)."""
    trt = tensorrt_or_error()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if strongly_typed is not None:  # required on 10.x, deprecated and ignored on 11.x
        flags |= 1 << int(strongly_typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
        raise UserError(f"TensorRT's ONNX parser refused {onnx_path}: {errors[0] if errors else 'no detail'}")
    config = builder.create_builder_config()
    if workspace_gib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    opt_profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profile.items():
        opt_profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(opt_profile)
    cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UserError(f"TensorRT could not build an engine from {onnx_path} (see the TensorRT log above)")
    with atomic_output(cache_file) as tmp:
        tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def current_key(onnx_path: Path, graph: str, model_id: str, gpu: GpuInfo, tensorrt_version: str, profile: str) -> EngineKey:
    return EngineKey(graph, model_id, sha256_file(onnx_path), gpu.name, gpu.compute_capability, tensorrt_version, profile)


def build_engine(
    store: Store,
    onnx_path: Path,
    shapes: tuple[Shape3, Shape3, Shape3],
    *,
    gpu: GpuInfo | None = None,
    workspace_gib: float | None = None,
) -> Path:
    """Build (or reuse) the engine of one graph for ``shapes``; returns the engine's path."""
    trt = tensorrt_or_error()
    gpu = gpu or gpu_info()
    meta, dims = graph_inputs(onnx_path)
    key = current_key(onnx_path, meta.get("graph", onnx_path.stem), meta.get("model_id", "unknown"), gpu, trt.__version__, profile_text(shapes))
    path = engine_path(store, key)
    if path.is_file() and _record_matches(path, key):
        return path
    data = build_serialized(onnx_path, profile_shapes(dims, shapes), timing_cache_path(store, gpu, trt.__version__), workspace_gib)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    record = {**asdict(key), "engine_sha256": hashlib.sha256(data).hexdigest(), "onnx_path": str(onnx_path), "created": time.time()}
    with atomic_output(_record_path(path)) as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    return path


def _record_matches(path: Path, key: EngineKey) -> bool:
    try:
        record = json.loads(_record_path(path).read_text())
    except (OSError, ValueError):
        return False
    return all(record.get(k) == v for k, v in asdict(key).items()) and record.get("engine_sha256") == sha256_file(path)


def load_checked(engine: Path, onnx_path: Path, gpu: GpuInfo, tensorrt_version: str) -> bytes:
    """The engine's bytes, after checking its record against this ONNX file, GPU and TensorRT.

    Raises UserError naming what differs: a stale (other ONNX bytes) or foreign (other GPU,
    compute capability or TensorRT version) engine is refused, never deserialised.
    """
    rebuild = "rebuild it with `stylize build-engine`"
    try:
        record = json.loads(_record_path(engine).read_text())
    except (OSError, ValueError):
        raise UserError(f"engine {engine} has no readable record ({_record_path(engine).name}); {rebuild}") from None
    onnx_sha = sha256_file(onnx_path)
    if record.get("onnx_sha256") != onnx_sha:
        raise UserError(
            f"engine {engine.name} is stale: built from ONNX {str(record.get('onnx_sha256'))[:12]}, "
            f"{onnx_path.name} is now {onnx_sha[:12]}; {rebuild}"
        )
    if record.get("gpu_name") != gpu.name or record.get("compute_capability") != gpu.compute_capability:
        raise UserError(
            f"engine {engine.name} was built for {record.get('gpu_name')} (sm {record.get('compute_capability')}), "
            f"this GPU is {gpu.name} (sm {gpu.compute_capability}); {rebuild}"
        )
    if record.get("tensorrt_version") != tensorrt_version:
        raise UserError(f"engine {engine.name} was built with TensorRT {record.get('tensorrt_version')}, this is {tensorrt_version}; {rebuild}")
    data = engine.read_bytes()
    if hashlib.sha256(data).hexdigest() != record.get("engine_sha256"):
        raise UserError(f"engine {engine} does not match its record (damaged or replaced); {rebuild}")
    return data

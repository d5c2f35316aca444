"""Build a TensorRT engine from an exported ONNX graph and keep it in the store.

- The network is strongly typed: the precision is the ONNX graph's own (FP16 graphs carry
  their FP32 islands as explicit casts). TensorRT 10 needs the ``STRONGLY_TYPED`` creation
  flag; TensorRT 11 always builds strongly typed and keeps the flag only as an ignored
  deprecated member, so setting it is right for both. No precision builder flags are used
  (TensorRT 11 removed ``BuilderFlag.FP16``).
- One optimisation profile per engine, over the inputs with dynamic dimensions (frames,
  style images); static inputs (the style vector, alpha) need none.
- A timing cache per GPU and TensorRT version in the store, read before and written after
  every build, so a further build (another profile, the other graph) is faster.
- The engine is written with its record (``keys``): the full key and the engine's SHA-256.

``tensorrt`` and ``onnx`` are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...files import atomic_output
from ...store import Store, make_folder, sha256_file
from .keys import (
    EngineKey,
    GpuInfo,
    Profile,
    current_key,
    engine_path,
    gpu_info,
    onnx_or_error,
    profile_text,
    read_record,
    rebuild_reason,
    record_path,
    tensorrt_or_error,
    timing_cache_path,
)


def graph_inputs(onnx_path: Path) -> tuple[dict[str, str], dict[str, list[int | str]]]:
    """(metadata, {input name: dims, symbolic ones as names}) of an ONNX file."""
    onnx = onnx_or_error()
    model = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    return meta, dims


def profile_shapes(dims: dict[str, list[int | str]], shapes: Profile) -> dict[str, tuple[tuple[int, ...], ...]]:
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


def _parser_error(error: Any) -> str:
    """One line from a ``tensorrt.IParserError``."""
    node = error.node()
    return f"{error.desc()} (node {node})" if node is not None and node >= 0 else str(error.desc())


def build_serialized(onnx_path: Path, profile: dict[str, tuple[tuple[int, ...], ...]], cache_file: Path, workspace_gib: float | None = None) -> bytes:
    """Parse ``onnx_path`` into a strongly typed network and build it with ``profile``."""
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
    with atomic_output(cache_file, group_write=False) as tmp:
        tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def build_engine(
    store: Store,
    onnx_path: Path,
    shapes: Profile,
    *,
    gpu: GpuInfo | None = None,
    workspace_gib: float | None = None,
    rebuild: bool = False,
) -> Path:
    """Build the engine of one graph for ``shapes`` and keep it in the store; returns its
    path. An engine already kept under the same key is reused where its record and bytes
    match, unless ``rebuild`` (it would not deserialise)."""
    trt = tensorrt_or_error()
    gpu = gpu or gpu_info()
    meta, dims = graph_inputs(onnx_path)
    key = current_key(onnx_path, meta.get("graph", onnx_path.stem), meta.get("model_id", "unknown"), gpu, trt.__version__, profile_text(shapes))
    path = engine_path(store, key)
    if not rebuild and path.is_file() and _kept_engine_matches(path, key, gpu):
        return path
    data = build_serialized(onnx_path, profile_shapes(dims, shapes), timing_cache_path(store, gpu, trt.__version__), workspace_gib)
    make_folder(path.parent)
    with atomic_output(path, group_write=False) as tmp:
        tmp.write_bytes(data)
    record = {
        **asdict(key),
        "engine_sha256": hashlib.sha256(data).hexdigest(),
        "onnx_path": str(onnx_path.resolve()),
        "created": time.time(),
    }
    with atomic_output(record_path(path), group_write=False) as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    return path


def _kept_engine_matches(path: Path, key: EngineKey, gpu: GpuInfo) -> bool:
    record = read_record(path)
    if record is None or record.get("profile") != key.profile:
        return False
    return rebuild_reason(path.name, record, path.name, key.onnx_sha256, gpu, key.tensorrt_version, sha256_file(path)) is None

"""TensorRT side of the export: what runs without TensorRT (shapes, engine keys, refusing
stale or foreign engines, checks on hand-made graphs, the CLI's one-line errors), and the
real build, which runs only where ``tensorrt`` imports and a GPU exists. The keys, the build
and the runner are the runtime's (``stylize.runtime.backends.tensorrt``); ``stylize
build-engine`` drives them; the TensorRT engine itself: tests/test_tensorrt_backend.py."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from stylize.cli import main  # noqa: E402
from stylize.export import checks, onnx_passes  # noqa: E402
from stylize.runtime.backends.tensorrt.build import profile_shapes  # noqa: E402
from stylize.runtime.backends.tensorrt.keys import (  # noqa: E402
    DEFAULT_STYLE_SHAPES,
    EngineKey,
    GpuInfo,
    current_key,
    engine_path,
    load_checked,
    parse_shapes,
    profile_text,
)
from stylize.runtime.backends.tensorrt.keys import record_path as _record_path  # noqa: E402
from stylize.runtime.errors import UserError  # noqa: E402
from stylize.runtime.store import Store  # noqa: E402

H100 = GpuInfo("NVIDIA H100 80GB HBM3", "9.0")


# --------------------------------------------------------------------------- shapes and profiles


def test_parse_shapes() -> None:
    assert parse_shapes("360x640:720x1280:1080x1920") == ((1, 360, 640), (1, 720, 1280), (1, 1080, 1920))
    assert parse_shapes("1x360x640:4x720x1280:8X1080x1920") == ((1, 360, 640), (4, 720, 1280), (8, 1080, 1920))
    assert profile_text(parse_shapes("360x640:720x1280:1080x1920")) == "1x360x640:1x720x1280:1x1080x1920"
    for name in DEFAULT_STYLE_SHAPES.values():
        parse_shapes(name)


@pytest.mark.parametrize("bad", ["720x1280", "360x640:720x1280:1080", "a:b:c", "720x1280:360x640:1080x1920", "0x1:1x1:1x1"])
def test_parse_shapes_refuses(bad: str) -> None:
    with pytest.raises(UserError, match="--shapes"):
        parse_shapes(bad)


def test_profile_follows_each_inputs_layout() -> None:
    shapes = parse_shapes("1x360x640:2x720x1280:4x1080x1920")
    dims = {"frames": ["batch", "height", "width", 3], "style_vector": [1, 2, 512], "alpha": [1]}
    assert profile_shapes(dims, shapes) == {"frames": ((1, 360, 640, 3), (2, 720, 1280, 3), (4, 1080, 1920, 3))}
    nchw = {"style": ["batch", 3, "height", "width"]}
    assert profile_shapes(nchw, shapes)["style"][2] == (4, 3, 1080, 1920)
    with pytest.raises(UserError, match="not batch/height/width"):
        profile_shapes({"x": ["n", 3]}, shapes)


# --------------------------------------------------------------------------- engine keys and refusals


def _fake_engine(store: Store, tmp_path: Path, gpu: GpuInfo = H100, version: str = "10.8.0") -> tuple[Path, Path]:
    """An 'engine' file with its record, for a fake ONNX file: what build_engine writes."""
    import hashlib

    onnx_path = tmp_path / "stylizer.onnx"
    onnx_path.write_bytes(b"not really onnx")
    key = current_key(onnx_path, "stylizer", "adain-0123456789abcdef", gpu, version, "1x360x640:1x720x1280:1x1080x1920")
    path = engine_path(store, key)
    path.parent.mkdir(parents=True)
    data = b"serialized engine"
    path.write_bytes(data)
    record = {**key.__dict__, "engine_sha256": hashlib.sha256(data).hexdigest()}
    _record_path(path).write_text(json.dumps(record))
    return path, onnx_path


def test_engine_key_names_everything_it_depends_on(tmp_path: Path) -> None:
    key = EngineKey("stylizer", "adain-x", "ab" * 32, "NVIDIA H100 80GB HBM3", "9.0", "10.8.0", "1x360x640:1x720x1280:1x1080x1920")
    stem = key.stem()
    assert stem.startswith("stylizer-abababababababab-nvidia-h100-80gb-hbm3-sm90-trt10.8.0-")
    other = EngineKey(*[*key.__dict__.values()][:-1], "1x360x640:1x720x1280:1x720x1280")
    assert other.stem() != stem
    assert engine_path(Store(tmp_path), key) == tmp_path / "engines" / "adain-x" / f"{stem}.engine"


def test_load_checked_accepts_a_matching_engine(tmp_path: Path) -> None:
    path, onnx_path = _fake_engine(Store(tmp_path / "s"), tmp_path)
    assert load_checked(path, onnx_path, H100, "10.8.0") == b"serialized engine"


def test_load_checked_refuses_stale_engine(tmp_path: Path) -> None:
    path, onnx_path = _fake_engine(Store(tmp_path / "s"), tmp_path)
    onnx_path.write_bytes(b"re-exported graph")
    with pytest.raises(UserError, match="stale"):
        load_checked(path, onnx_path, H100, "10.8.0")


def test_load_checked_refuses_foreign_engines(tmp_path: Path) -> None:
    path, onnx_path = _fake_engine(Store(tmp_path / "s"), tmp_path)
    with pytest.raises(UserError, match="built for NVIDIA H100"):
        load_checked(path, onnx_path, GpuInfo("NVIDIA A100-SXM4-80GB", "8.0"), "10.8.0")
    with pytest.raises(UserError, match="TensorRT 10.8.0, this is 11.0.0"):
        load_checked(path, onnx_path, H100, "11.0.0")


def test_load_checked_refuses_damaged_or_unrecorded_engines(tmp_path: Path) -> None:
    path, onnx_path = _fake_engine(Store(tmp_path / "s"), tmp_path)
    path.write_bytes(b"serialized engine, patched")
    with pytest.raises(UserError, match="damaged"):
        load_checked(path, onnx_path, H100, "10.8.0")
    _record_path(path).unlink()
    with pytest.raises(UserError, match="no readable record"):
        load_checked(path, onnx_path, H100, "10.8.0")


# --------------------------------------------------------------------------- CLI without TensorRT / GPU


def _tensorrt_importable() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(_tensorrt_importable(), reason="tensorrt is installed here")
def test_build_engine_without_tensorrt_is_one_line_error(tmp_path: Path, capsys) -> None:
    rc = main(["--home", str(tmp_path), "build-engine", "--model", "adain", "--shapes", "360x640:720x1280:1080x1920"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "TensorRT is not installed" in err


def test_build_engine_without_gpu_is_one_line_error(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("tensorrt")
    fake.__version__ = "10.8.0"
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    from stylize.export import tensorrt_build

    def no_gpu(device: int = 0) -> GpuInfo:
        raise UserError("no CUDA GPU found; TensorRT engines need an NVIDIA GPU")

    monkeypatch.setattr(tensorrt_build, "gpu_info", no_gpu)  # whatever this machine has
    rc = main(["--home", str(tmp_path), "build-engine", "--model", "adain", "--shapes", "360x640:720x1280:1080x1920"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "no CUDA GPU" in err


def test_export_without_weights_is_one_line_error(tmp_path: Path, capsys) -> None:
    rc = main(["--home", str(tmp_path), "export", "--model", "magenta", "--fp16"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "magenta weights not installed" in err


# --------------------------------------------------------------------------- checks on hand-made graphs


def _model(nodes: list, inputs: list, outputs: list, inits: list | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits or [])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _axes() -> onnx.TensorProto:
    return numpy_helper.from_array(np.array([2, 3], np.int64), "axes")


def test_check_flags_fp16_statistics() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 4, 1, 1])

    def variance(nodes: list) -> onnx.ModelProto:
        return _model(nodes, [x], [y], [_axes()])

    naive = variance(
        [
            helper.make_node("ReduceMean", ["x", "axes"], ["m"]),
            helper.make_node("Sub", ["x", "m"], ["d"]),
            helper.make_node("Mul", ["d", "d"], ["sq"]),
            helper.make_node("ReduceMean", ["sq", "axes"], ["y"]),
        ]
    )
    assert any("runs in FP16" in p for p in checks.check_fp16(naive))
    # reductions in FP32, but the square computed in FP16 and cast afterwards: already overflowed
    late_cast = variance(
        [
            helper.make_node("Cast", ["x"], ["x32"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["x32", "axes"], ["m"]),
            helper.make_node("Cast", ["m"], ["m16"], to=TensorProto.FLOAT16),
            helper.make_node("Sub", ["x", "m16"], ["d"]),
            helper.make_node("Mul", ["d", "d"], ["sq"]),
            helper.make_node("Cast", ["sq"], ["sq32"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["sq32", "axes"], ["v"]),
            helper.make_node("Cast", ["v"], ["y"], to=TensorProto.FLOAT16),
        ]
    )
    problems = "\n".join(checks.check_fp16(late_cast))
    assert "FP16 Mul output 'sq' feeds the reduction" in problems and "runs in FP16" not in problems
    right = variance(
        [
            helper.make_node("Cast", ["x"], ["x32"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["x32", "axes"], ["m"]),
            helper.make_node("Sub", ["x32", "m"], ["d"]),
            helper.make_node("Mul", ["d", "d"], ["sq"]),
            helper.make_node("ReduceMean", ["sq", "axes"], ["v"]),
            helper.make_node("Sqrt", ["v"], ["std"]),
            helper.make_node("Cast", ["std"], ["y"], to=TensorProto.FLOAT16),
        ]
    )
    assert checks.check_fp16(right) == []
    assert checks.check_graph(right) == []


def test_check_flags_tensorrt_problems() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    model = _model(
        [
            helper.make_node("Resize", ["x", "", "scales"], ["r"], mode="nearest"),
            helper.make_node("Unique", ["r"], ["y"]),
            helper.make_node("Cast", ["r"], ["u8"], to=TensorProto.UINT8),
            helper.make_node("Cast", ["u8"], ["back"], to=TensorProto.FLOAT),
        ],
        [x],
        [y],
        [scales],
    )
    problems = "\n".join(checks.check_tensorrt_support(model))
    assert "Unique" in problems and "not supported" in problems
    assert "uses scales, not sizes" in problems
    assert "UINT8 tensor 'u8' inside the graph" in problems
    assert onnx_passes.resize_scales_to_sizes(model) == 1
    assert "uses scales" not in "\n".join(checks.check_tensorrt_support(model))


def test_resize_rewrite_keeps_results() -> None:
    ort = pytest.importorskip("onnxruntime")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    model = _model([node], [x], [y], [scales])
    data = np.random.default_rng(0).random((2, 3, 5, 7), dtype=np.float32)
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": data})[0]
    onnx_passes.resize_scales_to_sizes(model)
    after = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": data})[0]
    assert after.shape == (2, 3, 10, 14) and np.array_equal(before, after)


def test_uint8_wrapper_is_exact_around_an_identity_core() -> None:
    ort = pytest.importorskip("onnxruntime")
    dims = ["batch", 3, "height", "width"]
    core = _model(
        [helper.make_node("Identity", ["frames"], ["stylized"])],
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, dims)],
    )
    wrapped = onnx_passes.wrap_frames_uint8_nhwc(core)
    assert checks.check_graph(wrapped) == []
    frames = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    out = ort.InferenceSession(wrapped.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"frames": frames})[0]
    assert out.dtype == np.uint8 and np.array_equal(out, frames)


def test_supported_ops_list_has_its_source() -> None:
    ops, info = checks.load_supported_ops()
    assert info["tensorrt_version"] and info["opset_range"] == "9-24"
    assert {"Conv", "Pad", "Resize", "ReduceMean", "Cast", "Round", "Clip", "Transpose"} <= set(ops)
    assert "UINT8" in ops["Cast"] and "FP16" in ops["Conv"]
    assert "onnx-tensorrt" in checks.SUPPORTED_OPS_FILE.read_text().split("\n\n")[0]


# --------------------------------------------------------------------------- with TensorRT and a GPU


def _gpu_present() -> bool:
    try:
        from stylize.export.tensorrt_build import gpu_info

        gpu_info()
    except UserError:
        return False
    return True


def _need_tensorrt() -> None:
    if not _tensorrt_importable():
        pytest.skip("tensorrt does not import here (TensorRT is not installed)")
    if not _gpu_present():
        pytest.skip("no CUDA GPU here")


def test_tensorrt_build_and_run_fp16_adain(tmp_path: Path) -> None:
    """Build the FP16 AdaIN stylizer strongly typed, run it, compare with ONNX Runtime FP32."""
    _need_tensorrt()
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    import tensorrt

    from stylize.export.onnx_export import WeightsIdentity, export_graphs, save_graphs
    from stylize.runtime.backends.tensorrt.build import build_engine
    from stylize.runtime.backends.tensorrt.keys import gpu_info
    from stylize.runtime.backends.tensorrt.runner import TrtRunner
    from stylize.training.models import build_stylizer

    torch.manual_seed(0)
    module = build_stylizer("adain").eval()
    store = Store(tmp_path / "store")
    paths = {}
    for precision in ("fp32", "fp16"):
        graphs = export_graphs(module, "adain", weights=WeightsIdentity.random("adain"), precision=precision)
        paths[precision] = save_graphs(graphs, tmp_path / precision)
    gpu = gpu_info()
    shapes = parse_shapes("1x64x64:1x256x256:2x512x512")
    engine = build_engine(store, paths["fp16"]["stylizer"], shapes, gpu=gpu)
    assert engine.is_file() and build_engine(store, paths["fp16"]["stylizer"], shapes, gpu=gpu) == engine  # reused
    data = load_checked(engine, paths["fp16"]["stylizer"], gpu, tensorrt.__version__)
    frames = np.random.default_rng(0).integers(0, 256, (2, 200, 300, 3), dtype=np.uint8)
    with torch.inference_mode():
        vec = module.encode_style(torch.rand(1, 3, 128, 128)).numpy()
    feeds = {"frames": frames, "style_vector": vec, "alpha": np.array([1.0], np.float32)}
    with TrtRunner(data) as run:
        out = run(feeds)["stylized"]
    ref = ort.InferenceSession(str(paths["fp32"]["stylizer"]), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert out.shape == ref.shape == (2, 200, 300, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 2

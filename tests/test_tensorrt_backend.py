"""The TensorRT engine (``--backend tensorrt``): choosing it, refusing it in one line where it
cannot run, choosing a kept engine or why to build one, and the engine's own flow (engines
built on first use, reused from the store, rebuilt when stale, foreign or damaged) with a fake
TensorRT. The real engine runs only where TensorRT and a CUDA GPU are present."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import sys
import types
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error, rng_image, run_cli

from stylize.runtime import backends
from stylize.runtime.backends.tensorrt import build as build_mod
from stylize.runtime.backends.tensorrt import engine as engine_mod
from stylize.runtime.backends.tensorrt import keys
from stylize.runtime.backends.tensorrt.keys import EngineKey, GpuInfo, choose_engine, covers, first_use_profile, parse_shapes, rebuild_reason
from stylize.runtime.backends.tensorrt.runner import NotDeserialised
from stylize.runtime.errors import UserError
from stylize.runtime.models import FAMILIES, ModelWeights
from stylize.runtime.store import Store, WeightsRecord, record_graph_digest

H100 = GpuInfo("NVIDIA H100 80GB HBM3", "9.0")
A100 = GpuInfo("NVIDIA A100-SXM4-80GB", "8.0")
SHA = "ab" * 32
ONNX = Path("/graphs/stylizer.onnx")


def _weights(family: str = "magenta") -> ModelWeights:
    records = {
        role: WeightsRecord(name, layout, sha256=f"{i}" * 64, path=Path(f"{name}.safetensors"))
        for i, (role, (layout, name)) in enumerate(FAMILIES[family].roles.items())
    }
    return ModelWeights(family, records)


def _spec_finder(monkeypatch: pytest.MonkeyPatch, missing: set[str]) -> None:
    """``importlib.util.find_spec`` that finds nothing in ``missing`` (and a stand-in for the
    present ones that are not really installed here)."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object):  # noqa: ANN202
        if name in missing:
            return None
        return real(name, *args) or importlib.machinery.ModuleSpec(name, None)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def _tensorrt_here(monkeypatch: pytest.MonkeyPatch, gpu: GpuInfo | None = H100) -> None:
    """TensorRT, onnx and cuda-python 'installed'; a GPU (or none)."""
    _spec_finder(monkeypatch, {"torch"})
    monkeypatch.setattr(keys, "cudart_or_error", lambda: object())

    def gpu_info(device: int = 0) -> GpuInfo:
        if gpu is None:
            raise UserError("no CUDA GPU found; TensorRT engines need an NVIDIA GPU")
        return gpu

    monkeypatch.setattr(keys, "gpu_info", gpu_info)


def _export_marker(store: Store, weights: ModelWeights, precision: str = "fp32") -> None:
    folder = store.graph_folder(weights.model_id, precision)
    folder.mkdir(parents=True)
    for g in ("style_encoder", "stylizer"):
        (folder / f"{g}.onnx").write_bytes(b"")


# --------------------------------------------------------------------------- choosing the backend


def test_tensorrt_unavailable_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    _spec_finder(monkeypatch, {"tensorrt"})
    assert keys.tensorrt_unavailable() == "TensorRT is not installed"
    _spec_finder(monkeypatch, {"onnx"})
    assert keys.tensorrt_unavailable() == "onnx is not installed"
    _tensorrt_here(monkeypatch, gpu=None)
    assert "no CUDA GPU" in keys.tensorrt_unavailable()
    _tensorrt_here(monkeypatch)
    assert keys.tensorrt_unavailable("cuda:0") is None
    assert keys.tensorrt_unavailable("cpu") == "--device cpu"


def test_auto_prefers_tensorrt_where_it_runs_and_the_graphs_are_exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, weights = Store(tmp_path), _weights()
    _tensorrt_here(monkeypatch)
    backend, why = backends.choose_backend(store, weights)
    assert backend != "tensorrt"  # nothing exported: nothing to build from
    _export_marker(store, weights, "fp16")
    backend, why = backends.choose_backend(store, weights)
    assert backend == "tensorrt" and "TensorRT" in why and "kept in the store" in why
    assert backends.choose_backend(store, weights, device="cpu")[0] != "tensorrt"
    folder = tmp_path / "graphs"
    assert backends.choose_backend(store, weights, graphs=folder)[0] == "tensorrt"


def test_auto_without_tensorrt_keeps_to_the_other_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, weights = Store(tmp_path), _weights()
    _spec_finder(monkeypatch, {"tensorrt", "torch"})
    _export_marker(store, weights, "fp32")
    assert backends.choose_backend(store, weights)[0] == "onnxruntime"
    backend, why = backends.choose_backend(store, weights, graphs=tmp_path / "graphs")
    assert backend == "onnxruntime" and "TensorRT is not installed" in why


def test_the_choice_is_logged_with_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    store, weights = Store(tmp_path), _weights()
    _tensorrt_here(monkeypatch)
    _export_marker(store, weights, "fp16")
    opened = {}

    class FakeEngine:
        def __init__(self, store: Store, weights: ModelWeights, device: str = "auto", folder: object = None) -> None:
            opened.update(device=device, folder=folder)

    monkeypatch.setattr(engine_mod, "TensorRTEngine", FakeEngine)
    caplog.set_level(logging.INFO, logger="stylize")
    assert isinstance(backends.open_engine(store, weights, "auto", "cuda"), FakeEngine)
    assert opened == {"device": "cuda", "folder": None}
    assert "backend tensorrt: TensorRT and a CUDA GPU" in caplog.text
    with pytest.raises(UserError, match="--graphs runs exported graphs"):
        backends.open_engine(store, weights, "torch", graphs=tmp_path)


# --------------------------------------------------------------------------- one-line errors


def _tensorrt_importable() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from PIL import Image as PILImage

    folder = tmp_path_factory.mktemp("trt_pictures")
    paths = {}
    for name, (h, w, seed) in {"content": (48, 64, 1), "style": (64, 64, 3)}.items():
        paths[name] = folder / f"{name}.png"
        PILImage.fromarray((rng_image(h, w, seed) * 255).astype(np.uint8)).save(paths[name])
    return paths


@pytest.mark.skipif(_tensorrt_importable(), reason="tensorrt is installed here")
def test_image_with_backend_tensorrt_without_tensorrt_is_one_line(adain_store: Path, pictures: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "o.png"
    code, _, err = run_cli(capsys, "image", pictures["content"], "--style", pictures["style"], "--backend", "tensorrt", "-o", out)
    line = one_line_error(err)
    assert code == 2 and "TensorRT is not installed" in line and "install TensorRT" in line
    assert not out.exists()


@pytest.mark.skipif(_tensorrt_importable(), reason="tensorrt is installed here")
def test_bench_with_backend_tensorrt_without_tensorrt_is_one_line(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    pytest.importorskip("torch")
    code, _, err = run_cli(capsys, "--home", tmp_path, "bench", "--quick", "--backend", "tensorrt")
    assert code == 2 and "TensorRT is not installed" in one_line_error(err)


def test_image_with_backend_tensorrt_without_gpu_is_one_line(
    adain_store: Path, pictures: dict[str, Path], tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    fake = types.ModuleType("tensorrt")
    fake.__version__ = "10.8.0"
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    no_devices = types.SimpleNamespace(cudaGetDeviceCount=lambda: (0, 0))
    monkeypatch.setattr(keys, "cudart_or_error", lambda: no_devices)
    monkeypatch.setattr(engine_mod, "cudart_or_error", lambda: no_devices)
    out = tmp_path / "o.png"
    base = ["image", pictures["content"], "--style", pictures["style"], "--backend", "tensorrt", "-o", out]
    code, _, err = run_cli(capsys, *base)
    assert code == 2 and "no CUDA GPU found" in one_line_error(err)
    code, _, err = run_cli(capsys, *base, "--device", "cpu")
    assert code == 2 and "--device cpu: the tensorrt backend runs on an NVIDIA GPU" in one_line_error(err)
    assert not out.exists()


def test_bench_knows_the_tensorrt_backends(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from stylize.benchmarks import run as bench

    plan = bench.backend_plan("tensorrt", quick=True)
    assert plan.device == "cuda" and {c.backend for c in plan.cases} == {"tensorrt"} and plan.live[1] == plan.video[1] == "tensorrt"
    cpu = bench.backend_plan("onnxruntime", quick=True)
    assert {c.backend for c in cpu.cases} == {"onnxruntime"} and cpu.device == "cpu"
    assert [c.backend for c in bench.backend_plan("auto", quick=True).cases] == [c.backend for c in bench.quick_plan().cases]
    opened = []
    monkeypatch.setattr(bench, "_exported", lambda store, weights, precision: None)
    monkeypatch.setattr(engine_mod, "TensorRTEngine", lambda store, weights, device, precision: opened.append((device, precision)))
    for name in ("tensorrt", "tensorrt-fp16", "tensorrt-fp32"):
        bench.open_bench_engine(Store(tmp_path), _weights(), name, "cuda")
    assert opened == [("cuda", "fp16"), ("cuda", "fp16"), ("cuda", "fp32")]
    with pytest.raises(ValueError, match="unknown benchmark backend"):
        bench.open_bench_engine(Store(tmp_path), _weights(), "tensorrt-int8", "cuda")


# --------------------------------------------------------------------------- which engine, or why build


def _kept(profile: str, *, gpu: GpuInfo = H100, version: str = "10.8.0", sha: str = SHA, graph: str = "stylizer", onnx: Path = ONNX) -> tuple[Path, dict]:
    key = EngineKey(graph, "magenta-x", sha, gpu.name, gpu.compute_capability, version, profile)
    return Path(f"/store/engines/magenta-x/{key.stem()}.engine"), {**asdict(key), "engine_sha256": "e" * 64, "onnx_path": str(onnx)}


def _choose(kept: list, shape: tuple[int, int, int], gpu: GpuInfo = H100, version: str = "10.8.0") -> tuple[Path | None, str | None]:
    return choose_engine(kept, "stylizer", ONNX, SHA, gpu, version, shape)


def test_an_engine_whose_profile_covers_the_shape_is_chosen() -> None:
    wide = _kept("1x360x640:1x720x1280:1x1080x1920")  # what `stylize build-engine` builds
    exact = _kept("1x720x1280:2x720x1280:2x720x1280")  # what a first use builds
    small = _kept("1x64x64:1x128x128:1x256x256")
    assert _choose([wide, small], (1, 720, 1280)) == (wide[0], None)
    assert _choose([wide, small], (1, 500, 900)) == (wide[0], None)
    assert _choose([wide, exact, small], (2, 720, 1280)) == (exact[0], None)  # its optimum
    assert _choose([wide, exact], (1, 720, 1280)) == (wide[0], None)  # wide's optimum is (1, 720, 1280)
    assert _choose([wide, small], (1, 1440, 2560)) == (None, None)  # none covers: build, nothing to say
    assert _choose([wide, small], (2, 720, 1280)) == (None, None)  # batch 2 is outside both
    other_graph = _kept("1x360x640:1x720x1280:1x1080x1920", graph="style_encoder")
    other_file = _kept("1x360x640:1x720x1280:1x1080x1920", sha="cd" * 32, onnx=Path("/graphs/fp32/stylizer.onnx"))
    assert _choose([other_graph, other_file, (Path("/x.engine"), None)], (1, 720, 1280)) == (None, None)


def test_stale_and_foreign_engines_are_rebuilt_with_the_reason() -> None:
    profile = "1x360x640:1x720x1280:1x1080x1920"
    stale = _kept(profile, sha="cd" * 32)  # this graph file, since re-exported
    path, why = _choose([stale], (1, 720, 1280))
    assert path is None and "is stale: built from ONNX cdcdcdcdcdcd, stylizer.onnx is now abababababab" in why
    path, why = _choose([_kept(profile, gpu=A100)], (1, 720, 1280))
    assert path is None and "was built for NVIDIA A100-SXM4-80GB (sm 8.0), this GPU is NVIDIA H100 80GB HBM3 (sm 9.0)" in why
    path, why = _choose([_kept(profile)], (1, 720, 1280), version="11.0.0")
    assert path is None and "was built with TensorRT 10.8.0, this is 11.0.0" in why
    mine = _kept(profile)
    assert _choose([_kept(profile, gpu=A100), mine], (1, 720, 1280)) == (mine[0], None)  # a shared store: ours is used


def test_rebuild_reasons() -> None:
    _, record = _kept("1x16x16:1x16x16:1x16x16")
    assert rebuild_reason("e.engine", record, "stylizer.onnx", SHA, H100, "10.8.0") is None
    assert rebuild_reason("e.engine", record, "stylizer.onnx", SHA, H100, "10.8.0", "e" * 64) is None
    assert "damaged" in rebuild_reason("e.engine", record, "stylizer.onnx", SHA, H100, "10.8.0", "f" * 64)
    assert "no readable record (e.json)" in rebuild_reason("e.engine", None, "stylizer.onnx", SHA, H100, "10.8.0")
    assert "stale" in rebuild_reason("e.engine", record, "stylizer.onnx", "cd" * 32, H100, "10.8.0")


def test_first_use_profiles() -> None:
    assert first_use_profile("stylizer", "magenta", (4, 720, 1280)) == ((1, 720, 1280), (4, 720, 1280), (4, 720, 1280))
    assert first_use_profile("style_encoder", "adain", (1, 512, 683)) == parse_shapes(keys.DEFAULT_STYLE_SHAPES["adain"])
    assert first_use_profile("style_encoder", "adain", (1, 512, 2600)) == ((1, 512, 2600),) * 3
    assert first_use_profile("style_encoder", "magenta", (1, 256, 256)) == ((1, 256, 256),) * 3
    assert covers(parse_shapes("1x16x16:1x32x32:2x64x64"), (2, 16, 64)) and not covers(parse_shapes("16x16:32x32:64x64"), (2, 32, 32))


# --------------------------------------------------------------------------- the engine, with a fake TensorRT


def _graphs(folder: Path, weights: ModelWeights, precision: str = "fp16", note: str = "") -> Path:
    """Two small ONNX files with the inputs and metadata `stylize export` gives its graphs."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    folder.mkdir(parents=True, exist_ok=True)
    vec = list(FAMILIES[weights.family].style_vector_shape)
    io = {
        "style_encoder": ([("style", TensorProto.FLOAT, ["batch", 3, "height", "width"])], ("style_vector", ["batch", *vec]), "float32"),
        "stylizer": (
            [("frames", TensorProto.UINT8, ["batch", "height", "width", 3]), ("style_vector", TensorProto.FLOAT, [1, *vec]), ("alpha", TensorProto.FLOAT, [1])],
            ("stylized", ["batch", "height", "width", 3]),
            "uint8",
        ),
    }
    for graph, (inputs, (out_name, out_dims), dtype) in io.items():
        first = inputs[0]
        out_type = TensorProto.UINT8 if graph == "stylizer" else TensorProto.FLOAT
        node = helper.make_node("Identity", [first[0]], [out_name])
        model = helper.make_model(
            helper.make_graph(
                [node], graph, [helper.make_tensor_value_info(n, t, d) for n, t, d in inputs], [helper.make_tensor_value_info(out_name, out_type, out_dims)]
            )
        )
        meta = {"family": weights.family, "graph": graph, "model_id": weights.model_id, "precision": precision, "input_dtype": dtype, "note": note}
        for k, v in meta.items():
            model.metadata_props.add(key=k, value=v)
        onnx.save_model(model, str(folder / f"{graph}.onnx"))
        record_graph_digest(folder / f"{graph}.onnx")
    return folder


class _FakeRunner:
    """Stands in for TrtRunner: 'deserialises' the fake engine bytes, checks the shapes it is
    run with against the engine's profile, returns the frames unchanged."""

    def __init__(self, data: bytes, device: int = 0) -> None:
        if data.startswith(b"broken"):
            raise NotDeserialised("TensorRT could not deserialise the engine")
        self.built = json.loads(data)
        self.graph = self.built["graph"]
        self.inputs = ["style"] if self.graph == "style_encoder" else ["frames", "style_vector", "alpha"]
        self.outputs = ["style_vector"] if self.graph == "style_encoder" else ["stylized"]

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = feeds[self.inputs[0]]
        lo, _, hi = self.built["profile"][self.inputs[0]]
        assert all(a <= s <= b for a, s, b in zip(lo, x.shape, hi)), (x.shape, lo, hi)
        if self.graph == "style_encoder":
            return {"style_vector": np.full((1, 100), float(x.mean()), np.float32)}
        return {"stylized": x.copy()}

    def close(self) -> None:
        pass


@pytest.fixture
def fake_trt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A store, magenta weights, a folder of their graphs, and TensorRT faked at its edges:
    the build (``build_serialized``), deserialising and running (``TrtRunner``), the GPU."""
    fake = types.ModuleType("tensorrt")
    fake.__version__ = "10.8.0"
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    env = types.SimpleNamespace(store=Store(tmp_path / "store"), weights=_weights(), gpu=H100, builds=[])
    env.folder = _graphs(tmp_path / "graphs", env.weights)

    def build_serialized(onnx_path: Path, profile: dict, cache_file: Path, workspace_gib: float | None = None) -> bytes:
        env.builds.append((onnx_path.stem, profile))
        return json.dumps({"graph": onnx_path.stem, "profile": profile}).encode()

    monkeypatch.setattr(build_mod, "build_serialized", build_serialized)
    monkeypatch.setattr(engine_mod, "TrtRunner", _FakeRunner)
    monkeypatch.setattr(engine_mod, "cudart_or_error", lambda: object())
    monkeypatch.setattr(engine_mod, "gpu_info", lambda device=0: env.gpu)
    env.open = lambda **kw: engine_mod.TensorRTEngine(env.store, env.weights, folder=env.folder, **kw)
    return env


def _frames(n: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(n * h + w).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_engines_are_built_on_first_use_and_kept(fake_trt: types.SimpleNamespace, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stylize")
    engine = fake_trt.open()
    assert engine.backend == "tensorrt-fp16" and engine.capabilities.uint8_frames and engine.capabilities.device == "cuda"
    vec = engine.encode_style(rng_image(256, 256))
    frames = _frames(2, 32, 48)
    np.testing.assert_array_equal(engine.stylize_uint8(frames, vec), frames)
    np.testing.assert_array_equal(engine.stylize_uint8(frames[:1], vec), frames[:1])  # a smaller last batch: same engine
    assert [g for g, _ in fake_trt.builds] == ["style_encoder", "stylizer"]
    assert fake_trt.builds[1][1] == {"frames": ((1, 32, 48, 3), (2, 32, 48, 3), (2, 32, 48, 3))}
    assert fake_trt.builds[0][1]["style"][0] == (1, 3, 256, 256)  # magenta's default style profile
    notes = [r.getMessage() for r in caplog.records if "building" in r.getMessage()]
    assert len(notes) == 2 and "building the TensorRT engine of the magenta stylizer (fp16) for 1x32x48:2x32x48:2x32x48" in notes[1]
    assert "kept in the store" in notes[1]
    # another process: the engines come from the store
    caplog.clear()
    again = fake_trt.open()
    np.testing.assert_array_equal(again.stylize_uint8(frames, vec), frames)
    again.encode_style(rng_image(256, 256))
    assert len(fake_trt.builds) == 2 and "building" not in caplog.text
    # float frames go through the same bytes
    assert again.stylize(frames.astype(np.float32) / 255, vec).dtype == np.float32
    again.stylize_uint8(_frames(1, 40, 40), vec)  # a new size: one more engine
    assert len(fake_trt.builds) == 3


def test_a_build_engine_profile_is_reused(fake_trt: types.SimpleNamespace) -> None:
    from stylize.export.tensorrt_build import build_engines

    build_engines(fake_trt.store, fake_trt.folder, parse_shapes("16x16:64x64:128x128"), parse_shapes(keys.DEFAULT_STYLE_SHAPES["magenta"]), gpu=H100)
    assert len(fake_trt.builds) == 2
    engine = fake_trt.open()
    for shape in ((1, 16, 16), (1, 50, 70), (1, 128, 128)):
        engine.stylize_uint8(_frames(*shape), np.zeros(100, np.float32))
    engine.encode_style(rng_image(256, 256))
    assert len(fake_trt.builds) == 2


def _rebuild_note(fake_trt: types.SimpleNamespace, caplog: pytest.LogCaptureFixture) -> str:
    caplog.clear()
    before = len(fake_trt.builds)
    fake_trt.open().stylize_uint8(_frames(1, 32, 48), np.zeros(100, np.float32))
    assert len(fake_trt.builds) == before + 1
    notes = [r.getMessage() for r in caplog.records if "building" in r.getMessage()]
    assert len(notes) == 1, notes
    return notes[0]


def test_stale_foreign_and_damaged_engines_are_rebuilt(fake_trt: types.SimpleNamespace, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stylize")
    fake_trt.open().stylize_uint8(_frames(1, 32, 48), np.zeros(100, np.float32))
    (engine_file,) = [p for p in fake_trt.store.engine_paths(fake_trt.weights.model_id) if p.name.startswith("stylizer-")]
    engine_file.write_bytes(engine_file.read_bytes() + b" ")
    assert "does not match its record (damaged or replaced); building the TensorRT engine" in _rebuild_note(fake_trt, caplog)
    engine_file.write_bytes(b"broken engine")  # bytes TensorRT refuses, with a record that matches them
    record = json.loads(keys.record_path(engine_file).read_text())
    record["engine_sha256"] = hashlib.sha256(b"broken engine").hexdigest()
    keys.record_path(engine_file).write_text(json.dumps(record))
    assert "TensorRT could not deserialise the engine stylizer-" in _rebuild_note(fake_trt, caplog)
    fake_trt.gpu = A100
    assert "was built for NVIDIA H100 80GB HBM3 (sm 9.0), this GPU is NVIDIA A100-SXM4-80GB (sm 8.0)" in _rebuild_note(fake_trt, caplog)
    _graphs(fake_trt.folder, fake_trt.weights, note="exported again")
    assert "is stale: built from ONNX" in _rebuild_note(fake_trt, caplog)


def test_store_graphs_fp16_preferred_else_fp32_with_a_note(fake_trt: types.SimpleNamespace, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stylize")
    store, weights = fake_trt.store, fake_trt.weights
    with pytest.raises(UserError, match=r"run `stylize export --model magenta --fp16` first"):
        engine_mod.TensorRTEngine(store, weights)
    _graphs(store.graph_folder(weights.model_id, "fp32"), weights, precision="fp32")
    assert engine_mod.TensorRTEngine(store, weights).precision == "fp32"
    assert "`stylize export --model magenta --fp16` writes FP16 ones" in caplog.text
    _graphs(store.graph_folder(weights.model_id, "fp16"), weights, precision="fp16")
    caplog.clear()
    assert engine_mod.TensorRTEngine(store, weights).precision == "fp16" and "FP16" not in caplog.text
    assert engine_mod.TensorRTEngine(store, weights, precision="fp32").precision == "fp32"


def test_graphs_of_other_weights_are_refused(fake_trt: types.SimpleNamespace, tmp_path: Path) -> None:
    other = _weights("magenta")
    other = ModelWeights("magenta", {**other.records, "predictor": WeightsRecord("p", "magenta_predictor", "9" * 64, Path("p"))})
    _graphs(tmp_path / "other", other)
    with pytest.raises(UserError, match="exported from other weights"):
        engine_mod.TensorRTEngine(fake_trt.store, fake_trt.weights, folder=tmp_path / "other")


# --------------------------------------------------------------------------- the real engine


def test_real_tensorrt_engine_against_onnxruntime(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """FP16 TensorRT engines built on first use against ONNX Runtime's FP32 graphs (random
    Magenta weights); a second engine object reuses the kept engines."""
    why = keys.tensorrt_unavailable("cuda")
    if why is not None:
        pytest.skip(f"the TensorRT engine needs TensorRT, onnx, cuda-python and a CUDA GPU: {why}")
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    from stylize.export.onnx_export import export_from_store
    from stylize.runtime.backends.onnxruntime_backend import OnnxRuntimeEngine
    from stylize.runtime.models import find_weights
    from stylize.training.models import build_stylizer

    store = Store(tmp_path / "store")
    torch.manual_seed(1)
    net = build_stylizer("magenta")
    for role, module in (("predictor", net.predictor), ("transformer", net.transformer)):
        store.put_weights(f"magenta-{role}", {k: v.detach().numpy() for k, v in module.state_dict().items()}, layout=f"magenta_{role}")
    weights = find_weights(store, "magenta")
    for precision in ("fp32", "fp16"):
        export_from_store(store, weights, store.graph_folder(weights.model_id, precision), precision=precision)
    engine = engine_mod.TensorRTEngine(store, weights)
    reference = OnnxRuntimeEngine(store, weights, device="cpu")
    assert engine.precision == "fp16" and engine.capabilities.device == "cuda"
    style = rng_image(256, 256, 7)
    vec = reference.encode_style(style)
    assert np.abs(engine.encode_style(style) - vec).max() <= 0.05 * (np.abs(vec).max() + 1e-6)
    frames = (rng_image(120, 160, 8)[None].repeat(2, 0) * 255).astype(np.uint8)
    out, ref = engine.stylize_uint8(frames, vec), reference.stylize_uint8(frames, vec)
    assert out.shape == ref.shape == frames.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.mean() < 2.0 and diff.max() <= 32, (diff.mean(), diff.max())
    caplog.set_level(logging.INFO, logger="stylize")
    caplog.clear()
    np.testing.assert_array_equal(engine_mod.TensorRTEngine(store, weights).stylize_uint8(frames, vec), out)
    assert "building" not in caplog.text
    engine.close()

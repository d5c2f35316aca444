"""ONNX export of both model families: checks, metadata, parity with PyTorch, FP16 numerics,
and the ONNX Runtime engine.

Cost control (2 CPU cores): the four exports (adain / magenta x fp32 / fp16) run once per
session through the real CLI (``stylize export``) in two background processes, started when
the module starts; the FP16 numerics tests, which need no graphs, run meanwhile. Random
weights everywhere except the Magenta FP16 test on the published TFLite weights.

Tolerances:
- FP32 graph vs PyTorch: max abs error <= 1e-4 x the output's range (max - min).
- uint8 output of the stylizer graph: exactly rint(clip(float core, 0, 1) * 255).
- ONNX Runtime engine vs torch engine (frames that are 8-bit values, as all real frames are):
  max abs error <= 0.5/255 + 1e-5, the graph's 8-bit rounding of its output.
- FP16 (PyTorch CPU half, which computes in FP16) vs FP32: PSNR >= 40 dB, peak = FP32 range.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from stylize.export import checks, onnx_passes  # noqa: E402
from stylize.export.graphs import graph_modules  # noqa: E402
from stylize.export.onnx_export import METADATA_KEYS, OPSET, WeightsIdentity, _metadata  # noqa: E402
from stylize.runtime.backends.onnxruntime_backend import OnnxRuntimeEngine  # noqa: E402
from stylize.runtime.errors import UserError  # noqa: E402
from stylize.runtime.models import FAMILIES, ModelWeights, find_weights  # noqa: E402
from stylize.runtime.store import Store  # noqa: E402
from stylize.training.models import build_stylizer, load_stylizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STYLIZE_TEST_SHARED", REPO.parent / "shared"))  # as tests/conftest.py
MAGENTA_WEIGHTS = SHARED / "weights" / "magenta"
DATA = SHARED / "data"
FAMS = ("adain", "magenta")
PRECISIONS = ("fp32", "fp16")


def psnr(test: np.ndarray, ref: np.ndarray) -> float:
    peak = float(ref.max() - ref.min())
    mse = float(np.mean((test.astype(np.float64) - ref.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store with random weights of both families, imported as a user would."""
    from stylize.training.adain.random_weights import write_random_adain
    from stylize.training.weights_io import import_weights

    root = tmp_path_factory.mktemp("store")
    s = Store(root)
    for path in write_random_adain(root / "downloads", seed=0):
        import_weights(s, path)
    torch.manual_seed(1)
    magenta = build_stylizer("magenta")
    for role, module in (("predictor", magenta.predictor), ("transformer", magenta.transformer)):
        arrays = {k: v.detach().numpy() for k, v in module.state_dict().items()}
        s.put_weights(f"magenta-{role}", arrays, layout=f"magenta_{role}")
    return s


class _Exports:
    """The four ``stylize export`` runs, in two background processes (one per core)."""

    CHAINS = (
        (("adain", "fp32"), ("adain", "fp16")),
        (("magenta", "fp16"), ("magenta", "fp32")),
    )

    def __init__(self, store: Store, logs: Path) -> None:
        self.procs = []
        for i, chain in enumerate(self.CHAINS):
            calls = "\n".join(
                f"rc = rc or main(['--home', {str(store.root)!r}, 'export', '--model', {fam!r}{', ' + repr('--fp16') if p == 'fp16' else ''}])"
                for fam, p in chain
            )
            code = f"import sys\nfrom stylize.cli import main\nrc = 0\n{calls}\nsys.exit(rc)\n"
            log = logs / f"export-{i}.log"
            self.procs.append((subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT), log))
        self.done = False

    def wait(self) -> None:
        if self.done:
            return
        for proc, log in self.procs:
            rc = proc.wait(timeout=900)
            if rc != 0:
                pytest.fail(f"stylize export failed (exit {rc}):\n{log.read_text()[-3000:]}")
        self.done = True

    def log_text(self) -> str:
        return "".join(log.read_text() for _, log in self.procs)


@pytest.fixture(scope="module", autouse=True)
def exports(store: Store, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    handle = _Exports(store, tmp_path_factory.mktemp("export-logs"))
    yield handle
    for proc, _ in handle.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def weights(store: Store) -> dict[str, ModelWeights]:
    return {fam: find_weights(store, fam) for fam in FAMS}


@pytest.fixture(scope="module")
def graphs(exports: _Exports, store: Store, weights: dict[str, ModelWeights]) -> dict[tuple[str, str, str], Path]:
    """(family, precision, graph) -> path of the exported .onnx file."""
    exports.wait()
    return {
        (fam, p, g): store.graph_folder(weights[fam].model_id, p) / f"{g}.onnx"
        for fam in FAMS
        for p in PRECISIONS
        for g in ("style_encoder", "stylizer")
    }


@pytest.fixture(scope="module")
def modules(store: Store, weights: dict[str, ModelWeights]) -> dict[str, torch.nn.Module]:
    return {fam: load_stylizer(store, weights[fam]) for fam in FAMS}


def _session(path: Path, expose: str | None = None):  # noqa: ANN202
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    if expose:
        model = onnx_passes.expose(onnx.load(str(path)), expose)
        return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


# --------------------------------------------------------------------------- FP16 numerics (torch half)


@pytest.fixture
def one_thread():  # noqa: ANN201
    """PyTorch's CPU half kernels run ~8x slower on 2 threads than on 1 here (and the
    exports are running beside them)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_fp16_adain_overflow_regime_random_weights(one_thread: None) -> None:
    """conv4_1 scaled so relu4_1's input spans +-1000: FP16 statistics would overflow, ours do not.

    Random VGG features are nearly constant over space (the biases dominate), so the encoder
    biases are zeroed first: the features then vary with the image, as real ones do.
    """
    from stylize.training.adain.net import LAYERS

    torch.manual_seed(0)
    model = build_stylizer("adain").eval()
    gen = torch.Generator().manual_seed(0)
    style, content = torch.rand(1, 3, 40, 32, generator=gen), torch.rand(1, 3, 32, 40, generator=gen)
    conv4_1 = model.encoder[LAYERS["relu4_1"] - 1]
    with torch.no_grad():
        for layer in model.encoder:
            if isinstance(layer, torch.nn.Conv2d):
                layer.bias.zero_()
        peak = max(float(model.encoder[:-1](x).abs().max()) for x in (style, content))
        conv4_1.weight.mul_(1000.0 / peak)
        pre = torch.cat([model.encoder[:-1](x).flatten() for x in (style, content)])
        feat = model.encoder(content).flatten(2)
    assert float(pre.abs().max()) == pytest.approx(1000.0, rel=1e-3) and float(pre.min()) < -500
    assert torch.isinf(feat.half() * feat.half()).any(), "not the overflow regime: E[x^2] fits in FP16"

    enc32, sty32 = graph_modules(model, "fp32")
    enc16, sty16 = graph_modules(model, "fp16")
    alpha = torch.tensor([1.0])
    with torch.inference_mode():
        v32, v16 = enc32(style), enc16(style)
        y32, y16 = sty32(content, v32, alpha), sty16(content, v16, alpha)
    assert torch.isfinite(v16).all() and torch.isfinite(y16).all()
    assert next(sty16.stylizer.parameters()).dtype == torch.float16  # it really ran in half
    assert psnr(y16.numpy(), y32.numpy()) >= 40.0


def _tflite_magenta() -> torch.nn.Module:
    if not (MAGENTA_WEIGHTS / "style_predict_int8_256.tflite").is_file() or not (DATA / "content").is_dir():
        pytest.skip(f"Magenta .tflite weights or test images not found under {SHARED}")
    pytest.importorskip("ai_edge_litert", reason="reading .tflite files needs ai-edge-litert")
    from stylize.training.magenta.tflite_import import read_tflite

    _, predictor = read_tflite(MAGENTA_WEIGHTS / "style_predict_int8_256.tflite")
    _, transformer = read_tflite(MAGENTA_WEIGHTS / "style_transfer_fp16_384.tflite")
    states = {"predictor": {k: torch.from_numpy(v) for k, v in predictor.items()}}
    states["transformer"] = {k: torch.from_numpy(v) for k, v in transformer.items()}
    return build_stylizer("magenta", states).eval()


def _image(path: Path, h: int, w: int) -> torch.Tensor:
    from stylize.runtime.images import load_image, resize

    return torch.from_numpy(resize(load_image(path).rgb, h, w).transpose(2, 0, 1).copy())[None]


def test_fp16_magenta_real_images(one_thread: None) -> None:
    model = _tflite_magenta()
    enc32, sty32 = graph_modules(model, "fp32")
    enc16, sty16 = graph_modules(model, "fp16")
    pairs = [("skimage__chelsea.png", "msgnet21__candy.jpg", 256, 256, 1.0), ("sklearn__china.jpg", "adain__brushstrokes.jpg", 180, 250, 0.6)]
    for content_name, style_name, h, w, alpha in pairs:
        content = _image(DATA / "content" / content_name, h, w)
        style = _image(DATA / "styles" / style_name, 256, 256)
        a = torch.tensor([alpha])
        with torch.inference_mode():
            v32, v16 = enc32(style), enc16(style)
            y32, y16 = sty32(content, v32, a), sty16(content, v16, a)
        assert torch.isfinite(y16).all()
        assert psnr(y16.numpy(), y32.numpy()) >= 40.0, (content_name, style_name)
        assert psnr(v16.numpy(), v32.numpy()) >= 40.0


# --------------------------------------------------------------------------- export, metadata, checks


def test_cli_export_writes_both_graphs(graphs: dict, exports: _Exports, weights: dict[str, ModelWeights]) -> None:
    for path in graphs.values():
        assert path.is_file() and path.stat().st_size > 100_000, path
    log = exports.log_text()
    for fam in FAMS:
        for p in PRECISIONS:
            assert f"{fam} {p}, {weights[fam].model_id}" in log


def test_metadata(graphs: dict, weights: dict[str, ModelWeights]) -> None:
    for (fam, p, g), path in graphs.items():
        model = onnx.load(str(path))
        meta = onnx_passes.metadata(model)
        records = weights[fam].records
        assert set(METADATA_KEYS) <= set(meta), set(METADATA_KEYS) - set(meta)
        assert meta["family"] == fam and meta["graph"] == g and meta["precision"] == p
        assert meta["model_id"] == weights[fam].model_id
        assert meta["weights_sha256"] == ";".join(f"{role}={r.sha256}" for role, r in sorted(records.items()))
        for role, record in records.items():
            assert meta[f"weights_sha256.{role}"] == record.sha256
        assert meta["colour_order"] == "RGB"
        assert meta["opset"] == str(OPSET) == str(next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")))
        assert f"torch {torch.__version__}" in meta["exporter"] and f"onnx {onnx.__version__}" in meta["exporter"]
        if g == "stylizer":
            assert (meta["input_layout"], meta["input_dtype"], meta["value_range"]) == ("NHWC", "uint8", "0..255")
        else:
            assert (meta["input_layout"], meta["input_dtype"], meta["value_range"]) == ("NCHW", "float32", "0..1")


def test_metadata_of_random_weights() -> None:
    meta = _metadata("stylizer", WeightsIdentity.random("magenta"), "fp16", "uint8-nhwc")
    assert meta["weights_sha256"] == "random" and meta["model_id"] == "magenta-random"
    assert meta["style_vector_shape"] == "N,100"


def test_graph_io_is_dynamic(graphs: dict) -> None:
    for (fam, _, g), path in graphs.items():
        model = onnx.load(str(path), load_external_data=False)
        dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
        outs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
        vec = [1, *FAMILIES[fam].style_vector_shape]
        if g == "stylizer":
            assert dims == {"frames": ["batch", "height", "width", 3], "style_vector": vec, "alpha": [1]}
            assert outs == {"stylized": ["batch", "height", "width", 3]}
        else:
            assert dims == {"style": ["batch", 3, "height", "width"]}
            assert outs == {"style_vector": ["batch", *vec[1:]]}


def test_checks_pass_on_every_graph(graphs: dict) -> None:
    """onnx.checker full check, TensorRT operator support, FP16 statistics: all clean."""
    for key, path in graphs.items():
        assert checks.check_graph(onnx.load(str(path))) == [], key


def test_fp16_graphs_are_mixed_precision(graphs: dict) -> None:
    """Convolutions FP16; every reduction and sqrt FP32, entered through explicit Casts."""
    from onnx import TensorProto

    for (fam, p, g), path in graphs.items():
        if p != "fp16":
            continue
        model = onnx.load(str(path))
        types = checks.tensor_types(model)
        convs = [n for n in model.graph.node if n.op_type == "Conv"]
        reductions = [n for n in model.graph.node if n.op_type in checks.REDUCTIONS and types[n.input[0]] in checks.FLOAT_TYPES]
        assert convs and all(types[n.input[0]] == TensorProto.FLOAT16 and types[n.input[1]] == TensorProto.FLOAT16 for n in convs)
        assert reductions and all(types[n.input[0]] == TensorProto.FLOAT for n in reductions), (fam, g)
        casts_to_fp32 = [n for n in model.graph.node if n.op_type == "Cast" and types.get(n.output[0]) == TensorProto.FLOAT]
        assert casts_to_fp32, (fam, g)
        for inp in model.graph.input:  # graph I/O stays FP32 / uint8 whatever the precision
            assert inp.type.tensor_type.elem_type in (TensorProto.FLOAT, TensorProto.UINT8)


def test_resize_uses_sizes(graphs: dict) -> None:
    for key, path in graphs.items():
        for node in onnx.load(str(path)).graph.node:
            if node.op_type == "Resize":
                assert len(node.input) == 4 and node.input[3] and not node.input[2], key


# --------------------------------------------------------------------------- parity with PyTorch (FP32)

SIZES = [(1, 256, 256), (1, 480, 640), (1, 250, 333), (2, 256, 256)]


@pytest.mark.parametrize("fam", FAMS)
def test_stylizer_fp32_matches_torch(fam: str, graphs: dict, modules: dict) -> None:
    module = modules[fam]
    session = _session(graphs[(fam, "fp32", "stylizer")], expose=onnx_passes.FLOAT_STYLIZED)
    rng = np.random.default_rng(0)
    with torch.inference_mode():
        vec = module.encode_style(torch.rand(1, 3, 64, 80, generator=torch.Generator().manual_seed(0))).numpy()
    for (n, h, w), alpha in zip(SIZES, (0.7, 1.0, 0.3, 1.0)):  # alpha 1 takes Magenta's other branch
        frames = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
        stylized, core = session.run(None, {"frames": frames, "style_vector": vec, "alpha": np.array([alpha], np.float32)})
        x = torch.from_numpy(frames.astype(np.float32).transpose(0, 3, 1, 2).copy()) / 255.0
        with torch.inference_mode():
            ref = module(x, torch.from_numpy(vec), alpha).numpy()
        assert core.shape == ref.shape == (n, 3, h, w)
        err = float(np.abs(core - ref).max())
        assert err <= 1e-4 * float(ref.max() - ref.min()), (fam, n, h, w, err)
        assert stylized.shape == (n, h, w, 3) and stylized.dtype == np.uint8
        expected = np.rint(np.clip(core, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1)
        assert np.array_equal(stylized, expected)


def test_magenta_predictor_runs_only_where_alpha_is_not_one(graphs: dict) -> None:
    """The MobileNet predictor's convolutions sit in the else branch of an ``If`` on
    alpha == 1; the frame path outside it holds the transformer's alone."""
    import onnx

    model = onnx.load(str(graphs[("magenta", "fp32", "stylizer")]))
    branches = [n for n in model.graph.node if n.op_type == "If"]
    assert len(branches) == 1

    def convs(graph: onnx.GraphProto) -> int:
        return sum(n.op_type == "Conv" for n in graph.node)

    attrs = {a.name: a.g for a in branches[0].attribute}
    assert convs(attrs["then_branch"]) == 0 and convs(attrs["else_branch"]) >= 17  # the 17 depthwise ones and more
    assert convs(model.graph) == 16  # the transformer: contract 3, residual 5 x 2, expand 3


@pytest.mark.parametrize("fam", FAMS)
def test_style_encoder_fp32_matches_torch(fam: str, graphs: dict, modules: dict) -> None:
    module = modules[fam]
    session = _session(graphs[(fam, "fp32", "style_encoder")])
    gen = torch.Generator().manual_seed(1)
    for n, h, w in SIZES:
        style = torch.rand(n, 3, h, w, generator=gen)
        with torch.inference_mode():
            ref = module.encode_style(style).numpy()
        out = session.run(None, {"style": style.numpy()})[0]
        assert out.shape == ref.shape
        err = float(np.abs(out - ref).max())
        assert err <= 1e-4 * float(ref.max() - ref.min()), (fam, n, h, w, err)


@pytest.mark.parametrize("fam", FAMS)
def test_fp16_graphs_run(fam: str, graphs: dict, modules: dict) -> None:
    """The FP16 graphs load and run in ONNX Runtime (which upcasts on CPU: structure only)."""
    module = modules[fam]
    enc = _session(graphs[(fam, "fp16", "style_encoder")])
    sty = _session(graphs[(fam, "fp16", "stylizer")], expose=onnx_passes.FLOAT_STYLIZED)
    style = torch.rand(1, 3, 64, 80, generator=torch.Generator().manual_seed(2))
    frames = np.random.default_rng(2).integers(0, 256, (2, 72, 90, 3), dtype=np.uint8)
    vec = enc.run(None, {"style": style.numpy()})[0]
    out, core = sty.run(None, {"frames": frames, "style_vector": vec, "alpha": np.array([1.0], np.float32)})
    with torch.inference_mode():
        ref_vec = module.encode_style(style).numpy()
        ref = module(torch.from_numpy(frames.astype(np.float32).transpose(0, 3, 1, 2).copy()) / 255.0, torch.from_numpy(ref_vec), 1.0).numpy()
    assert out.shape == (2, 72, 90, 3) and np.isfinite(core).all()
    assert psnr(vec, ref_vec) >= 30.0 and psnr(core, ref) >= 30.0


# --------------------------------------------------------------------------- ONNX Runtime engine


@pytest.mark.parametrize("fam", FAMS)
def test_onnxruntime_engine_matches_torch_engine(fam: str, graphs: dict, store: Store, weights: dict) -> None:
    from stylize.runtime.backends import open_engine
    from stylize.runtime.models import prepare_style

    ort_engine = open_engine(store, weights[fam], "onnxruntime", "cpu")
    torch_engine = open_engine(store, weights[fam], "torch", "cpu")
    assert ort_engine.backend == "onnxruntime" and ort_engine.provider == "CPUExecutionProvider" and not ort_engine.fell_back
    rng = np.random.default_rng(3)
    style = prepare_style(fam, rng.random((300, 420, 3), dtype=np.float32), 128 if fam == "adain" else None)
    v_ort, v_torch = ort_engine.encode_style(style), torch_engine.encode_style(style)
    assert v_ort.shape == v_torch.shape == FAMILIES[fam].style_vector_shape
    assert np.abs(v_ort - v_torch).max() <= 1e-4 * (v_torch.max() - v_torch.min())
    frames = rng.integers(0, 256, (2, 96, 130, 3)).astype(np.float32) / 255.0  # 8-bit values, as real frames
    out = ort_engine.stylize(frames, v_torch, 0.8)
    ref = np.clip(torch_engine.stylize(frames, v_torch, 0.8), 0.0, 1.0)
    assert out.shape == frames.shape and out.dtype == np.float32
    assert np.abs(out - ref).max() <= 0.5 / 255 + 1e-5
    u8 = ort_engine.stylize_uint8(np.rint(frames * 255).astype(np.uint8), v_torch, 0.8)
    assert np.array_equal(u8, np.rint(out * 255).astype(np.uint8))


def test_onnxruntime_engine_refuses_graphs_of_other_weights(graphs: dict, store: Store, weights: dict) -> None:
    import dataclasses

    w = weights["magenta"]
    role = next(iter(w.records))
    other = ModelWeights("magenta", {**w.records, role: dataclasses.replace(w.records[role], sha256="0" * 64)})
    folder = store.graph_folder(w.model_id, "fp32")
    with pytest.raises(UserError, match="exported from other weights"):
        OnnxRuntimeEngine(store, other, device="cpu", folder=folder)
    with pytest.raises(UserError, match="stylize export --model magenta --fp16"):
        OnnxRuntimeEngine(store, other, device="cpu", precision="fp16")


def test_onnxruntime_engine_detects_provider_fallback(graphs: dict, store: Store, weights: dict, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    """A CUDA provider that is listed but cannot run falls back to CPU: reported, not hidden."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    engine = OnnxRuntimeEngine(store, weights["magenta"], device="auto")
    if engine.provider == "CUDAExecutionProvider":
        pytest.skip("this onnxruntime really runs on CUDA here")
    assert engine.fell_back and engine.provider == "CPUExecutionProvider"
    assert "running on CPU" in caplog.text
    with pytest.raises(UserError, match="could not use CUDAExecutionProvider"):
        OnnxRuntimeEngine(store, weights["magenta"], device="cuda")


def test_runtime_stays_torch_free() -> None:
    code = textwrap.dedent(
        """
        import sys
        import stylize.runtime.backends, stylize.runtime.backends.onnxruntime_backend, stylize.cli, stylize.cli.export
        import stylize.export.checks, stylize.export.onnx_passes, stylize.export.tensorrt_build
        import stylize.runtime.backends.tensorrt.engine, stylize.runtime.backends.tensorrt.runner
        import argparse
        stylize.cli.export.register(argparse.ArgumentParser().add_subparsers())
        bad = [m for m in ("torch", "stylize.training") if m in sys.modules]
        assert not bad, bad
        """
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


# --------------------------------------------------------------------------- tiled stills: the two tile graphs
# Tolerances as above: FP32 graph vs PyTorch <= 1e-4 x the output's range; FP16 PSNR >= 30 dB
# against FP32 PyTorch (ONNX Runtime upcasts FP16 on the CPU: structure and casts only); the
# ONNX Runtime engine's tiled picture vs the torch engine's: max abs <= 1e-3 (both float).


@pytest.fixture(scope="module")
def tile_graphs(graphs: dict, store: Store, weights: dict[str, ModelWeights]) -> dict[tuple[str, str, str], Path]:
    """(family, precision, graph) -> the norm_stats / stylize_tiled graph `stylize export` wrote beside the others."""
    return {
        (fam, p, g): store.graph_folder(weights[fam].model_id, p) / f"{g}.onnx"
        for fam in FAMS
        for p in PRECISIONS
        for g in ("norm_stats", "stylize_tiled")
    }


def _feeds(session, **values: np.ndarray) -> dict[str, np.ndarray]:  # noqa: ANN001
    """The inputs a graph declares (as the ONNX Runtime engine feeds them)."""
    return {i.name: values[i.name] for i in session.get_inputs()}


def test_tile_graphs_metadata_and_checks(tile_graphs: dict, weights: dict[str, ModelWeights]) -> None:
    sizes = {"adain": 1024, "magenta": 794}
    for (fam, p, g), path in tile_graphs.items():
        assert path.is_file() and path.with_name(path.name + ".sha256").is_file(), path
        model = onnx.load(str(path))
        meta = onnx_passes.metadata(model)
        assert set(METADATA_KEYS) <= set(meta) and meta["graph"] == g and meta["model_id"] == weights[fam].model_id
        assert meta["stats_size"] == str(sizes[fam]) and meta["input_dtype"] == "float32"
        outs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
        assert outs == ({"stats": ["batch", sizes[fam]]} if g == "norm_stats" else {"stylized": ["batch", 3, "height", "width"]}), (fam, g, outs)
        assert checks.check_graph(model) == [], (fam, p, g)


@pytest.mark.parametrize("fam", FAMS)
def test_tile_graphs_fp32_match_torch(fam: str, tile_graphs: dict, modules: dict) -> None:
    module = modules[fam]
    stats_graph = _session(tile_graphs[(fam, "fp32", "norm_stats")])
    tiled_graph = _session(tile_graphs[(fam, "fp32", "stylize_tiled")])
    gen = torch.Generator().manual_seed(4)
    with torch.inference_mode():
        vec = module.encode_style(torch.rand(1, 3, 64, 80, generator=gen))
    for (h, w), alpha in (((120, 176), 1.0), ((97, 131), 0.6)):
        picture = torch.rand(1, 3, h, w, generator=gen)
        tiles = torch.rand(2, 3, 64, 72, generator=gen)
        a = np.array([alpha], np.float32)
        with torch.inference_mode():
            ref_stats = module.norm_stats(picture, vec, alpha)
            ref = module(tiles, vec, alpha, stats=ref_stats).numpy()
        stats = stats_graph.run(None, _feeds(stats_graph, content=picture.numpy(), style_vector=vec.numpy(), alpha=a))[0]
        assert stats.shape == tuple(ref_stats.shape)
        err = float(np.abs(stats - ref_stats.numpy()).max())
        assert err <= 1e-4 * float(ref_stats.max() - ref_stats.min()), (fam, h, w, err)
        out = tiled_graph.run(None, _feeds(tiled_graph, frames=tiles.numpy(), style_vector=vec.numpy(), alpha=a, stats=stats))[0]
        assert out.shape == ref.shape == (2, 3, 64, 72)
        err = float(np.abs(out - ref).max())
        assert err <= 1e-4 * float(ref.max() - ref.min()), (fam, h, w, alpha, err)


@pytest.mark.parametrize("fam", FAMS)
def test_tile_graphs_fp16_run(fam: str, tile_graphs: dict, modules: dict) -> None:
    module = modules[fam]
    stats_graph = _session(tile_graphs[(fam, "fp16", "norm_stats")])
    tiled_graph = _session(tile_graphs[(fam, "fp16", "stylize_tiled")])
    gen = torch.Generator().manual_seed(5)
    picture, tiles, a = torch.rand(1, 3, 96, 128, generator=gen), torch.rand(1, 3, 64, 64, generator=gen), np.array([0.8], np.float32)
    with torch.inference_mode():
        vec = module.encode_style(torch.rand(1, 3, 64, 80, generator=gen))
        ref_stats = module.norm_stats(picture, vec, 0.8)
        ref = module(tiles, vec, 0.8, stats=ref_stats).numpy()
    stats = stats_graph.run(None, _feeds(stats_graph, content=picture.numpy(), style_vector=vec.numpy(), alpha=a))[0]
    out = tiled_graph.run(None, _feeds(tiled_graph, frames=tiles.numpy(), style_vector=vec.numpy(), alpha=a, stats=stats))[0]
    assert np.isfinite(stats).all() and np.isfinite(out).all()
    assert psnr(stats, ref_stats.numpy()) >= 30.0 and psnr(out, ref) >= 30.0


@pytest.mark.parametrize("fam", FAMS)
def test_onnxruntime_engine_tiles_match_torch_engine(fam: str, tile_graphs: dict, store: Store, weights: dict) -> None:
    from stylize.runtime.backends import open_engine
    from stylize.runtime.tiles import stylize_tiled

    ort_engine = open_engine(store, weights[fam], "onnxruntime", "cpu")
    torch_engine = open_engine(store, weights[fam], "torch", "cpu")
    assert ort_engine.capabilities.tiles and torch_engine.capabilities.tiles
    rng = np.random.default_rng(6)
    picture = rng.random((136, 200, 3), dtype=np.float32)
    vec = torch_engine.encode_style(rng.random((64, 80, 3), dtype=np.float32))
    kw = {"alpha": 0.7, "side": 96, "overlap": 32, "stats_pixels": 64 * 96}  # statistics on a reduced copy, as above the budget
    out = stylize_tiled(ort_engine, picture, [vec], **kw)
    ref = stylize_tiled(torch_engine, picture, [vec], **kw)
    assert out.shape == ref.shape == picture.shape
    assert float(np.abs(out - ref).max()) <= 1e-3


def test_onnxruntime_engine_refuses_tiles_without_their_graphs(graphs: dict, store: Store, weights: dict, tmp_path: Path) -> None:
    """Graphs exported by a version without the tile graphs: the frame path runs, tiles are refused in one line."""
    import shutil

    from stylize.runtime.tiles import stylize_tiled

    w = weights["magenta"]
    src = store.graph_folder(w.model_id, "fp32")
    for name in ("style_encoder.onnx", "stylizer.onnx"):
        for f in (name, name + ".sha256"):
            shutil.copy(src / f, tmp_path / f)
    engine = OnnxRuntimeEngine(store, w, device="cpu", folder=tmp_path)
    assert not engine.capabilities.tiles
    picture = np.random.default_rng(7).random((64, 80, 3), dtype=np.float32)
    vec = np.zeros(100, np.float32)
    assert engine.stylize(picture[None], vec).shape == (1, 64, 80, 3)
    with pytest.raises(UserError, match=f"norm_stats.onnx and stylize_tiled.onnx missing.*stylize export --model magenta -o {tmp_path}"):
        stylize_tiled(engine, picture, [vec], alpha=1.0, side=48, overlap=16, stats_pixels=64 * 80)
    with pytest.raises(UserError, match="stylize export"):
        engine.norm_stats(picture, vec)

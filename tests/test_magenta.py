"""Magenta arbitrary stylisation in PyTorch: layouts, any-size forward, TFLite import and parity.

Parity is measured against the TFLite interpreter (ai-edge-litert) on the published files
in ../shared/weights/magenta and real images in ../shared/data.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stylize.runtime.errors import UserError  # noqa: E402
from stylize.training.magenta.layout import PREDICTOR_LAYOUT, TRANSFORMER_LAYOUT  # noqa: E402
from stylize.training.magenta.model import StylePredictor, Transformer  # noqa: E402
from stylize.training.magenta.tflite_import import read_tflite  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
WEIGHTS = SHARED / "weights" / "magenta"
PREDICTOR_FILE = WEIGHTS / "style_predict_int8_256.tflite"
TRANSFORMER_FP16 = WEIGHTS / "style_transfer_fp16_384.tflite"
TRANSFORMER_INT8 = WEIGHTS / "style_transfer_int8_384.tflite"
STYLES = SHARED / "data" / "styles"
CONTENT = SHARED / "data" / "content"

try:
    import ai_edge_litert  # noqa: F401

    HAVE_LITERT = True
except ImportError:
    HAVE_LITERT = False

need_litert = pytest.mark.skipif(not HAVE_LITERT, reason="ai_edge_litert is not importable (pip install ai-edge-litert)")
need_shared = pytest.mark.skipif(
    not (PREDICTOR_FILE.is_file() and TRANSFORMER_FP16.is_file() and STYLES.is_dir() and CONTENT.is_dir()),
    reason=f"Magenta .tflite files or test images not found under {SHARED} (the ../shared folder beside the repository)",
)


# --------------------------------------------------------------------------- helpers


def _load_rgb(path: Path, size: int) -> np.ndarray:
    """[1, size, size, 3] float32 RGB in [0, 1] (bilinear resize; the same array feeds both sides)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB").resize((size, size), Image.BILINEAR)
        return (np.asarray(im, dtype=np.float32) / 255.0)[None]


def _nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=2)
    interp.allocate_tensors()
    return interp


def _invoke(interp, *inputs: np.ndarray) -> np.ndarray:
    for detail, x in zip(interp.get_input_details(), inputs):
        interp.set_tensor(detail["index"], np.ascontiguousarray(x, dtype=np.float32).reshape(detail["shape"]))
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"]).copy()


def _module(path: Path):
    kind, state = read_tflite(path)
    module = StylePredictor() if kind == "magenta_predictor" else Transformer()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return module.eval()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


# --------------------------------------------------------------------------- layouts, shapes


@pytest.mark.parametrize(("module", "layout"), [(StylePredictor, PREDICTOR_LAYOUT), (Transformer, TRANSFORMER_LAYOUT)])
def test_layout_matches_state_dict(module, layout) -> None:
    state = module().state_dict()
    assert list(state) == list(layout)
    assert {k: tuple(v.shape) for k, v in state.items()} == layout


def test_layout_module_is_torch_free() -> None:
    import stylize.training.magenta.layout as layout_module

    source = Path(layout_module.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__"}, imported


@pytest.mark.parametrize(("h", "w"), [(480, 640), (720, 1280), (250, 333)])
def test_transformer_random_weights_any_size(h: int, w: int) -> None:
    torch.manual_seed(0)
    net = Transformer().eval()
    content = torch.rand(1, 3, h, w)
    style = torch.randn(1, 100)
    with torch.inference_mode():
        out = net(content, style)
    assert out.shape == (1, 3, h, w)
    assert torch.isfinite(out).all()
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_transformer_broadcasts_one_style_over_a_batch() -> None:
    torch.manual_seed(0)
    net = Transformer().eval()
    content = torch.rand(2, 3, 37, 50)
    style = torch.randn(1, 100)
    with torch.inference_mode():
        both = net(content, style)
        one = net(content[1:], style)
    assert both.shape == (2, 3, 37, 50)
    torch.testing.assert_close(both[1:], one, rtol=1e-5, atol=1e-5)


def test_predictor_random_weights_shape() -> None:
    torch.manual_seed(0)
    with torch.inference_mode():
        out = StylePredictor().eval()(torch.rand(2, 3, 256, 256))
    assert out.shape == (2, 100) and torch.isfinite(out).all()


# --------------------------------------------------------------------------- read_tflite refusals


def test_read_tflite_refuses_non_tflite_file(tmp_path: Path) -> None:
    bad = tmp_path / "photo.tflite"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is a JPEG header, not a flatbuffer" * 4)
    with pytest.raises(UserError, match="not a TFLite model"):
        read_tflite(bad)


def test_read_tflite_refuses_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty file"):
        read_tflite(empty)


def test_read_tflite_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        read_tflite(tmp_path / "nope.tflite")


def _tiny_add_tflite() -> bytes:
    """A valid one-op TFLite model (y = a + b), written with the schema bundled in ai_edge_litert."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    model = S.ModelT()
    model.version = 3
    code = S.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = S.BuiltinOperator.ADD
    code.version = 1
    model.operatorCodes = [code]
    model.buffers = [S.BufferT()]
    tensors = []
    for name in (b"a", b"b", b"sum"):
        t = S.TensorT()
        t.name, t.shape, t.type, t.buffer = name, np.array([1, 4], np.int32), S.TensorType.FLOAT32, 0
        tensors.append(t)
    op = S.OperatorT()
    op.opcodeIndex = 0
    op.inputs, op.outputs = np.array([0, 1], np.int32), np.array([2], np.int32)
    op.builtinOptionsType, op.builtinOptions = S.BuiltinOptions.AddOptions, S.AddOptionsT()
    graph = S.SubGraphT()
    graph.tensors, graph.operators = tensors, [op]
    graph.inputs, graph.outputs = np.array([0, 1], np.int32), np.array([2], np.int32)
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@need_litert
def test_read_tflite_refuses_other_graph(tmp_path: Path) -> None:
    path = tmp_path / "add.tflite"
    path.write_bytes(_tiny_add_tflite())
    # it is a real model: the interpreter runs it
    interp = _interpreter(path)
    assert np.allclose(_invoke(interp, np.ones((1, 4)), np.full((1, 4), 2.0)), 3.0)
    with pytest.raises(UserError, match="not a Magenta arbitrary-stylization graph"):
        read_tflite(path)


def _altered_transformer(tmp_path: Path, alter) -> Path:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    model = S.ModelT.InitFromObj(S.Model.GetRootAs(TRANSFORMER_FP16.read_bytes(), 0))
    alter(S, model)
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = tmp_path / "altered.tflite"
    out.write_bytes(bytes(builder.Output()))
    return out


@need_litert
@need_shared
def test_read_tflite_refuses_altered_transformer(tmp_path: Path) -> None:
    def rename_layer(S, model) -> None:
        for t in model.subgraphs[0].tensors:
            if t.name == b"transformer/residual/residual3/conv2/weights":
                t.name = b"transformer/residual/residual3/conv9/weights"

    with pytest.raises(UserError, match="does not match the magenta_transformer layout"):
        read_tflite(_altered_transformer(tmp_path, rename_layer))

    def symmetric_padding(S, model) -> None:
        pad = [i for i, c in enumerate(model.operatorCodes) if max(c.builtinCode, c.deprecatedBuiltinCode) == S.BuiltinOperator.MIRROR_PAD]
        op = next(op for op in model.subgraphs[0].operators if op.opcodeIndex in pad)
        op.builtinOptions.mode = S.MirrorPadMode.SYMMETRIC

    with pytest.raises(UserError, match="SYMMETRIC"):
        read_tflite(_altered_transformer(tmp_path, symmetric_padding))


@need_litert
@need_shared
def test_read_tflite_refuses_truncated_file(tmp_path: Path) -> None:
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(PREDICTOR_FILE.read_bytes()[:5000])
    with pytest.raises(UserError):
        read_tflite(cut)


# --------------------------------------------------------------------------- real weights


@need_litert
@need_shared
def test_read_tflite_recognises_the_three_files() -> None:
    kind, pred = read_tflite(PREDICTOR_FILE)
    assert kind == "magenta_predictor" and {k: v.shape for k, v in pred.items()} == PREDICTOR_LAYOUT
    kind, fp16 = read_tflite(TRANSFORMER_FP16)
    assert kind == "magenta_transformer" and {k: v.shape for k, v in fp16.items()} == TRANSFORMER_LAYOUT
    assert all(v.dtype == np.float32 for v in (*pred.values(), *fp16.values()))
    if TRANSFORMER_INT8.is_file():
        kind, int8 = read_tflite(TRANSFORMER_INT8)
        assert kind == "magenta_transformer"
        # the int8 weights are a quantisation of the same network as the FP16 ones
        for key, ref in fp16.items():
            err = np.abs(int8[key] - ref).max()
            assert err <= 0.02 * max(float(np.abs(ref).max()), 1e-3), (key, err)


@pytest.fixture(scope="module")
def tflite_predictor():
    return _interpreter(PREDICTOR_FILE)


@pytest.fixture(scope="module")
def tflite_transformer():
    return _interpreter(TRANSFORMER_FP16)


@pytest.fixture(scope="module")
def torch_predictor():
    return _module(PREDICTOR_FILE)


@pytest.fixture(scope="module")
def torch_transformer():
    return _module(TRANSFORMER_FP16)


# Reached here (ai-edge-litert 2.3.0, torch 2.13 CPU): cosine 0.99990 (brushstrokes),
# 0.99993 (mondrian), 0.99992 (starry_night), 0.99747 (zigzag; of all 40 style images only
# linear__3314 is lower, 0.9955). The TFLite predictor is fully int8 (activations too) while
# PyTorch runs its dequantised weights in float32, hence not 1.0. The typical images get a
# 0.999 bound because 0.99 alone would not catch a wrong port: padding the stride-2 convs
# symmetrically (1, 1) instead of TF "SAME" (0, 1) still gives 0.9976 on brushstrokes.
PARITY_STYLES = {
    "adain__brushstrokes.jpg": 0.999,
    "adain__mondrian.jpg": 0.999,
    "msgnet21__starry_night.jpg": 0.999,
    "tfjs__zigzag.jpg": 0.99,
}


@need_litert
@need_shared
@pytest.mark.parametrize(("name", "bound"), list(PARITY_STYLES.items()))
def test_style_predictor_matches_tflite(name: str, bound: float, tflite_predictor, torch_predictor) -> None:
    path = STYLES / name
    if not path.is_file():
        pytest.skip(f"style image not found: {path}")
    x = _load_rgb(path, 256)
    ref = _invoke(tflite_predictor, x).reshape(-1)
    with torch.inference_mode():
        out = torch_predictor(_nchw(x)).numpy().reshape(-1)
    cosine = float(ref @ out / (np.linalg.norm(ref) * np.linalg.norm(out)))
    assert cosine >= bound, cosine


# Reached here: PSNR 108.1 dB (chicago) and 112.4 dB (astronaut) against the FP16 TFLite
# transformer at 384x384 with the TFLite predictor's bottleneck of brushstrokes.jpg (max abs
# difference 1-2e-5; other styles give 106-112 dB). Symmetric instead of reflect mirror padding
# would give 30.9 dB. The int8 transformer file, for reference, differs from the FP16 one by
# 26-32 dB (its int8 activations, not our port).
PARITY_CONTENT = ["adain__chicago.jpg", "skimage__astronaut.png"]


@need_litert
@need_shared
@pytest.mark.parametrize("name", PARITY_CONTENT)
def test_transformer_matches_tflite_fp16(name: str, tflite_predictor, tflite_transformer, torch_transformer) -> None:
    path = CONTENT / name
    if not path.is_file():
        pytest.skip(f"content image not found: {path}")
    bottleneck = _invoke(tflite_predictor, _load_rgb(STYLES / "adain__brushstrokes.jpg", 256)).reshape(1, 100)
    content = _load_rgb(path, 384)
    ref = _invoke(tflite_transformer, content, bottleneck)
    with torch.inference_mode():
        out = torch_transformer(_nchw(content), torch.from_numpy(bottleneck)).numpy().transpose(0, 2, 3, 1)
    assert out.shape == ref.shape == (1, 384, 384, 3)
    assert _psnr(out, ref) >= 40.0


def test_measure_script_imports() -> None:
    """The timing script is importable as a module (running it takes ~10 s, so not here)."""
    result = subprocess.run(
        [sys.executable, "-c", "import training.magenta.measure as m; assert callable(m.main)"],
        cwd=Path(read_tflite.__code__.co_filename).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

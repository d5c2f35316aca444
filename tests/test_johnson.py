"""The johnson family (issue 18): per-style networks, trained by `stylize train-style` and run
by every engine.

CPU, random weights, tiny networks (width 4 to 8, one or two residual blocks), 32-48 px
crops: the layout of pytorch/examples' checkpoints key by key, the loss falling with random
VGG weights, exact resume, ONNX Runtime against PyTorch (FP32 and FP16), the commands with a
johnson network, and bad training data in one line.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

torch = pytest.importorskip("torch")

from conftest import one_line_error, rng_image, run_cli  # noqa: E402

from stylize.runtime.store import Store  # noqa: E402
from stylize.training.johnson.layout import johnson_layout  # noqa: E402
from stylize.training.johnson.net import TransformerNet, net_from_state  # noqa: E402
from stylize.training.johnson.train import StyleTrainConfig, train_style  # noqa: E402

TINY = dict(width=4, blocks=1, batch=2, size=32, load_size=40, log_every=1, workers=0, progress=False, tensorboard=False, device="cpu")
# Same process, same data: a resumed step repeats the uninterrupted one up to float summation
# order; 1e-5 relative is far above that and far below what one optimisation step changes.
RESUME_RTOL = 1e-5


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("johnson_data")
    for i, (h, w) in enumerate([(48, 64), (56, 40), (44, 52)]):
        _save(root / "content" / f"c{i}.png", (rng_image(h, w, seed=i) * 255).astype(np.uint8))
    yy, xx = np.mgrid[0:64, 0:64]
    stripes = (((xx // 6 + yy // 6) % 2)[..., None] * np.array([[[0.9, 0.2, 0.1]]]) + 0.05) * 255
    _save(root / "style.png", stripes.astype(np.uint8))
    _save(root / "dots.png", (rng_image(64, 64, seed=9) * 255).astype(np.uint8))
    _save(root / "one" / "square.png", (rng_image(40, 40, seed=7) * 255).astype(np.uint8))  # one crop, the same every step
    (root / "empty").mkdir()
    (root / "corrupt").mkdir()
    (root / "corrupt" / "a.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "corrupt" / "b.png").write_bytes(b"nope")
    return {"content": root / "content", "one": root / "one", "style": root / "style.png", "empty": root / "empty", "corrupt": root / "corrupt", "root": root}


@pytest.fixture(scope="module")
def teacher_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Random Magenta weights: the teacher of the distillation runs."""
    from stylize.runtime.models import FAMILIES
    from stylize.training.models import build_stylizer

    store = Store(tmp_path_factory.mktemp("johnson_store"))
    torch.manual_seed(0)
    net = build_stylizer("magenta")
    for role, (layout, name) in FAMILIES["magenta"].roles.items():
        store.put_weights(name, {k: v.numpy() for k, v in getattr(net, role).state_dict().items()}, layout=layout, source="random (test)")
    return store


def _vivid(width: int = 8, blocks: int = 2, seed: int = 0) -> TransformerNet:
    """A random network whose pictures span the range (PyTorch's init alone paints nearly flat grey)."""
    torch.manual_seed(seed)
    net = TransformerNet(width, blocks)
    with torch.no_grad():
        net.deconv3.conv2d.weight.mul_(60.0)
        net.deconv3.conv2d.bias.fill_(127.5)
    return net.eval()


def _put(store: Store, name: str, net: TransformerNet, style: str = "") -> None:
    store.put_weights(name, {k: v.numpy() for k, v in net.state_dict().items()}, layout="johnson", source="test", style=style)


# the layout ----------------------------------------------------------------------------


def _examples_state(seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """A random state dict in the layout of pytorch/examples' fast_neural_style TransformerNet
    (written out here from its source, not from our layout module), with the InstanceNorm
    running statistics that checkpoints of PyTorch < 0.4 carry."""
    g = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()

    def conv(name: str, cin: int, cout: int, k: int) -> None:
        state[f"{name}.conv2d.weight"] = torch.randn(cout, cin, k, k, generator=g)
        state[f"{name}.conv2d.bias"] = torch.randn(cout, generator=g)

    def norm(name: str, c: int) -> None:
        state[f"{name}.weight"] = torch.rand(c, generator=g)
        state[f"{name}.bias"] = torch.randn(c, generator=g)
        state[f"{name}.running_mean"] = torch.zeros(c)
        state[f"{name}.running_var"] = torch.ones(c)

    conv("conv1", 3, 32, 9), norm("in1", 32), conv("conv2", 32, 64, 3), norm("in2", 64), conv("conv3", 64, 128, 3), norm("in3", 128)
    for r in range(1, 6):
        conv(f"res{r}.conv1", 128, 128, 3), norm(f"res{r}.in1", 128), conv(f"res{r}.conv2", 128, 128, 3), norm(f"res{r}.in2", 128)
    conv("deconv1", 128, 64, 3), norm("in4", 64), conv("deconv2", 64, 32, 3), norm("in5", 32), conv("deconv3", 32, 3, 9)
    return state


def test_a_fast_neural_style_checkpoint_imports_key_by_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = _examples_state()
    path = tmp_path / "mosaic.pth"
    torch.save(state, path)
    code, out, err = run_cli(capsys, "--home", tmp_path / "store", "weights", "import", path)
    assert code == 0, err
    assert "as mosaic (johnson" in out
    record, tensors = Store(tmp_path / "store").load_weights("mosaic")
    kept = {k: v for k, v in state.items() if "running_" not in k}
    assert record.layout == "johnson" and len(kept) == 62 and set(tensors) == set(kept)
    for key, value in kept.items():  # every tensor, bit for bit
        assert np.array_equal(tensors[key], value.numpy()), key
    assert set(johnson_layout()) == set(kept)  # our network's own keys are pytorch/examples'
    TransformerNet().load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    # a tensor of the wrong shape is named, in one line
    state["res3.conv2.conv2d.weight"] = torch.zeros(128, 128, 3, 1)
    torch.save(state, path)
    line = one_line_error(run_cli(capsys, "--home", tmp_path / "store", "weights", "import", path)[2])
    assert "res3.conv2.conv2d.weight" in line and "(128, 128, 3, 3)" in line


def test_width_and_depth_are_read_from_the_weights() -> None:
    net = TransformerNet(width=6, blocks=3)
    again = net_from_state(net.state_dict())
    assert (again.width, again.blocks) == (6, 3)
    from stylize.training.layouts import check_layout, identify_layout

    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert identify_layout(shapes) == "johnson" and check_layout("johnson", shapes) == []
    shapes["in2.weight"] = (7,)
    assert check_layout("johnson", shapes) == ["key 'in2.weight' has shape (7,), expected (12,)"]


def test_any_size_comes_back_at_its_own_size() -> None:
    net = _vivid(4, 1)
    for h, w in ((16, 16), (17, 23), (45, 61)):
        assert net(torch.rand(1, 3, h, w) * 255).shape == (1, 3, h, w)


def test_multiply_adds_per_pixel_are_what_the_network_does() -> None:
    from stylize.benchmarks.flops import JOHNSON_MACS_PER_PIXEL, count_macs
    from stylize.training.johnson.net import macs_per_pixel
    from stylize.training.johnson.stylizer import JohnsonStylizer

    for width, blocks in ((32, 5), (16, 5), (8, 2)):
        net = JohnsonStylizer(TransformerNet(width, blocks)).eval()
        assert count_macs(net, torch.rand(1, 3, 64, 64), torch.zeros(1, 1), 1.0) == macs_per_pixel(width, blocks) * 64 * 64
    assert macs_per_pixel() == JOHNSON_MACS_PER_PIXEL


# engines ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def johnson_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("johnson_engines")
    _put(Store(home), "vivid", _vivid(), style="stripes.png")
    return home


def test_onnxruntime_runs_the_network_as_pytorch_does(johnson_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxscript")
    from stylize.runtime.backends.onnxruntime_backend import OnnxRuntimeEngine
    from stylize.runtime.backends.torch_backend import TorchEngine
    from stylize.runtime.models import find_weights

    for fp16 in ((), ("--fp16",)):
        assert run_cli(capsys, "--home", johnson_store, "export", "--model", "johnson", *fp16)[0] == 0
    store = Store(johnson_store)
    weights = find_weights(store, "johnson", {"transformer": "vivid"})
    frames = (np.stack([rng_image(45, 61, seed=s) for s in (3, 4)]) * 255).astype(np.uint8)
    vec = np.zeros(1, np.float32)
    torch_out = TorchEngine(store, weights, "cpu").stylize_uint8(frames, vec, 0.7)
    assert torch_out.std() > 20  # a picture, not a flat grey
    fp32 = OnnxRuntimeEngine(store, weights, "cpu").stylize_uint8(frames, vec, 0.7)
    fp16 = OnnxRuntimeEngine(store, weights, "cpu", precision="fp16").stylize_uint8(frames, vec, 0.7)
    diff32 = np.abs(fp32.astype(int) - torch_out.astype(int))
    assert diff32.max() <= 1  # rounding to 8 bits only
    diff16 = np.abs(fp16.astype(int) - torch_out.astype(int))
    assert np.mean(diff16) < 0.5 and np.percentile(diff16, 99.9) <= 3  # FP16 convolutions, FP32 instance norms


def test_fp16_arithmetic_stays_within_40_db_of_fp32() -> None:
    """PyTorch's CPU half kernels compute in FP16 (ONNX Runtime's CPU runs FP16 graphs partly in
    FP32): the export's FP16 policy, instance norms in FP32, on a network painting the full range."""
    from stylize.export.graphs import graph_modules
    from stylize.training.johnson.stylizer import JohnsonStylizer

    model = JohnsonStylizer(_vivid(8, 2)).eval()
    _, sty32 = graph_modules(model, "fp32")
    _, sty16 = graph_modules(model, "fp16")
    content = torch.from_numpy(rng_image(48, 64, seed=5).transpose(2, 0, 1).copy())[None]
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the half kernels are much slower on 2 threads here
    try:
        with torch.inference_mode():
            y32 = sty32(content, torch.zeros(1, 1), torch.tensor([1.0])).clamp(0, 1)
            y16 = sty16(content, torch.zeros(1, 1), torch.tensor([1.0])).clamp(0, 1)
    finally:
        torch.set_num_threads(before)
    assert next(sty16.stylizer.parameters()).dtype == torch.float16 and float(y32.std()) > 0.05  # half, and a picture
    mse = float(((y16 - y32) ** 2).mean())
    assert 10 * np.log10(1.0 / max(mse, 1e-12)) >= 40.0


def test_the_commands_run_a_johnson_network(johnson_store: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = data_dir / "content" / "sklearn__china.jpg"
    home = ("--home", johnson_store)
    code, out, err = run_cli(capsys, *home, "image", content, "--weights", "vivid", "--size", "48", "-o", f"{tmp_path}/", "--backend", "torch")
    assert code == 0, err
    assert (tmp_path / "sklearn__china__vivid.png").is_file() and "johnson" in out
    clip = data_dir / "video" / "imageio__realshort.mp4"
    code, _, err = run_cli(capsys, *home, "video", clip, "--size", "32", "--backend", "torch", "-o", tmp_path / "clip.mp4")
    assert code == 0 and (tmp_path / "clip.mp4").stat().st_size > 0, err
    code, out, err = run_cli(capsys, *home, "live", "--camera", clip, "--no-window", "--frames", "2", "--size", "32", "--backend", "torch")
    assert code == 0, err
    # alpha mixes with the content in pixels: 0 gives the content back
    from stylize import Stylizer

    s = Stylizer(home=johnson_store, backend="torch")  # the one network in the store
    assert s.family == "johnson"
    picture = rng_image(32, 48, seed=1)
    np.testing.assert_allclose(s.image(picture, alpha=0.0, size="keep").rgb, picture, atol=1e-5)
    vec = s.style_vector(None)
    full, half = (s.engine.stylize(picture[None], vec, alpha)[0] for alpha in (1.0, 0.5))
    np.testing.assert_allclose(half, 0.5 * full + 0.5 * picture, atol=1e-5)
    # what cannot apply to a network with its style in its weights: one line each
    style = data_dir / "styles" / "msgnet21__starry_night.jpg"
    for extra in (["--style", style], ["--style-colors"], ["--preserve-color"]):
        line = one_line_error(run_cli(capsys, *home, "image", content, "--weights", "vivid", "-o", tmp_path / "x.png", *extra)[2])
        assert "'vivid' paints the one style in its weights (trained on stripes.png)" in line
    _put(Store(johnson_store), "other", _vivid(seed=1))
    try:
        line = one_line_error(run_cli(capsys, *home, "image", content, "--model", "johnson", "-o", tmp_path / "z.png")[2])
        assert "several johnson networks in the store (other, vivid): choose one with --weights NAME" in line
    finally:
        for suffix in (".json", ".safetensors"):
            (johnson_store / "weights" / f"other{suffix}").unlink()


# training --------------------------------------------------------------------------------


def _teacher_run(store: Store, folders: dict[str, Path], name: str, iters: int, **kw: object):  # noqa: ANN202
    cfg = StyleTrainConfig(styles=[str(folders["style"])], content=str(folders["content"]), name=name, iters=iters, loss="teacher",
                           save_every=3, sample_every=3, keep=0, **TINY, **kw)  # fmt: skip
    return train_style(cfg, store, say=lambda _m: None)


def test_resume_equals_an_uninterrupted_run(teacher_store: Store, folders: dict[str, Path]) -> None:
    whole = _teacher_run(teacher_store, folders, "whole", 6)
    _teacher_run(teacher_store, folders, "split", 3)
    resumed = _teacher_run(teacher_store, folders, "split", 6, resume="latest")
    assert resumed.iteration == 6 and [r["iteration"] for r in resumed.history] == [4, 5, 6]
    for a, b in zip(whole.history[3:], resumed.history):
        assert a["loss"] == pytest.approx(b["loss"], rel=RESUME_RTOL)
    _, w = teacher_store.load_weights("whole")
    record, s = teacher_store.load_weights("split")
    for key in w:
        np.testing.assert_allclose(s[key], w[key], rtol=RESUME_RTOL, atol=1e-7, err_msg=key)
    assert record.layout == "johnson" and record.style == "style.png" and len(record.style_sha256) == 64
    run = whole.run_dir
    assert (run / "samples" / "iter_0000006.png").is_file() and (run / "log.csv").read_text().startswith("iteration,lr,loss,loss_pixel,loss_feature")


def test_a_mix_of_styles_is_one_network(teacher_store: Store, folders: dict[str, Path]) -> None:
    from stylize.runtime.store import sha256_file

    cfg = StyleTrainConfig(styles=[str(folders["style"]), str(folders["root"] / "dots.png")], content=str(folders["content"]), name="mix",
                           iters=5, max_seconds=1e-6, loss="teacher", **TINY)  # fmt: skip
    result = train_style(cfg, teacher_store, say=lambda _m: None)
    assert result.out_of_time and not result.interrupted and result.iteration == 1 and result.checkpoint is not None  # the time limit
    record = teacher_store.weights("mix")
    digests = "+".join(sha256_file(p) for p in (folders["style"], folders["root"] / "dots.png"))
    assert record is not None and record.style == "style.png+dots.png"
    import hashlib

    assert record.style_sha256 == hashlib.sha256(digests.encode()).hexdigest()


def test_the_perceptual_loss_falls_with_random_vgg_weights(adain_files: tuple[Path, Path], folders: dict[str, Path], tmp_path: Path) -> None:
    from stylize.training.weights_io import import_weights

    store = Store(tmp_path / "store")
    for f in adain_files:
        import_weights(store, f)
    settings = {**TINY, "size": 40, "load_size": 40}
    cfg = StyleTrainConfig(styles=[str(folders["style"])], content=str(folders["one"]), name="perceptual", iters=10, lr=5e-3,
                           save_every=10, sample_every=10, **settings)  # fmt: skip
    result = train_style(cfg, store, say=lambda _m: None)  # loss auto: the VGG is installed, so the paper's
    losses = [r["loss"] for r in result.history]
    # the same crop every step: the loss falls at (nearly) every step, by a fifth over ten of them
    assert "loss_style" in result.history[0] and losses[-1] < 0.8 * losses[0], losses
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= len(losses) - 2, losses


def test_bad_training_data_is_one_line(teacher_store: Store, folders: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    home = ("--home", teacher_store.root)
    base = ["train-style", "--width", "4", "--blocks", "1", "--crop-size", "32", "--load-size", "40", "--iters", "1", "--workers", "0", "--quiet"]
    cases = {
        "empty": (["--style", folders["style"], "--content", folders["empty"], "--name", "e"], "no readable images in content folder"),
        "corrupt": (["--style", folders["style"], "--content", folders["corrupt"], "--name", "c"], "2 files, none of them an image"),
        "no style": (["--style", folders["root"] / "missing.png", "--content", folders["content"], "--name", "m"], "missing.png"),
        "style is corrupt": (["--style", folders["corrupt"] / "a.jpg", "--content", folders["content"], "--name", "s"], "a.jpg"),
        "no vgg": (["--style", folders["style"], "--content", folders["content"], "--loss", "perceptual", "--name", "v"], "VGG-19"),
        "no teacher": (["--style", folders["style"], "--content", folders["content"], "--teacher", "adain", "--name", "t"], "adain weights not installed"),
        "crop": (["--style", folders["style"], "--content", folders["content"], "--crop-size", "30", "--name", "k"], "multiple of 4"),
    }
    for what, (argv, words) in cases.items():
        code, _, err = run_cli(capsys, *home, *base, *argv)
        assert code == 2, what
        assert words in one_line_error(err), (what, err)
    code, _, err = run_cli(capsys, *home, "train-style", "--content", folders["content"])
    assert code == 2 and "--style IMAGE and --content DIR are required" in one_line_error(err)

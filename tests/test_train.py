"""`stylize train` (issue 8): data, loss going down, exact resume, ONNX export of a checkpoint,
the trained decoder used by `stylize image --weights`, and every bad input.

CPU, random VGG/decoder weights in the official layout, 64 px crops, batch 2. Two training
runs in all: 30 iterations uninterrupted (module fixture), and 10 iterations + a resume to 11
through the CLI.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

torch = pytest.importorskip("torch")

from stylize.cli import main  # noqa: E402
from stylize.runtime.errors import UserError  # noqa: E402
from stylize.runtime.store import Store  # noqa: E402
from stylize.training.train import TrainConfig, train  # noqa: E402
from stylize.training.train.data import CropDataset, EndlessSampler, make_loader, scan_images  # noqa: E402
from stylize.training.train.logs import read_log  # noqa: E402

SMALL = dict(batch=2, size=64, load_size=64, log_every=1, workers=0, progress=False)
SMALL_ARGS = ["--batch-size", "2", "--crop-size", "64", "--load-size", "64", "--log-every", "1", "--quiet"]
# Same process, same thread count, same data: a resumed step repeats the uninterrupted one
# up to float summation order; 1e-5 relative is far above that and far below a real change.
RESUME_RTOL = 1e-5


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from conftest import rng_image

    root = tmp_path_factory.mktemp("train_data")
    content, style = root / "content", root / "style"
    for i, (h, w) in enumerate([(80, 96), (72, 120), (96, 64), (64, 64), (100, 90)]):
        sub = content / ("nested/deeper" if i % 2 else "")
        _save(sub / f"c{i}.png" if i != 2 else sub / f"c{i}.jpg", (rng_image(h, w, seed=i) * 255).astype(np.uint8))
    _save(content / "gray.png", (rng_image(70, 80, seed=9)[..., 0] * 255).astype(np.uint8))  # grayscale
    rgba = np.concatenate([(rng_image(66, 70, seed=10) * 255).astype(np.uint8), np.full((66, 70, 1), 128, np.uint8)], axis=2)
    _save(content / "alpha.png", rgba)
    (content / "notes.txt").write_text("not an image")
    (content / "broken.jpg").write_bytes(b"\x00garbage, not a jpeg")
    rng = np.random.default_rng(5)
    for i in range(5):  # stripes and checks in strong colours: textures unlike the content
        yy, xx = np.mgrid[0:72, 0:72]
        period = 4 + 3 * i
        pattern = ((xx // period + (yy // period) * (i % 2)) % 2)[..., None].astype(np.float32)
        a, b = rng.random(3), rng.random(3)
        _save(style / f"s{i}.png", ((pattern * a + (1 - pattern) * b) * 255).astype(np.uint8))
    empty = root / "empty"
    empty.mkdir()
    junk = root / "junk"
    junk.mkdir()
    (junk / "a.jpg").write_bytes(b"nope")
    (junk / "b.txt").write_text("nope")
    return {"content": content, "style": style, "empty": empty, "junk": junk, "root": root}


@pytest.fixture(scope="module")
def store(adain_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store of its own (training writes weights and runs into it)."""
    from stylize.training.weights_io import import_weights

    s = Store(tmp_path_factory.mktemp("train_store"))
    for f in adain_files:
        import_weights(s, f)
    return s


@pytest.fixture(scope="module")
def run30(store: Store, folders: dict[str, Path]):  # noqa: ANN201
    cfg = TrainConfig(content=str(folders["content"]), style=str(folders["style"]), iters=30, name="run30",
                      save_every=10, sample_every=15, keep=0, **SMALL)  # fmt: skip
    return train(cfg, store, say=lambda _: None)


def _cli(capsys: pytest.CaptureFixture[str], store: Store, *argv: object) -> tuple[int, str, str]:
    code = main(["--home", str(store.root), *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


# data ---------------------------------------------------------------------------------


def test_folders_are_read_recursively_and_bad_files_counted(folders: dict[str, Path]) -> None:
    images = scan_images(folders["content"])
    names = sorted(p.name for p in images.files)
    assert names == ["alpha.png", "c0.png", "c1.png", "c2.jpg", "c3.png", "c4.png", "gray.png"]
    assert sorted(p.name for p in images.skipped) == ["broken.jpg", "notes.txt"]
    assert "2 unreadable files skipped" in images.describe("content")
    batch, failures = next(iter(make_loader(images, batch=3, load_size=64, crop=64, seed=0, stream=0)))
    assert batch.shape == (3, 3, 64, 64) and batch.dtype == torch.float32
    assert 0 <= float(batch.min()) and float(batch.max()) <= 1 and failures.tolist() == [0, 0, 0]


def test_a_file_that_fails_to_decode_is_replaced_and_counted(folders: dict[str, Path], tmp_path: Path) -> None:
    good = next(iter(scan_images(folders["style"]).files))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])  # a valid header, no pixel data
    ds = CropDataset([truncated, good], load_size=64, crop=64, seed=0, stream=0)
    image, failures = ds[(0, 0)]
    assert image.shape == (3, 64, 64) and failures == 1


def test_the_sampler_resumes_and_splits_across_processes() -> None:
    def keys(sampler: EndlessSampler, count: int) -> list[tuple[int, int]]:
        it = iter(sampler)
        return [next(it) for _ in range(count)]

    full = keys(EndlessSampler(7, batch=4, seed=3, stream=0), 40)
    assert keys(EndlessSampler(7, batch=4, seed=3, stream=0, start_step=6), 8) == full[24:32]
    assert sorted(i for i, _ in full[:7]) == list(range(7))  # each epoch is a permutation
    # two processes with batch 2 see, together, what one process with batch 4 sees
    r0 = keys(EndlessSampler(7, batch=2, seed=3, stream=0, rank=0, world=2), 20)
    r1 = keys(EndlessSampler(7, batch=2, seed=3, stream=0, rank=1, world=2), 20)
    together = [x for step in range(10) for x in r0[2 * step : 2 * step + 2] + r1[2 * step : 2 * step + 2]]
    assert together == full


# training -----------------------------------------------------------------------------


def test_thirty_iterations_lower_the_loss(run30, store: Store) -> None:  # noqa: ANN001
    losses = [row["loss"] for row in run30.history]
    assert len(losses) == 30 and all(math.isfinite(x) for x in losses)
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < first, (first, last)
    run = run30.run_dir
    assert run == store.root / "runs" / "run30"
    assert [int(r["iteration"]) for r in read_log(run / "log.csv")] == list(range(1, 31))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["iter_0000010.pt", "iter_0000020.pt", "iter_0000030.pt"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["iter_0000015.png", "iter_0000030.png"]
    assert PILImage.open(run / "samples" / "iter_0000030.png").size == (3 * 64 + 4, 4 * 64 + 6)
    assert not list(run.rglob(".*partial*"))  # atomic writes leave nothing half-written
    record = store.weights("run30")
    assert record is not None and record.layout == "adain_decoder" and "iteration 30" in record.source


def test_stopped_at_ten_and_resumed_matches_the_uninterrupted_run(run30, store: Store, folders: dict[str, Path], capsys) -> None:  # noqa: ANN001
    common = ["train", "--content-dir", folders["content"], "--style-dir", folders["style"], "--name", "stopped", *SMALL_ARGS]
    code, out, err = _cli(capsys, store, *common, "--iters", "10", "--workers", "2")
    assert code == 0, err
    assert "decoder stored as stopped" in out
    code, out, err = _cli(capsys, store, "train", "--name", "stopped", "--resume", "--iters", "11", "--quiet", "--workers", "0")
    assert code == 0, err
    rows = read_log(store.root / "runs" / "stopped" / "log.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(1, 12))
    reference = run30.history
    for row, ref in zip(rows, reference):  # 1..10 from the first session, 11 after the resume
        for key in ("loss", "loss_content", "loss_style", "lr"):
            assert row[key] == pytest.approx(ref[key], rel=RESUME_RTOL), (row["iteration"], key)
    # the resumed run refuses changed settings, and a new run refuses to overwrite it
    code, _, err = _cli(capsys, store, "train", "--name", "stopped", "--resume", "--iters", "12", "--batch-size", "4")
    assert code == 2 and "--batch-size 4 (the run has 2)" in err
    code, _, err = _cli(capsys, store, *common, "--iters", "3")
    assert code == 2 and "already has checkpoints" in err and "--resume" in err


def test_a_checkpoint_exports_to_onnx_and_runs_in_onnxruntime(run30, store: Store, tmp_path: Path) -> None:  # noqa: ANN001
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from stylize.training.adain.net import AdaINStylizer, build_decoder, build_vgg
    from stylize.training.models import load_torch_state
    from stylize.training.train.loop import load_init

    state, _ = load_init(store, str(run30.run_dir / "checkpoints" / "iter_0000030.pt"))  # a checkpoint as --init reads it
    decoder = build_decoder()
    decoder.load_state_dict(state)
    vgg = build_vgg()
    vgg.load_state_dict(load_torch_state(store, "adain-vgg", "adain_vgg")[1])
    model = AdaINStylizer(vgg, decoder).eval()
    stored = load_torch_state(store, "run30", "adain_decoder")[1]
    assert all(torch.equal(stored[k], v) for k, v in decoder.state_dict().items())  # the store holds the checkpoint's decoder

    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 64, 64, generator=g)
    with torch.no_grad():
        style = model.encode_style(torch.rand(1, 3, 64, 64, generator=g))
        expected = model(content, style, torch.tensor(1.0)).numpy()
    path = tmp_path / "stylizer.onnx"
    torch.onnx.export(model, (content, style, torch.tensor(1.0)), str(path), dynamo=True,
                      input_names=["content", "style", "alpha"], output_names=["image"])  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"content": content.numpy(), "style": style.numpy(), "alpha": np.array(1.0, np.float32)}
    (got,) = session.run(None, feeds)
    assert got.shape == (1, 3, 64, 64)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * float(np.abs(expected).max()))


def test_stylize_image_uses_the_trained_decoder(run30, store: Store, folders: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    content = next(p for p in scan_images(folders["content"]).files if p.name == "c0.png")
    style = scan_images(folders["style"]).files[0]
    outs = {}
    for weights in ("run30", "adain-decoder"):
        outs[weights] = tmp_path / f"{weights}.png"
        code, _, err = _cli(capsys, store, "image", content, "--style", style, "--size", "64", "--style-size", "64",
                            "--weights", weights, "-o", outs[weights])  # fmt: skip
        assert code == 0, err
    a, b = (np.asarray(PILImage.open(outs[w]), np.float32) for w in ("run30", "adain-decoder"))
    assert a.shape == b.shape and np.abs(a - b).mean() > 1.0


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("STYLIZE_TEST_DDP"), reason="set STYLIZE_TEST_DDP=1 for the torchrun run (2 gloo processes on the CPU, ~30 s)")
def test_torchrun_two_processes_match_one_with_twice_the_batch(run30, store: Store, folders: dict[str, Path]) -> None:  # noqa: ANN001
    """DDP as users start it: torchrun, two processes of batch 1 see and learn what one of batch 2 does."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "stylize",
            "--home", str(store.root), "train", "--content-dir", str(folders["content"]), "--style-dir", str(folders["style"]),
            "--name", "ddp", "--iters", "3", "--batch-size", "1", "--crop-size", "64", "--load-size", "64", "--log-every", "1",
            "--workers", "0", "--quiet"]  # fmt: skip
    done = subprocess.run(argv, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_log(store.root / "runs" / "ddp" / "log.csv")
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3]
    for row, ref in zip(rows, run30.history):  # same samples, gradients averaged over the two halves
        assert row["loss"] == pytest.approx(ref["loss"], rel=1e-4)


# errors -------------------------------------------------------------------------------


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("stylize: error: ") and "Traceback" not in err, err
    return lines[0]


def test_bad_folders_give_one_clear_line(store: Store, folders: dict[str, Path], capsys) -> None:  # noqa: ANN001
    good = ["--content-dir", folders["content"], "--style-dir", folders["style"]]
    cases = {
        "empty": (["--content-dir", folders["empty"], "--style-dir", folders["style"]], "no readable images in content folder", "it is empty"),
        "junk": (["--content-dir", folders["content"], "--style-dir", folders["junk"]], "no readable images in style folder", "2 files"),
        "missing": (["--content-dir", folders["root"] / "nope", "--style-dir", folders["style"]], "content folder not found", ""),
        "a file": (["--content-dir", folders["content"] / "c0.png", "--style-dir", folders["style"]], "is not a folder", ""),
        "size": ([*good, "--crop-size", "60"], "multiple of 8", ""),
        "load size": ([*good, "--crop-size", "64", "--load-size", "32"], "--load-size must be at least --crop-size", ""),
        "init layout": ([*good, "--init", store.weights("adain-vgg").path], "expected an AdaIN decoder", ""),
        "init name": ([*good, "--init", "no-such-decoder"], "neither a file nor weights in the store", ""),
        "name taken": ([*good, "--name", "adain-decoder"], "already exist in the store", "--overwrite"),
        "amp on cpu": ([*good, "--amp", "--device", "cpu"], "needs CUDA", ""),
    }
    for case, (argv, *needles) in cases.items():
        code, _, err = _cli(capsys, store, "train", "--name", "bad", "--iters", "1", *argv)
        line = _one_line(err)
        assert code == 2, case
        assert all(n in line for n in needles), (case, line)
    assert not (store.root / "runs" / "bad").exists()  # nothing written by a run that never started


def test_missing_vgg_gives_the_find_weights_error_never_random_weights(empty_store: Path, folders: dict[str, Path], capsys) -> None:  # noqa: ANN001
    code, _, err = _cli(capsys, Store(empty_store), "train", "--content-dir", folders["content"], "--style-dir", folders["style"], "--iters", "1")
    line = _one_line(err)
    assert code == 2 and "adain-vgg missing" in line
    assert "stylize weights download" in line and "stylize weights import" in line
    with pytest.raises(UserError, match="nothing to resume"):
        train(TrainConfig(name="none", resume="latest", iters=1), Store(empty_store))

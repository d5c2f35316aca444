"""Per-style networks (Johnson et al. 2016) on the CPU: distilled from Magenta, their speed
beside Magenta's, and their FP16 graphs against FP32.

    python -m stylize.benchmarks.johnson [--minutes 30] [--half-minutes 10] [--parts distil,speed,fp16]
                                         [--style IMAGE] [--home DIR] [--out DIR]

(a) distil: a network of the default width (and one of half the width, for ``--half-minutes``)
    is trained with ``stylize train-style --loss teacher`` from Magenta painting ``--style``
    on the shared content photos, all but ``--holdout`` of them (every 8th is held back), for
    a time budget; every ``--evals``-th of the budget the PSNR of the network's pictures
    against Magenta's is measured on the held-back photos at a shorter side of ``--eval-size``
    (the training is resumed after each evaluation, exactly, so the trajectory costs the
    training nothing). A picture grid (content | Magenta | network) is written beside the JSON.
(b) speed: one 512x512 frame (uint8 in and out, as video and live run) through the torch and
    ONNX Runtime CPU engines: the default width, half and a quarter of it (random weights
    where (a) trained none: speed does not depend on them) and Magenta's stylizer at alpha 1,
    taking turns, medians; the ratios are of figures of the same run.
(c) fp16: the FP16 graphs against the FP32 graphs (ONNX Runtime, float frames) of the
    networks of (a) (random weights where (a) did not run), PSNR on the held-back photos.

Magenta's weights must be in the store (``--home``); where they are not, they are imported
from ``../shared/weights/magenta``. Results: ``benchmarks/results/MACHINE/johnson.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylize.benchmarks.machine import describe, results_folder, write_results
from stylize.runtime.errors import UserError
from stylize.runtime.images import load_image, resize, resize_shorter_side, save_image
from stylize.runtime.models import ModelWeights, find_weights, prepare_style
from stylize.runtime.store import Store
from stylize.training.johnson.layout import DEFAULT_WIDTH
from stylize.training.johnson.net import macs_per_pixel
from stylize.training.johnson.train import StyleTrainConfig, train_style

SCHEMA = "stylize-johnson/1"
HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("STYLIZE_TEST_SHARED", HERE.parents[1] / "shared"))
DATA = SHARED / "data"
STYLE = DATA / "styles" / "msgnet21__starry_night.jpg"
MAGENTA_FILES = ("style_predict_int8_256.tflite", "style_transfer_fp16_384.tflite")
# The distillation recipe for a 2-core CPU: small crops, many steps, Adam with a decaying rate.
RECIPE: dict[str, Any] = {"size": 128, "load_size": 384, "batch": 4, "lr": 1e-3, "pixel_weight": 1.0, "feature_weight": 0.01, "seed": 0}
LR_FALL = 5.0  # the learning rate ends at lr / LR_FALL at the iteration the budget is expected to reach
TARGETS = {"psnr_db": 25.0, "speedup_default": 1.5, "speedup_half": 3.0, "fp16_psnr_db": 40.0}
WIDTHS = {"default": DEFAULT_WIDTH, "half": DEFAULT_WIDTH // 2, "quarter": DEFAULT_WIDTH // 4}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two pictures in [0, 1] (peak 1)."""
    mse = float(np.mean((np.clip(a, 0, 1).astype(np.float64) - np.clip(b, 0, 1).astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def magenta_store(home: str | None) -> Store:
    """The store, with Magenta's weights imported from ../shared where they are missing."""
    store = Store(home)
    try:
        find_weights(store, "magenta")
    except UserError:
        from stylize.training.weights_io import import_weights

        folder = SHARED / "weights" / "magenta"
        if not all((folder / f).is_file() for f in MAGENTA_FILES):
            raise
        for f in MAGENTA_FILES:
            import_weights(store, folder / f)
    return store


def split_content(folder: Path, holdout: int) -> tuple[list[Path], list[Path]]:
    """(training photos, held-back photos): every 8th photo held back, ``holdout`` of them."""
    from stylize.training.train.data import scan_images

    files = scan_images(folder, "content folder").files
    held = files[7::8][:holdout]
    return [f for f in files if f not in held], held


def _nchw(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t[0].clamp(0, 1).permute(1, 2, 0).numpy()


class Judge:
    """Magenta painting the style at full size: the pictures the networks are scored against."""

    def __init__(self, store: Store, style: Path, images: list[Path], size: int) -> None:
        from stylize.training.johnson.teacher import Teacher
        from stylize.training.models import load_stylizer

        magenta = load_stylizer(store, find_weights(store, "magenta"))
        style_rgb = prepare_style("magenta", load_image(style).rgb)
        self.teacher = Teacher("magenta", magenta, [_nchw(style_rgb)])
        self.store = store
        self.contents = [resize_shorter_side(load_image(p).rgb, size) for p in images]
        with torch.no_grad():
            self.pictures = [_hwc(self.teacher.picture(_nchw(c))) for c in self.contents]

    def network(self, name: str) -> torch.nn.Module:
        from stylize.training.models import load_stylizer

        return load_stylizer(self.store, find_weights(self.store, "johnson", {"transformer": name}))

    def outputs(self, name: str) -> list[np.ndarray]:
        net = self.network(name)
        vec = torch.zeros(1, 1)
        with torch.no_grad():
            return [_hwc(net(_nchw(c), vec, 1.0)) for c in self.contents]

    def score(self, name: str) -> list[float]:
        return [psnr(o, p) for o, p in zip(self.outputs(name), self.pictures)]


def seconds_per_step(store: Store, style: Path, width: int, steps: int = 3) -> float:
    """One training step's time at ``RECIPE`` (the fastest of a few after a warm-up: a busy
    moment of a shared machine would shorten the learning rate's schedule), to plan it."""
    from stylize.training.johnson.losses import TeacherLoss
    from stylize.training.johnson.net import TransformerNet
    from stylize.training.johnson.teacher import Teacher
    from stylize.training.models import load_stylizer

    teacher = Teacher("magenta", load_stylizer(store, find_weights(store, "magenta")), [_nchw(prepare_style("magenta", load_image(style).rgb))])
    loss_fn = TeacherLoss(teacher)
    net = TransformerNet(width)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.rand(RECIPE["batch"], 3, RECIPE["size"], RECIPE["size"])
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        picture, feats = loss_fn.targets(x)
        a, b, _ = loss_fn(net(x * 255) / 255, picture, feats)
        opt.zero_grad()
        (a + b).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return min(times[1:])


def distil(store: Store, judge: Judge, style: Path, train_files: list[Path], width: int, minutes: float, evals: int, name: str, say: Any) -> dict[str, Any]:
    """Train ``name`` for ``minutes`` of training time, scoring it ``evals`` times on the way."""
    step_s = seconds_per_step(store, style, width)
    expected = max(1, int(minutes * 60 / step_s))
    lr_decay = (LR_FALL - 1.0) / expected
    trajectory = []
    trained_s = wall_s = 0.0
    with tempfile.TemporaryDirectory(prefix="johnson_content_") as tmp:
        for f in train_files:  # the training photos, without the held-back ones
            os.symlink(f.resolve(), Path(tmp) / f.name)
        run_dir = Path(tmp) / "run"
        for k in range(evals):
            cfg = StyleTrainConfig(
                styles=[str(style)], content=tmp, name=name, run_dir=str(run_dir), resume="latest" if k else None,
                iters=10**7, max_seconds=minutes * 60 / evals, loss="teacher", teacher="magenta", width=width, lr_decay=lr_decay,
                save_every=10**7, sample_every=10**7, log_every=10, keep=1, workers=1, device="cpu", progress=False,
                tensorboard=False, overwrite=True, **RECIPE,
            )  # fmt: skip
            t0 = time.perf_counter()
            result = train_style(cfg, store, say=lambda _m: None)
            wall_s += time.perf_counter() - t0
            trained_s += result.history[-1]["elapsed_s"] if result.history else 0.0  # the loop's time, without the session's start
            scores = judge.score(name)
            row = {"minutes": round(trained_s / 60, 2), "wall_minutes": round(wall_s / 60, 2), "iteration": result.iteration, "psnr_db": round(float(np.mean(scores)), 2),
                   "psnr_each_db": [round(s, 2) for s in scores], "loss": round(result.history[-1]["loss"], 4) if result.history else None}  # fmt: skip
            trajectory.append(row)
            say(f"{name}: {row['minutes']} min, iteration {row['iteration']}: PSNR {row['psnr_db']} dB against Magenta")
    return {
        "name": name, "width": width, "macs_per_pixel": macs_per_pixel(width), "minutes": minutes, "seconds_per_step_planned": round(step_s, 3),
        "expected_iterations": expected, "lr_decay": lr_decay, "trajectory": trajectory, "psnr_db": trajectory[-1]["psnr_db"],
    }  # fmt: skip


def grid(judge: Judge, name: str, path: Path, rows: int = 3, height: int = 256) -> Path:
    """content | Magenta | network, one row per held-back photo, as a JPEG."""
    outs = judge.outputs(name)
    lines = []
    for c, p, o in list(zip(judge.contents, judge.pictures, outs))[:rows]:
        w = round(c.shape[1] * height / c.shape[0])
        gap = np.ones((height, 4, 3), np.float32)
        lines.append(np.concatenate([resize(c, height, w), gap, resize(p, height, w), gap, resize(o, height, w)], axis=1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 4), (0, width - line.shape[1]), (0, 0)), constant_values=1.0) for line in lines]
    return save_image(path, np.concatenate(lines, axis=0))


def _random_network(store: Store, name: str, width: int) -> ModelWeights:
    from stylize.training.johnson.net import TransformerNet

    torch.manual_seed(0)
    net = TransformerNet(width)
    store.put_weights(name, {k: v.numpy() for k, v in net.state_dict().items()}, layout="johnson", source="random (benchmark)")
    return find_weights(store, "johnson", {"transformer": name})


def speed(store: Store, names: dict[str, str | None], repeats: int, size: int = 512) -> dict[str, Any]:
    """Per-frame latency of each network and of Magenta, torch and ONNX Runtime, in turns."""
    from stylize.export.onnx_export import export_from_store
    from stylize.runtime.backends.onnxruntime_backend import OnnxRuntimeEngine
    from stylize.runtime.backends.torch_backend import TorchEngine

    models: dict[str, ModelWeights] = {"magenta": find_weights(store, "magenta")}
    for label, width in WIDTHS.items():
        name = names.get(label)
        models[label] = find_weights(store, "johnson", {"transformer": name}) if name else _random_network(store, f"bench-johnson-w{width}", width)
    engines = {}
    for label, weights in models.items():
        folder = store.graph_folder(weights.model_id, "fp32")
        if not (folder / "stylizer.onnx").is_file():
            export_from_store(store, weights, folder, precision="fp32")
        engines[(label, "torch")] = TorchEngine(store, weights, "cpu")
        engines[(label, "onnxruntime")] = OnnxRuntimeEngine(store, weights, "cpu")
    frame = (np.random.default_rng(0).random((1, size, size, 3)) * 255).astype(np.uint8)
    vectors = {key: e.encode_style(prepare_style(key[0] if key[0] == "magenta" else "johnson", load_image(STYLE).rgb)) for key, e in engines.items()}
    for key, e in engines.items():  # warm-up
        e.stylize_uint8(frame, vectors[key], 1.0)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in engines}
    for _ in range(repeats):  # in turns, so that a busy moment of the machine falls on all alike
        for key, e in engines.items():
            t = time.perf_counter()
            e.stylize_uint8(frame, vectors[key], 1.0)
            times[key].append((time.perf_counter() - t) * 1e3)
    rows = []
    for (label, backend), ts in times.items():
        median = statistics.median(ts)
        magenta = statistics.median(times[("magenta", backend)])
        rows.append({"model": label, "width": WIDTHS.get(label), "backend": backend, "ms": [round(t, 1) for t in ts], "median_ms": round(median, 1),
                     "speedup_vs_magenta": round(magenta / median, 3)})  # fmt: skip
    return {"size": [size, size], "repeats": repeats, "threads": torch.get_num_threads(), "rows": rows}


def fp16(store: Store, judge: Judge, names: dict[str, str | None]) -> list[dict[str, Any]]:
    """PSNR of the FP16 graphs against the FP32 graphs (ONNX Runtime, float NCHW frames)."""
    import onnxruntime as ort

    from stylize.export.onnx_export import WeightsIdentity, export_graphs
    from stylize.training.models import load_stylizer

    out = []
    for label, name in names.items():
        width = WIDTHS[label]
        weights = find_weights(store, "johnson", {"transformer": name}) if name else _random_network(store, f"bench-johnson-w{width}", width)
        module = load_stylizer(store, weights)
        outputs = {}
        for precision in ("fp32", "fp16"):
            graphs = export_graphs(module, "johnson", weights=WeightsIdentity.of(weights), precision=precision, frames="float-nchw")
            session = ort.InferenceSession(graphs.models["stylizer"].SerializeToString(), providers=["CPUExecutionProvider"])
            feeds = {"style_vector": np.zeros((1, 1), np.float32), "alpha": np.ones(1, np.float32)}
            outputs[precision] = [session.run(None, {"frames": _nchw(c).numpy(), **feeds})[0][0].transpose(1, 2, 0) for c in judge.contents]
        scores = [psnr(a, b) for a, b in zip(outputs["fp16"], outputs["fp32"])]
        out.append({"model": label, "width": width, "weights": name or "random", "psnr_db": round(min(scores), 2), "psnr_each_db": [round(s, 2) for s in scores]})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stylize.benchmarks.johnson", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="training budget of the default width (default 30)")
    p.add_argument("--half-minutes", type=float, default=10.0, help="training budget of half the width; 0: not trained (default 10)")
    p.add_argument("--parts", default="distil,speed,fp16", help="comma-separated: distil, speed, fp16")
    p.add_argument("--style", type=Path, default=STYLE)
    p.add_argument("--holdout", type=int, default=5)
    p.add_argument("--evals", type=int, default=6, help="PSNR measurements along each training run (default 6)")
    p.add_argument("--eval-size", type=int, default=384, help="shorter side of the held-back photos (default 384)")
    p.add_argument("--repeats", type=int, default=7, help="speed: frames per model and backend (default 7)")
    p.add_argument("--home", help="the store (Magenta's weights; the networks are written there)")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/MACHINE)")
    args = p.parse_args(argv)
    parts = set(args.parts.split(","))
    machine = describe()
    out = args.out or results_folder(machine)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    store = magenta_store(args.home)
    train_files, held = split_content(DATA / "content", args.holdout)
    judge = Judge(store, args.style, held, args.eval_size)
    result: dict[str, Any] = {
        "schema": SCHEMA, "created": time.strftime("%Y-%m-%d %H:%M"), "machine": machine, "command": "python -m stylize.benchmarks.johnson " + " ".join(argv if argv is not None else sys.argv[1:]),
        "style": args.style.name, "held_back": [f.name for f in held], "train_images": len(train_files), "eval_size": args.eval_size,
        "recipe": RECIPE, "targets": TARGETS,
    }  # fmt: skip
    names: dict[str, str | None] = {"default": None, "half": None}
    if "distil" in parts:
        runs = []
        for label, width, minutes in (("default", DEFAULT_WIDTH, args.minutes), ("half", DEFAULT_WIDTH // 2, args.half_minutes)):
            if minutes > 0:
                name = f"bench-johnson-{args.style.stem[:30]}-w{width}".replace("_", "-")
                runs.append({"model": label, **distil(store, judge, args.style, train_files, width, minutes, args.evals, name, say)})
                names[label] = name
        result["distil"] = runs
        if names["default"]:
            result["grid"] = str(grid(judge, names["default"], out / "johnson_grid.jpg").relative_to(HERE) if out.is_relative_to(HERE) else out / "johnson_grid.jpg")
    if "speed" in parts:
        result["speed"] = speed(store, names, args.repeats)
        for row in result["speed"]["rows"]:
            say(f"{row['model']:>8} {row['backend']:<12} {row['median_ms']:8.1f} ms  x{row['speedup_vs_magenta']:.2f} of Magenta's speed")
    if "fp16" in parts:
        result["fp16"] = fp16(store, judge, names)
        for row in result["fp16"]:
            say(f"{row['model']} width {row['width']} ({row['weights']}): FP16 against FP32 {row['psnr_db']} dB (the lowest of the held-back photos)")
    say(f"results: {write_results(result, out, 'johnson')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

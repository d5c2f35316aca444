"""How close ``--style-colors`` brings a result's colours to the style image's.

    python -m stylize.benchmarks.style_colors [--size 256] [--out DIR]

Stylises a few shared photos with the Magenta model (the shared .tflite weights, imported into
a temporary store) and the shared styles, then measures the colour distance between each result
and its style image, before and after moving the result's colours to the style's, for the map
``--style-colors`` uses and the alternatives:

- ``linear_mk``: the shipped map (``runtime.color.ColorTransfer``): mean and covariance matched
  by the Monge-Kantorovich linear map (the least colour movement that matches them);
- ``linear_sqrt``: mean and covariance matched as ``match_color`` does (C_t^1/2 C_s^-1/2);
- ``hist_rgb``: a histogram match of each RGB channel;
- ``hist_pca``: ``linear_mk``, then a histogram match along the style's principal colour axes.

Distances: ``moments`` = |mean - mean_style| + |cov - cov_style|_F (RGB in [0, 1]); ``swd`` =
sliced Wasserstein distance between the pixels' RGB distributions (64 directions, x 100);
``moved`` = the mean absolute change of a pixel from the plain result (x 255). Writes
``style_colors.json`` into ``--out`` (default benchmarks/results/MACHINE/).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from stylize.benchmarks.machine import describe, results_folder, write_results
from stylize.runtime.color import ColorTransfer, _sqrtm, color_stats
from stylize.runtime.images import load_image

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
CONTENTS = ("adain__sailboat.jpg", "adain__golden_gate.jpg", "adain__cornell.jpg")
STYLES = ("msgnet21__udnie.jpg", "msgnet21__candy.jpg", "adain__mondrian.jpg", "msgnet21__starry_night.jpg")
TFLITE = ("style_predict_int8_256.tflite", "style_transfer_fp16_384.tflite")


def moments(rgb: np.ndarray, style: np.ndarray) -> float:
    (m, c), (ms, cs) = color_stats(rgb), color_stats(style)
    return float(np.linalg.norm(m - ms) + np.linalg.norm(c - cs))


def swd(rgb: np.ndarray, style: np.ndarray, n: int = 4096, directions: int = 64, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    a = rgb.reshape(-1, 3)[rng.choice(rgb.size // 3, n)]
    b = style.reshape(-1, 3)[rng.choice(style.size // 3, n)]
    d = rng.normal(size=(directions, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return float(np.mean(np.abs(np.sort(a @ d.T, 0) - np.sort(b @ d.T, 0)))) * 100


def _hist_match(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Each column of x (N x k) given the distribution of ref's column, by quantiles."""
    out = np.empty_like(x)
    q = np.linspace(0, 1, 1025)
    for k in range(x.shape[1]):
        src_q, ref_q = np.quantile(x[:, k], q), np.quantile(ref[:, k], q)
        out[:, k] = np.interp(x[:, k], src_q, ref_q)
    return out


def linear_sqrt(rgb: np.ndarray, style: np.ndarray) -> np.ndarray:
    (m, c), (ms, cs) = color_stats(rgb), color_stats(style)
    t = _sqrtm(cs + 1e-5 * np.eye(3)) @ _sqrtm(c + 1e-5 * np.eye(3), inverse=True)
    return np.clip((rgb.reshape(-1, 3) - m) @ t.T + ms, 0, 1).reshape(rgb.shape).astype(np.float32)


def hist_rgb(rgb: np.ndarray, style: np.ndarray) -> np.ndarray:
    return _hist_match(rgb.reshape(-1, 3).astype(np.float64), style.reshape(-1, 3)).reshape(rgb.shape).astype(np.float32)


def hist_pca(rgb: np.ndarray, style: np.ndarray) -> np.ndarray:
    lin = ColorTransfer(color_stats(rgb), color_stats(style)).apply(rgb).reshape(-1, 3).astype(np.float64)
    s = style.reshape(-1, 3).astype(np.float64)
    _, vecs = np.linalg.eigh(np.cov(s, rowvar=False))
    out = _hist_match(lin @ vecs, s @ vecs) @ vecs.T
    return np.clip(out, 0, 1).reshape(rgb.shape).astype(np.float32)


METHODS: dict[str, Any] = {
    "linear_mk": lambda rgb, style: ColorTransfer(color_stats(rgb), color_stats(style)).apply(rgb),
    "linear_sqrt": linear_sqrt,
    "hist_rgb": hist_rgb,
    "hist_pca": hist_pca,
}


def run(size: int) -> dict[str, Any]:
    from stylize.runtime.backends import open_engine
    from stylize.runtime.images import resize_shorter_side
    from stylize.runtime.models import find_weights
    from stylize.runtime.stills import stylize_still
    from stylize.runtime.store import Store
    from stylize.runtime.style_cache import StyleCache
    from stylize.training.weights_io import import_weights

    rows = []
    with tempfile.TemporaryDirectory() as home:
        store = Store(Path(home))
        for f in TFLITE:
            import_weights(store, SHARED / "weights" / "magenta" / f)
        engine = open_engine(store, find_weights(store, "magenta"), "torch", "cpu")
        cache = StyleCache(engine, store)
        for style_name in STYLES:
            style = load_image(SHARED / "data" / "styles" / style_name).rgb
            for content_name in CONTENTS:
                content = resize_shorter_side(load_image(SHARED / "data" / "content" / content_name).rgb, size)
                plain = stylize_still(engine, content, [cache.vector(style)], alpha=1.0, style_weights=None, masks=None, luminance_only=False)
                row: dict[str, Any] = {"style": style_name, "content": content_name,
                                       "none": {"moments": moments(plain, style), "swd": swd(plain, style), "moved": 0.0}}  # fmt: skip
                for name, method in METHODS.items():
                    out = method(plain, style)
                    row[name] = {"moments": moments(out, style), "swd": swd(out, style), "moved": float(np.abs(out - plain).mean() * 255)}
                rows.append(row)
                print(f"{style_name:28s} {content_name:24s} " + "  ".join(f"{k} {row[k]['moments']:.3f}/{row[k]['swd']:.2f}" for k in ("none", *METHODS)))
    mean = {k: {m: float(np.mean([r[k][m] for r in rows])) for m in ("moments", "swd", "moved")} for k in ("none", *METHODS)}
    return {"schema": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": describe(), "size": size, "rows": rows, "mean": mean}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="the shorter side the photos are stylised at")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/MACHINE)")
    args = p.parse_args(argv)
    result = run(args.size)
    print("mean over pairs (moments, swd x100, moved x255):")
    for k, v in result["mean"].items():
        print(f"  {k:12s} {v['moments']:.3f}  {v['swd']:.2f}  {v['moved']:.1f}")
    print(f"results: {write_results(result, args.out or results_folder(result['machine']), 'style_colors')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

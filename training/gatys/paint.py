"""Painting one still: colour handling, initialisation and the coarse-to-fine stages.

``paint(vgg, content, styles, options, callback)`` takes numpy RGB in [0, 1] (HxWx3) and
returns the result the same way, at the requested size. The parts it composes:
``FeatureExtractor`` (features.py), ``StyleTransferLoss`` (losses.py), ``stage_sizes``
(pyramid.py) and ``optimise`` (optim.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylize.runtime.budget import PAINT_COST, check_pixels
from stylize.runtime.color import keep_luminance, match_color, rgb_to_ycbcr
from stylize.runtime.errors import UserError
from stylize.runtime.images import resize, resize_shorter_side
from stylize.runtime.sizing import scaled
from stylize.training.gatys.features import CHECKPOINT_PIXELS, FeatureExtractor
from stylize.training.gatys.losses import ContentLoss, GramStyleLoss, LossWeights, StyleTransferLoss
from stylize.training.gatys.optim import OPTIMIZERS, Diverged, Step, optimise
from stylize.training.gatys.pyramid import iterations_per_stage, stage_sizes

CONTENT_LAYERS = {"relu4_2": 1.0}
STYLE_LAYERS = {name: 0.2 for name in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")}  # w_l = 1/5
INITS = ("content", "noise", "style")
PRESERVE_MODES = ("color", "luminance")
MIN_SIDE = 16  # relu5_1 is four poolings deep


@dataclass
class PaintOptions:
    size: int = 512  # shorter side of the result; 0 keeps the content's size
    iters: int | list[int] = 500  # per stage, or one count per stage
    schedule: str | list[int] = "auto"
    weights: LossWeights = field(default_factory=LossWeights)
    content_layers: dict[str, float] = field(default_factory=lambda: dict(CONTENT_LAYERS))
    style_layers: dict[str, float] = field(default_factory=lambda: dict(STYLE_LAYERS))
    style_blend: list[float] | None = None  # one weight per style
    style_scale: float = 1.0  # style shorter side = style_scale * the stage's shorter side
    init: str = "content"
    optimizer: str = "lbfgs"
    lr: float | None = None
    lbfgs_history: int | None = None  # None: as many as fit 1 GiB
    seed: int = 0
    preserve_color: str | None = None
    device: str = "auto"
    max_pixels: int | None = None  # the memory budget (runtime.budget); None: no limit


@dataclass
class Progress:
    stage: int  # 0-based
    stages: int
    size: tuple[int, int]  # (h, w) of this stage
    step: Step
    done: int  # iterations over all stages so far
    total: int
    image: Callable[[], np.ndarray]  # the current result as an output image (colour handling applied)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available to PyTorch here")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown device {device!r}: use auto, cpu or cuda") from None


def check_options(options: PaintOptions, n_styles: int) -> None:
    if n_styles < 1:
        raise UserError("give at least one style image")
    if options.size < 0:
        raise UserError("--size must be 0 (keep) or a positive number of pixels")
    if options.init not in INITS:
        raise UserError(f"unknown --init {options.init!r}: choose {', '.join(INITS)}")
    if options.optimizer not in OPTIMIZERS:
        raise UserError(f"unknown --optimizer {options.optimizer!r}: choose {', '.join(OPTIMIZERS)}")
    if options.preserve_color not in (None, *PRESERVE_MODES):
        raise UserError(f"unknown colour preservation {options.preserve_color!r}: choose {' or '.join(PRESERVE_MODES)}")
    if options.style_blend is not None:
        if len(options.style_blend) != n_styles:
            raise UserError(f"{len(options.style_blend)} --style-weights given for {n_styles} styles")
        if any(w < 0 for w in options.style_blend) or sum(options.style_blend) <= 0:
            raise UserError("style weights must be non-negative and not all zero")
    w = options.weights
    if min(w.content, w.style, w.tv) < 0:
        raise UserError("content, style and TV weights must be >= 0")
    if not options.style_scale > 0:
        raise UserError("--style-scale must be positive")
    if options.lr is not None and not options.lr > 0:
        raise UserError("--lr must be positive")
    if options.lbfgs_history is not None and options.lbfgs_history < 1:
        raise UserError("--lbfgs-history must be at least 1")
    if not options.style_layers or any(v < 0 for v in options.style_layers.values()):
        raise UserError("give at least one style layer, with non-negative weights")
    if not options.content_layers or any(v < 0 for v in options.content_layers.values()):
        raise UserError("give at least one content layer, with non-negative weights")


def check_budget(height: int, width: int, styles: list[tuple[int, int]], options: PaintOptions, max_pixels: int) -> None:
    """The result's full size, counted ``PAINT_COST`` times (the optimisation keeps every
    layer's activations and gradients), and the style images at the last stage's scale
    against the memory budget: a one-line UserError before anything is allocated.
    ``styles``: (height, width) of each style image."""
    h, w = stage_sizes(height, width, options.size, options.schedule)[-1]
    check_pixels(w, h, max_pixels, "painting", cost=PAINT_COST)
    side = max(MIN_SIDE, round(options.style_scale * min(h, w)))
    for sh, sw in styles:
        check_pixels(*scaled(sw, sh, side), max_pixels, "encoding a style image", hint="a smaller --size or --style-scale")


def luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma as three equal channels."""
    y = rgb_to_ycbcr(rgb)[..., :1]
    return np.repeat(np.clip(y, 0.0, 1.0), 3, axis=-1).astype(np.float32)


def prepare_colors(content: np.ndarray, styles: list[np.ndarray], mode: str | None) -> tuple[np.ndarray, list[np.ndarray]]:
    """What the optimisation sees (Gatys et al. 2016, "Preserving color in neural artistic
    style transfer"): ``color`` matches each style's colour mean and covariance to the
    content's; ``luminance`` paints in luminance only, each style's luma matched to the
    content's mean and deviation (the result gets the content's chroma back afterwards)."""
    if mode == "color":
        return content, [match_color(s, content) for s in styles]
    if mode == "luminance":
        yc = luminance(content)[..., 0]
        out = []
        for s in styles:
            ys = luminance(s)[..., 0]
            matched = (ys - ys.mean()) * (yc.std() / max(float(ys.std()), 1e-6)) + yc.mean()
            out.append(np.repeat(np.clip(matched, 0.0, 1.0)[..., None], 3, axis=-1).astype(np.float32))
        return luminance(content), out
    return content, styles


def _to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None].contiguous().to(device)


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach()[0].clamp(0.0, 1.0).permute(1, 2, 0).float().cpu().numpy()


def initial_image(kind: str, content: torch.Tensor, style: np.ndarray, seed: int) -> torch.Tensor:
    h, w = content.shape[-2:]
    if kind == "content":
        return content.clone()
    if kind == "noise":  # white noise, as the paper; reproducible from the seed on every device
        g = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=g).to(content.device)
    return _to_tensor(resize(style, h, w), content.device)  # "style": stretched to the content's size


def build_loss(vgg: nn.Sequential, options: PaintOptions) -> StyleTransferLoss:
    extractor = FeatureExtractor(vgg, [*options.content_layers, *options.style_layers])
    return StyleTransferLoss(extractor, ContentLoss(options.content_layers), GramStyleLoss(options.style_layers), options.weights)


def paint(
    vgg: nn.Sequential,
    content: np.ndarray,
    styles: list[np.ndarray],
    options: PaintOptions | None = None,
    callback: Callable[[Progress], None] | None = None,
) -> np.ndarray:
    """The painted still: float32 HxWx3 in [0, 1] at ``options.size`` (shorter side)."""
    options = options or PaintOptions()
    check_options(options, len(styles))
    h0, w0 = content.shape[:2]
    if options.max_pixels is not None:
        check_budget(h0, w0, [s.shape[:2] for s in styles], options, options.max_pixels)
    sizes = stage_sizes(h0, w0, options.size, options.schedule)
    if min(sizes[0]) < MIN_SIDE:
        raise UserError(f"the result's first stage is {sizes[0][1]}x{sizes[0][0]}: both sides must be at least {MIN_SIDE} pixels")
    counts = iterations_per_stage(options.iters, len(sizes))
    device = resolve_device(options.device)
    torch.manual_seed(options.seed)

    seen_content, seen_styles = prepare_colors(content, styles, options.preserve_color)
    blend = options.style_blend or [1.0] * len(styles)
    loss = build_loss(vgg, options).to(device)

    def finish(x: torch.Tensor, hw: tuple[int, int]) -> np.ndarray:
        out = _to_numpy(x)
        if options.preserve_color == "luminance":
            out = keep_luminance(out, resize(content, *hw))
        return out

    x: torch.Tensor | None = None
    done, total = 0, sum(counts)
    for k, ((h, w), count) in enumerate(zip(sizes, counts)):
        c = _to_tensor(resize(seen_content, h, w), device)
        style_side = max(MIN_SIDE, round(options.style_scale * min(h, w)))
        loss.set_targets(c, [_to_tensor(resize_shorter_side(s, style_side), device) for s in seen_styles], blend)
        if x is None:
            first = seen_styles[int(np.argmax(blend))]
            x = initial_image(options.init, c, first, options.seed)
        else:
            x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp_(0.0, 1.0)
        del c
        x = x.detach().contiguous()
        loss.extractor.checkpoint = h * w > CHECKPOINT_PIXELS  # recompute pool1's block: memory for 2048x2048

        def on_step(step: Step, k: int = k, hw: tuple[int, int] = (h, w), xs: torch.Tensor = x) -> None:
            nonlocal done
            done += 1
            if callback is not None:
                callback(Progress(k, len(sizes), hw, step, done, total, lambda: finish(xs, hw)))

        try:
            optimise(x, loss, count, options.optimizer, options.lr, options.lbfgs_history, on_step)
        except Diverged as e:
            raise UserError(
                f"the optimisation diverged at {w}x{h} ({e}); try lower weights, --optimizer adam or a smaller --lr"
            ) from None
    assert x is not None
    return finish(x, sizes[-1])

"""Stylising one still image with the paper's user controls.

alpha (content-style trade-off), several styles mixed by weights, colour preservation
(``color``: the style's colours matched to the content before encoding; ``luminance``: the
result's luma with the content's chroma) and spatial masks (one per style).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stylize.runtime.color import keep_luminance, match_color
from stylize.runtime.engine import Engine, StyleCache
from stylize.runtime.errors import UserError
from stylize.runtime.images import resize
from stylize.runtime.models import mix_styles

PRESERVE_MODES = ("color", "luminance")
MIN_SIDE = 16  # AdaIN's relu4_1 is 1/8 of the input; one feature pixel has no variance


@dataclass
class StillOptions:
    alpha: float = 1.0
    style_weights: list[float] | None = None
    preserve_color: str | None = None
    masks: list[np.ndarray] | None = None  # HxW float in [0, 1], one per style


def fit_mask(mask_rgb: np.ndarray, height: int, width: int, source: str = "mask") -> np.ndarray:
    """A mask image as HxW in [0, 1] at the content's size; its aspect ratio must match."""
    mh, mw = mask_rgb.shape[:2]
    if abs(mw / mh - width / height) > 0.02 * (width / height):
        raise UserError(f"{source} is {mw}x{mh}, which cannot match the content's {width}x{height} (aspect ratio differs)")
    gray = mask_rgb.mean(axis=2)[..., None] if mask_rgb.ndim == 3 else mask_rgb[..., None]
    return np.clip(resize(gray.astype(np.float32), height, width)[..., 0], 0.0, 1.0)


def stylize_still(
    engine: Engine, cache: StyleCache, content: np.ndarray, styles: list[np.ndarray], options: StillOptions
) -> np.ndarray:
    h, w = content.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise UserError(f"content is {w}x{h}: both sides must be at least {MIN_SIDE} pixels")
    if options.preserve_color not in (None, *PRESERVE_MODES):
        raise UserError(f"unknown colour preservation {options.preserve_color!r}: choose {' or '.join(PRESERVE_MODES)}")
    if options.style_weights is not None and len(options.style_weights) != len(styles):
        raise UserError(f"{len(options.style_weights)} --style-weights given for {len(styles)} styles")
    if options.masks is not None:
        if len(options.masks) != len(styles):
            raise UserError(f"{len(options.masks)} masks given for {len(styles)} styles: give one mask per style")
        if options.style_weights is not None:
            raise UserError("--mask and --style-weights do not go together: masks decide where each style goes")
    if options.preserve_color == "color":
        styles = [match_color(s, content) for s in styles]
    vectors = [cache.vector(s) for s in styles]
    if options.masks is not None:
        if not hasattr(engine, "stylize_regions"):
            raise UserError(f"--mask needs the torch backend (this engine is {engine.backend})")
        out = engine.stylize_regions(content, vectors, np.stack(options.masks), options.alpha)
    else:
        out = engine.stylize(content[None], mix_styles(vectors, options.style_weights), options.alpha)[0]
    if options.preserve_color == "luminance":
        out = keep_luminance(np.clip(out, 0.0, 1.0), content)
    return out

"""One still image stylised with the paper's user controls.

alpha (content-style trade-off), several styles mixed by weights, spatial masks (one per
style), and luminance-only transfer. Matching the style's colours to the content happens
before the styles are encoded (``runtime.color.match_color``), so it is the caller's. A
picture above the memory budget is stylised in tiles (``runtime.tiles``); what follows the
network (luminance, black bars) then runs on the assembled picture.
"""

from __future__ import annotations

import numpy as np

from .black import keep_black
from .color import keep_luminance
from .engine import Engine
from .errors import UserError
from .images import resize
from .models import MIN_SIDE, mix_styles
from .tiles import in_bands, stylize_tiled


def fit_mask(mask_rgb: np.ndarray, height: int, width: int, source: str = "mask") -> np.ndarray:
    """A mask image as H x W in [0, 1] at the content's size; its aspect ratio must match."""
    mh, mw = mask_rgb.shape[:2]
    if abs(mw / mh - width / height) > 0.02 * (width / height):
        raise UserError(f"{source} is {mw}x{mh}, which cannot match the content's {width}x{height} (aspect ratio differs)")
    gray = mask_rgb.mean(axis=2)[..., None] if mask_rgb.ndim == 3 else mask_rgb[..., None]
    return np.clip(resize(gray.astype(np.float32), height, width)[..., 0], 0.0, 1.0)


def stylize_still(
    engine: Engine,
    content: np.ndarray,
    vectors: list[np.ndarray],
    *,
    alpha: float,
    style_weights: list[float] | None = None,
    masks: list[np.ndarray] | None = None,
    luminance_only: bool = False,
    tile: int | None = None,
    stats_pixels: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """``content`` (H x W x 3 float in [0, 1]) with the style ``vectors`` mixed by
    ``style_weights``, or placed by ``masks`` (H x W each) -> H x W x 3 float in [0, 1].
    ``tile``: stylise in tiles of this side, with the statistics of the whole picture reduced
    to at most ``stats_pixels`` (default: all of it); ``progress``: a bar over the tiles."""
    h, w = content.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise UserError(f"content is {w}x{h}: both sides must be at least {MIN_SIDE} pixels")
    if tile is not None:
        out = stylize_tiled(
            engine, content, vectors, alpha=alpha, side=tile, stats_pixels=stats_pixels or h * w, style_weights=style_weights,
            masks=None if masks is None else np.stack(masks), progress=progress,
        )  # fmt: skip
        np.clip(out, 0.0, 1.0, out=out)
        if luminance_only:
            in_bands(keep_luminance, out, content)
        return keep_black(out, content)
    if masks is not None:
        out = engine.stylize_regions(content, vectors, np.stack(masks), alpha)
    else:
        out = engine.stylize(content[None], mix_styles(vectors, style_weights), alpha)[0]
    out = np.clip(out, 0.0, 1.0)
    out = keep_luminance(out, content) if luminance_only else out
    return keep_black(out, content)  # bars, black and flat pictures stay the input's

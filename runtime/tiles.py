"""Ultra-resolution stills in tiles (``stylize image --tile``): memory bounded by the tile.

A network's activations grow with the picture (AdaIN holds ~1 KB a pixel, ``runtime.budget``),
so a picture above the memory budget is stylised tile by tile. Three things keep the seams
out of sight:

- **shared statistics**: the networks normalise with statistics of the whole input (AdaIN the
  content's relu4_1 mean and std, Magenta every instance norm's mean and variance and the
  content's own style vector). A tile alone would be normalised with its own, and would come
  out in another colour and contrast than its neighbour. So ``Engine.norm_stats`` computes
  them once on the whole picture - reduced to the budget where it is larger - and every
  tile is stylised with them (``Engine.stylize_tiles``);
- **the grid**: tile origins are multiples of the network's downsampling
  (``Family.tile_multiple``), so a tile's pooled and strided layers sample the same pixels as
  the whole picture's would;
- **overlap and blending**: near its border a tile sees reflection padding instead of its
  neighbour's pixels. Tiles overlap by at least ``default_overlap``; in the overlap each
  tile's weight is 0 over the quarter nearest its edge (what the padding disturbs most), rises
  along a raised cosine over the middle half, and the weights are normalised to sum to 1.

Per tile goes what is local (the style, alpha, the masks); what needs the whole picture
(colour transfer, black bars) runs on the assembled picture, after the tiles
(``runtime.stills``, ``stylize.api``), in bands of rows or on a regular sample of its pixels,
so that it too stays within memory. Torch-free: numpy and the engine interface.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from .budget import DECODE_RATIO, decode_limit, megapixels
from .engine import Engine
from .errors import UserError
from .images import resize
from .models import FAMILIES, MIN_SIDE, mix_styles

MIN_TILE = 128
"""The smallest tile side: AdaIN's relu4_1 is 16 x 16 there, with room for the overlap."""
MAX_TILE = 16384
OVERLAP_SHARE = 8
"""The overlap is a tile side over this (rounded up to the network's multiple) ..."""
MIN_OVERLAP = 64
"""... and at least this: the depth to which a tile's reflection-padded border disturbs its
result (both networks' receptive fields reach ~60 pixels) needs room in the blend."""
SAMPLE_PIXELS = 1 << 22
"""Global colour statistics of a tiled picture come from a regular sample of at most this many pixels."""
BAND_ROWS = 512
"""Per-pixel passes over an assembled picture run this many rows at a time."""


@dataclass(frozen=True)
class Tile:
    """One tile: rows ``y0:y1``, columns ``x0:x1``, and its blending weights along each axis."""

    y0: int
    y1: int
    x0: int
    x1: int
    wy: np.ndarray
    wx: np.ndarray

    @property
    def weight(self) -> np.ndarray:
        """h x w x 1 float32: this tile's share of each of its pixels."""
        return (self.wy[:, None] * self.wx[None, :])[..., None]


@dataclass(frozen=True)
class TilePlan:
    """The tiles covering a ``height`` x ``width`` picture; their weights sum to 1 at every pixel."""

    height: int
    width: int
    side: int
    overlap: int
    rows: list[tuple[int, int]]
    cols: list[tuple[int, int]]
    row_weights: list[np.ndarray]
    col_weights: list[np.ndarray]

    @property
    def tiles(self) -> list[Tile]:
        return [Tile(y0, y1, x0, x1, wy, wx) for (y0, y1), wy in zip(self.rows, self.row_weights) for (x0, x1), wx in zip(self.cols, self.col_weights)]

    def borders(self, axis: int) -> list[int]:
        """Where a tile starts or ends inside the picture, along ``axis`` (0: rows, 1: columns):
        the lines where a seam would show."""
        spans = self.rows if axis == 0 else self.cols
        return sorted({s for s, _ in spans[1:]} | {e for _, e in spans[:-1]})


def default_overlap(side: int, multiple: int) -> int:
    """The overlap of tiles of ``side``: a share of it, at least ``MIN_OVERLAP``, a multiple of ``multiple``."""
    overlap = max(MIN_OVERLAP, side // OVERLAP_SHARE)
    return -(-overlap // multiple) * multiple


def plan_axis(length: int, side: int, overlap: int, multiple: int) -> list[tuple[int, int]]:
    """Spans ``[start, stop)`` of at most ``side`` covering ``0:length``, starts multiples of
    ``multiple``, neighbours overlapping by at least ``overlap``; evenly spread, the last one
    ending at ``length``."""
    if length <= side:
        return [(0, length)]
    step = side - overlap - multiple  # room to round each start to the multiple
    if step < side // 4:
        raise ValueError(f"tiles of {side} cannot overlap by {overlap} on a grid of {multiple}")
    last = -(-(length - side) // multiple) * multiple  # the last span is [last, length), at most side long
    gaps = -(-last // step)
    starts = [round(i * last / gaps / multiple) * multiple for i in range(gaps + 1)]
    return [(s, min(s + side, length)) for s in starts]


def _taper(n: int, overlap: int) -> np.ndarray:
    """Weights of the first ``n`` pixels from a tile's inner edge: 0 over the quarter of the
    overlap nearest the edge, a raised cosine over its middle half, then 1."""
    margin = overlap // 4
    ramp = max(1, overlap - 2 * margin)
    d = np.arange(n, dtype=np.float64) - margin + 0.5
    return np.where(d <= 0, 0.0, np.where(d >= ramp, 1.0, 0.5 - 0.5 * np.cos(np.pi * np.clip(d, 0, ramp) / ramp)))


def axis_weights(spans: list[tuple[int, int]], length: int, overlap: int) -> list[np.ndarray]:
    """Each span's weights (float32, its own length) along one axis: tapered at the edges it
    shares with a neighbour (not at the picture's) over the overlap they really have (at least
    ``overlap``: evenly spread spans overlap more), normalised so they sum to 1 everywhere. Two
    neighbours' tapers then cross-fade over the middle half of their overlap."""
    raw = []
    for i, (start, stop) in enumerate(spans):
        w = np.ones(stop - start, dtype=np.float64)
        if start > 0:
            w *= _taper(stop - start, max(overlap, spans[i - 1][1] - start))
        if stop < length:
            w *= _taper(stop - start, max(overlap, stop - spans[i + 1][0]))[::-1]
        raw.append(w)
    total = np.zeros(length, dtype=np.float64)
    for (start, stop), w in zip(spans, raw):
        total[start:stop] += w
    if not (total > 0).all():
        raise ValueError("tile weights leave pixels uncovered")  # a planning error, never a user's
    return [(w / total[start:stop]).astype(np.float32) for (start, stop), w in zip(spans, raw)]


def plan_tiles(height: int, width: int, side: int, multiple: int, overlap: int | None = None) -> TilePlan:
    """The tiles of side ``side`` (rounded down to ``multiple``) for a ``height`` x ``width``
    picture; ``overlap`` defaults to ``default_overlap``."""
    side = side // multiple * multiple
    overlap = default_overlap(side, multiple) if overlap is None else overlap
    rows, cols = plan_axis(height, side, overlap, multiple), plan_axis(width, side, overlap, multiple)
    return TilePlan(height, width, side, overlap, rows, cols, axis_weights(rows, height, overlap), axis_weights(cols, width, overlap))


def auto_side(max_pixels: int, multiple: int) -> int:
    """The largest tile side within ``max_pixels`` (square tiles), a multiple of ``multiple``."""
    return min(MAX_TILE, math.isqrt(max_pixels) // multiple * multiple)


def tile_side(tile: str | int, width: int, height: int, max_pixels: int, family: str, what: str) -> int | None:
    """``--tile`` for a picture stylised at ``width`` x ``height``: the tile side, or None to
    stylise it whole. ``auto``: tiles only above ``max_pixels``, as large as it allows; ``off``:
    None (the caller refuses a picture above the budget); N: tiles of N, which must fit the
    budget. A picture within one tile is stylised whole. A family that cannot be tiled
    refuses N, and under auto gets None (the caller's budget check then refuses as for off)."""
    multiple = FAMILIES[family].tile_multiple
    if tile == "off" or (tile == "auto" and (width * height <= max_pixels or multiple is None)):
        return None
    if multiple is None:
        raise UserError(f"the {family} model cannot stylise a picture in tiles; use --tile off and a size within --max-pixels")
    if tile == "auto":
        side = auto_side(max_pixels, multiple)
        if side < MIN_TILE:
            raise UserError(
                f"{what} at {width}x{height} = {megapixels(width * height)} would exceed the memory budget (--max-pixels "
                f"{max_pixels}), and tiles within it would be under {MIN_TILE} pixels a side; raise the limit with "
                f"--max-pixels {MIN_TILE * MIN_TILE} or more"
            )
    else:
        side = int(tile)
        if side * side > max_pixels:
            raise UserError(
                f"--tile {side}: tiles of {megapixels(side * side)} would exceed the memory budget (--max-pixels {max_pixels}); use a smaller --tile, or auto"
            )
    return None if width <= side and height <= side else side


def check_tiled(width: int, height: int, max_pixels: int, what: str) -> None:
    """UserError where a picture to be stylised in tiles is too large to hold whole. Tiles bound
    the network's memory, but the picture and its result are held whole (float32 RGB each, and
    the blend's weights): about what a decoded input costs a pixel, so a tiled picture may have
    as many pixels as an input may (``budget.decode_limit``)."""
    limit = decode_limit(max_pixels)
    if width * height > limit:
        raise UserError(
            f"{what} at {width}x{height} = {megapixels(width * height)} would exceed the memory budget even in tiles "
            f"(--max-pixels {max_pixels} lets a tiled picture have {megapixels(limit)}, {DECODE_RATIO}x); use a smaller "
            f"--size, or raise the limit with --max-pixels {-(-width * height // DECODE_RATIO)}"
        )


def thumbnail(content: np.ndarray, pixels: int) -> np.ndarray:
    """``content`` itself where it has at most ``pixels`` pixels, else reduced to about that
    many (aspect kept, area averaging): what the whole picture's statistics are computed on."""
    h, w = content.shape[:2]
    if h * w <= pixels:
        return content
    scale = math.sqrt(pixels / (h * w))
    return resize(content, max(MIN_SIDE, int(h * scale)), max(MIN_SIDE, int(w * scale)))


def sample(rgb: np.ndarray, pixels: int = SAMPLE_PIXELS) -> np.ndarray:
    """A regular sample (a strided view) of at most about ``pixels`` of ``rgb``'s pixels: a
    large picture's colour mean and covariance, without float64 copies of all of it."""
    step = max(1, math.ceil(math.sqrt(rgb.shape[0] * rgb.shape[1] / pixels)))
    return rgb[::step, ::step]


def in_bands(fn: Callable[..., np.ndarray], out: np.ndarray, *others: np.ndarray, rows: int = BAND_ROWS) -> np.ndarray:
    """``out[band] = fn(out[band], *(o[band] for o in others))``, band by band of ``rows``
    rows: a per-pixel function on a large picture with temporaries the size of a band."""
    for y in range(0, out.shape[0], rows):
        band = slice(y, y + rows)
        out[band] = fn(out[band], *(o[band] for o in others))
    return out


def stylize_tiled(
    engine: Engine,
    content: np.ndarray,
    vectors: list[np.ndarray],
    *,
    alpha: float,
    side: int,
    stats_pixels: int,
    style_weights: list[float] | None = None,
    masks: np.ndarray | None = None,
    overlap: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """``content`` (H x W x 3 float in [0, 1]) stylised in tiles of ``side`` with the whole
    picture's statistics (computed on it reduced to at most ``stats_pixels``) -> H x W x 3
    float32, unclipped. ``masks`` (K x H x W): one style per mask, a statistics pass per style."""
    if not engine.capabilities.tiles:
        raise UserError(engine.tiles_refusal())
    h, w = content.shape[:2]
    plan = plan_tiles(h, w, side, FAMILIES[engine.weights.family].tile_multiple or 8, overlap)
    thumb = thumbnail(content, stats_pixels)
    if masks is None:
        style = mix_styles(vectors, style_weights)
        stats = engine.norm_stats(thumb, style, alpha)
    else:
        per_style = [engine.norm_stats(thumb, v, alpha) for v in vectors]
    del thumb

    def one(t: Tile) -> np.ndarray:
        region = content[t.y0 : t.y1, t.x0 : t.x1]
        if masks is None:
            return engine.stylize_tiles(region[None], style, alpha, stats)[0]
        return engine.stylize_regions(region, vectors, masks[:, t.y0 : t.y1, t.x0 : t.x1], alpha, stats=per_style)

    return assemble(plan, one, progress)


def assemble(plan: TilePlan, stylize_tile: Callable[[Tile], np.ndarray], progress: bool = False) -> np.ndarray:
    """The picture of ``plan``: each tile's result (``stylize_tile(tile)``, h x w x 3) added
    in with its weights into one float32 H x W x 3 array, a tile at a time."""
    out = np.zeros((plan.height, plan.width, 3), dtype=np.float32)
    tiles = plan.tiles
    for t in tqdm(tiles, desc="tiles", unit="tile", leave=False, disable=not progress or len(tiles) < 2):
        out[t.y0 : t.y1, t.x0 : t.x1] += stylize_tile(t) * t.weight
    return out

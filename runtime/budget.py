"""The memory budget (``--max-pixels``): how large a picture may be where it is stylised,
painted or written, checked before anything of that size is allocated.

Stylising costs far more memory per pixel than anything else a command does: the engines
hold float32 activations at full resolution (AdaIN's VGG and decoder keep 64-channel buffers
there, 256 bytes a pixel each). Measured with the torch engine on the CPU, the peak memory
grows by about 0.87 KB per pixel stylised with AdaIN and 0.28 KB with Magenta; ``paint``,
which optimises with gradients through VGG-19 to relu5_1, by about 3.1 KB. So:

- the budget is a number of pixels stylised at once (a batch of video frames counts each
  frame), by default the machine's physical memory over ``BYTES_PER_PIXEL`` (1 KiB: AdaIN,
  the heaviest feed-forward path, rounded up), at least ``MIN_PIXELS``;
- ``paint`` counts each pixel ``PAINT_COST`` times;
- an input is only decoded (uint8 and float32 RGB and a resized copy: at most
  ``DECODE_BYTES_PER_PIXEL``), so it may hold ``DECODE_RATIO`` times the budget: a large
  photo is reduced to its stylised size without being refused, while an image whose header
  claims gigapixels (a decompression bomb) still is.
"""

from __future__ import annotations

import os

from .errors import UserError

BYTES_PER_PIXEL = 1024
"""Memory per pixel stylised: AdaIN's measured 0.87 KB (torch, CPU, float32), rounded up."""
MIN_PIXELS = 4_194_304
"""The smallest default budget (2048 x 2048): a 1080p frame or an auto-sized still always fits."""
UNKNOWN_MEMORY = 8 << 30
"""Physical memory assumed where the system does not say (8 GiB)."""
PAINT_COST = 3
"""``paint``'s memory per pixel over ``BYTES_PER_PIXEL`` (measured: 3.1 KB)."""
DECODE_BYTES_PER_PIXEL = 32
DECODE_RATIO = BYTES_PER_PIXEL // DECODE_BYTES_PER_PIXEL
"""How many times the budget an input image or frame may hold: decoding costs 1/32 of stylising."""


def physical_memory() -> int | None:
    """Bytes of physical memory, where the system says (POSIX sysconf), else None."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf; some systems lack the names
        return None
    return total if total > 0 else None


def default_max_pixels(memory: int | None = None) -> int:
    """The default budget for ``memory`` bytes (default: this machine's physical memory)."""
    memory = memory if memory is not None else physical_memory() or UNKNOWN_MEMORY
    return max(MIN_PIXELS, memory // BYTES_PER_PIXEL)


DEFAULT_MAX_PIXELS = default_max_pixels()


def decode_limit(max_pixels: int) -> int:
    """The most pixels an input image or frame may have to be decoded under ``max_pixels``."""
    return max_pixels * DECODE_RATIO


def megapixels(pixels: int) -> str:
    """``12.0 MP``; under a megapixel, the count (a budget of 1000 is not ``0.0 MP``)."""
    return f"{pixels / 1e6:.1f} MP" if pixels >= 1_000_000 else f"{pixels} pixels"


def check_pixels(width: int, height: int, max_pixels: int, what: str, *, frames: int = 1, cost: int = 1, hint: str = "a smaller --size") -> None:
    """UserError, in one line giving the size and how to raise the limit, where ``frames``
    pictures of ``width`` x ``height`` at once (each pixel counted ``cost`` times) exceed the
    budget. ``what`` says what would be done: ``"stylising photo.jpg"``."""
    need = width * height * frames * cost
    if need <= max_pixels:
        return
    size = f"{width}x{height} = {megapixels(width * height)}"
    if frames > 1:
        size += f", {frames} frames at once"
    if cost > 1:
        size += f", counted {cost} times (it takes {cost}x the memory of stylising)"
    raise UserError(
        f"{what} at {size} would exceed the memory budget (--max-pixels {max_pixels}, {megapixels(max_pixels)}); "
        f"use {hint}, or raise the limit with --max-pixels {need}"
    )


def check_decodable(width: int, height: int, max_pixels: int, what: str) -> None:
    """UserError where an input of ``width`` x ``height`` is too large to decode under ``max_pixels``."""
    limit = decode_limit(max_pixels)
    if width * height > limit:
        raise UserError(
            f"{what} is {width}x{height} = {megapixels(width * height)}, more than the {megapixels(limit)} that "
            f"--max-pixels {max_pixels} lets an input have ({DECODE_RATIO}x); raise the limit with "
            f"--max-pixels {-(-width * height // DECODE_RATIO)}"
        )

"""Image loading and saving shared by every command.

Conventions: pixels are float32 RGB in [0, 1], shape HxWx3; alpha, where the file has it, is
kept beside them as float32 HxW. Grayscale files come back as three equal channels. EXIF
orientation is applied. Saving is atomic and picks the format from the extension.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from .budget import DEFAULT_MAX_PIXELS, check_decodable
from .errors import UserError
from .files import atomic_output, is_link_loop
from .sizing import scaled

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".pnm"}
_NO_ALPHA_FORMATS = {".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".pnm"}


@dataclass
class Image:
    rgb: np.ndarray  # float32 HxWx3 in [0, 1]
    alpha: np.ndarray | None = None  # float32 HxW in [0, 1]
    source: str = ""
    was_gray: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.rgb.shape[0], self.rgb.shape[1]


def check_image_file(path: str | os.PathLike[str], what: str = "image") -> Path:
    p = Path(path)
    if is_link_loop(p):
        raise UserError(f"{what} is a symbolic link loop: {p}")
    if not p.exists():
        raise UserError(f"{what} not found: {p}")
    if p.is_dir():
        raise UserError(f"{what} is a folder, expected an image file: {p}")
    if p.stat().st_size == 0:
        raise UserError(f"{what} is an empty file: {p}")
    return p


def load_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, what: str = "image") -> Image:
    """Decode an image file; raise UserError for anything a user could have got wrong.

    ``max_pixels``: the memory budget (``runtime.budget``); a file too large to decode under
    it is refused from its header, before its pixels are read. 0: no limit."""
    p = check_image_file(path, what)
    PILImage.MAX_IMAGE_PIXELS = None  # our own limit below gives the clearer message
    try:
        with PILImage.open(p) as im:
            w, h = im.size
            if max_pixels:
                check_decodable(w, h, max_pixels, f"{what} {p}")
            im = ImageOps.exif_transpose(im)
            rgb, alpha, was_gray = _to_float_rgb(im)
    except UserError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UserError(f"cannot decode {what} {p}: {e}") from None
    return Image(rgb=rgb, alpha=alpha, source=str(p), was_gray=was_gray)


def _to_float_rgb(im) -> tuple[np.ndarray, np.ndarray | None, bool]:  # noqa: ANN001 (PIL.Image)
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im).astype(np.float32)
        scale = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        gray = np.clip(arr / scale, 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2), None, True
    if mode == "F":
        gray = np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2), None, True
    if mode in ("1", "L"):
        gray = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
        return np.repeat(gray[..., None], 3, axis=2), None, True
    if mode in ("LA", "La", "PA"):
        la = np.asarray(im.convert("LA"), dtype=np.float32) / 255.0
        return np.repeat(la[..., :1], 3, axis=2), la[..., 1].copy(), True
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return np.ascontiguousarray(rgba[..., :3]), rgba[..., 3].copy(), False
    rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return rgb, None, False


def to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_image(path: str | os.PathLike[str], rgb: np.ndarray, alpha: np.ndarray | None = None) -> Path:
    """Save float RGB in [0, 1] (HxWx3) atomically; alpha is kept where the format can hold it."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UserError(f"unknown image format {suffix or '(no extension)'!r} for output {p}; use .png or .jpg")
    data = to_uint8(rgb)
    if alpha is not None and suffix not in _NO_ALPHA_FORMATS:
        if alpha.shape != data.shape[:2]:
            alpha = resize(alpha[..., None], data.shape[0], data.shape[1])[..., 0]
        data = np.concatenate([data, to_uint8(alpha)[..., None]], axis=2)
    options = {"quality": 95} if suffix in (".jpg", ".jpeg", ".webp") else {}
    with atomic_output(p) as tmp:
        PILImage.fromarray(data).save(tmp, **options)
    return p


def resize(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area averaging when shrinking, bicubic when enlarging (values clipped to [0, 1])."""
    if x.shape[0] == height and x.shape[1] == width:
        return x
    shrinking = height * width < x.shape[0] * x.shape[1]
    out = cv2.resize(x, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    if out.ndim == 2 and x.ndim == 3:
        out = out[..., None]
    return np.clip(out, 0.0, 1.0) if not shrinking else out


def resize_shorter_side(x: np.ndarray, side: int | None) -> np.ndarray:
    """``x`` with its shorter side scaled to ``side`` (``runtime.sizing.scaled``); None keeps it."""
    size = scaled(x.shape[1], x.shape[0], side)
    return resize(x, size.height, size.width)

"""Training data: image folders, random crops and an endless, resumable sampler.

Every sample is a pure function of ``(seed, stream, k)``, where ``k`` counts the samples of
the whole run (all processes together): the file is position ``k mod n`` of the permutation
for epoch ``k div n``, and the crop comes from a generator seeded with ``(seed, stream, k)``.
So a run resumed at iteration ``i`` sees exactly the batches an uninterrupted run would,
whatever the number of DataLoader workers, and the ``world`` processes of a DDP run together
see the samples a single process with ``world`` times the batch would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageOps
from torch.utils.data import DataLoader, Dataset, Sampler

from stylize.runtime.errors import UserError
from stylize.runtime.images import resize_shorter_side

CONTENT_STREAM, STYLE_STREAM = 0, 1
# Failures while decoding a sample (a file whose header looked fine but whose data does not).
_DECODE_ERRORS: tuple[type[BaseException], ...] = (UserError, OSError, ValueError, SyntaxError, EOFError)


@dataclass
class ImageList:
    """The readable images of a folder (sorted, found recursively) and what was skipped."""

    root: Path
    files: list[Path]
    skipped: list[Path] = field(default_factory=list)

    def describe(self, what: str) -> str:
        text = f"{what}: {len(self.files)} images in {self.root}"
        if self.skipped:
            names = ", ".join(str(p.relative_to(self.root)) for p in self.skipped[:3])
            more = f" and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
            text += f" ({len(self.skipped)} unreadable files skipped: {names}{more})"
        return text


def _readable(path: Path) -> bool:
    """True when Pillow or OpenCV recognises the file's header (cheap: no full decode)."""
    try:
        with PILImage.open(path) as im:
            w, h = im.size
        return w > 0 and h > 0
    except Exception:  # noqa: BLE001 - Pillow raises many types for files it does not know
        pass
    try:
        import cv2

        return bool(cv2.haveImageReader(str(path)))
    except Exception:  # noqa: BLE001 - cv2.error and path encoding errors alike
        return False


def scan_images(folder: str | os.PathLike[str], what: str = "image folder") -> ImageList:
    """Every file under ``folder`` that Pillow or OpenCV can read; UserError when none is."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise UserError(f"{what} not found: {root}")
    if not root.is_dir():
        raise UserError(f"{what} is not a folder: {root}")
    candidates: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        candidates += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    candidates.sort()
    workers = min(16, (os.cpu_count() or 1) * 4)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        ok = list(pool.map(_readable, candidates, chunksize=64))
    files = [p for p, good in zip(candidates, ok) if good]
    skipped = [p for p, good in zip(candidates, ok) if not good]
    if not files:
        detail = f"{len(skipped)} files, none of them an image Pillow or OpenCV can read" if skipped else "it is empty"
        raise UserError(f"no readable images in {what} {root}: {detail}")
    return ImageList(root, files, skipped)


def read_rgb(path: Path, shorter_side: int) -> np.ndarray:
    """Decode a file as float32 RGB in [0, 1] with its shorter side scaled to ``shorter_side``.

    Pillow first (EXIF orientation applied, JPEGs decoded at a reduced scale where that still
    leaves enough pixels), OpenCV for what Pillow cannot read.
    """
    PILImage.MAX_IMAGE_PIXELS = None  # training folders are the user's own images
    rgb: np.ndarray | None = None
    try:
        with PILImage.open(path) as im:
            if im.format == "JPEG":
                w, h = im.size
                scale = shorter_side / max(1, min(w, h))
                im.draft("RGB", (int(np.ceil(w * scale)), int(np.ceil(h * scale))))
            im = ImageOps.exif_transpose(im)
            if im.mode.startswith(("I", "F")):  # 16-bit and float images: the runtime's loader scales them
                from stylize.runtime.images import load_image

                rgb = load_image(path, max_pixels=0).rgb
            else:
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except _DECODE_ERRORS:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode {path}") from None
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return resize_shorter_side(rgb, shorter_side)


def random_crop(rgb: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return rgb[top : top + size, left : left + size]


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return rgb[top : top + size, left : left + size]


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32))


class CropDataset(Dataset):
    """Map-style dataset indexed by ``(file_index, k)`` as the EndlessSampler yields them.

    Returns ``(image CHW float32, failures)``: a file that cannot be decoded is replaced by
    the next one in the list, and ``failures`` counts how many were passed over.
    """

    def __init__(self, files: list[Path], load_size: int, crop: int, seed: int, stream: int) -> None:
        self.files = files
        self.load_size, self.crop = load_size, crop
        self.seed, self.stream = seed, stream

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        file_index, k = key
        n = len(self.files)
        for attempt in range(min(n, 32)):
            path = self.files[(file_index + attempt) % n]
            try:
                rgb = read_rgb(path, self.load_size)
            except _DECODE_ERRORS:
                continue
            rng = np.random.default_rng([self.seed, self.stream, k])
            return to_tensor(random_crop(rgb, self.crop, rng)), attempt
        raise RuntimeError(f"{min(n, 32)} images in a row failed to decode, starting at {self.files[file_index]}")


class EndlessSampler(Sampler):
    """Yields ``(file_index, k)`` for ever, ``batch`` per step, starting at ``start_step``."""

    def __init__(self, n: int, batch: int, seed: int, stream: int, start_step: int = 0, rank: int = 0, world: int = 1) -> None:
        self.n, self.batch, self.seed, self.stream = n, batch, seed, stream
        self.start_step, self.rank, self.world = start_step, rank, world
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 2:
                self._perms.pop(min(self._perms))
            self._perms[epoch] = np.random.default_rng([self.seed, self.stream, epoch]).permutation(self.n)
        return self._perms[epoch]

    def key(self, step: int, j: int) -> tuple[int, int]:
        k = (step * self.world + self.rank) * self.batch + j
        epoch, pos = divmod(k, self.n)
        return int(self._perm(epoch)[pos]), k

    def __iter__(self) -> Iterator[tuple[int, int]]:
        step = self.start_step
        while True:
            for j in range(self.batch):
                yield self.key(step, j)
            step += 1

    def __len__(self) -> int:  # endless; DataLoader only asks when someone calls len() on it
        return 2**62


def make_loader(
    images: ImageList,
    *,
    batch: int,
    load_size: int,
    crop: int,
    seed: int,
    stream: int,
    start_step: int = 0,
    rank: int = 0,
    world: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
    worker_init_fn: Callable[[int], None] | None = None,
) -> DataLoader:
    dataset = CropDataset(images.files, load_size, crop, seed, stream)
    sampler = EndlessSampler(len(images.files), batch, seed, stream, start_step, rank, world)
    return DataLoader(
        dataset,
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=True,
        prefetch_factor=2 if workers > 0 else None,
        worker_init_fn=worker_init_fn if workers > 0 else None,
    )


def fixed_samples(images: ImageList, count: int, load_size: int, crop: int) -> torch.Tensor:
    """The first readable ``count`` images, centre-cropped: the sample grid's inputs."""
    out: list[torch.Tensor] = []
    for path in images.files:
        if len(out) == count:
            break
        try:
            out.append(to_tensor(center_crop(read_rgb(path, load_size), crop)))
        except _DECODE_ERRORS:
            continue
    if not out:
        raise UserError(f"none of the images in {images.root} could be decoded")
    return torch.stack(out)

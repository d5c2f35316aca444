"""How a source string becomes an open input (``source_types.Source``).

Inputs: any file FFmpeg reads, a network URL FFmpeg opens, a folder of images or a glob
pattern (an image sequence).
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

from ..errors import UserError
from ..files import glob_files, is_link_loop
from .ffmpeg_input import FFmpegSource
from .image_sequence import ImageSequence, list_images
from .source_types import Source

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB_CHARS = re.compile(r"[*?\[]")


def is_url(source: str) -> bool:
    return bool(_URL_RE.match(source)) and not source.lower().startswith("file://")


def open_source(
    source: str | os.PathLike[str],
    *,
    fps: float | Fraction | None = None,
    audio: bool = True,
    gpu: int | None = None,
    gpu_required: bool = False,
) -> Source:
    """Open ``source``: a video file or URL (PyAV), a folder of images or a glob pattern.

    ``fps`` is the frame rate of a source without timestamps (an image sequence or a
    raw stream; default: the stream's own, else 25); ``audio`` demuxes the
    audio streams too (their packets go to ``audio_sink``). UserError for anything a user
    can fix: a missing file, an empty folder, a file that is not a video.
    ``gpu``: decode a video with NVDEC on this CUDA device, falling back to the CPU with a
    warning (``gpu_required``: a UserError instead); image files are always read on the CPU.
    """
    text = os.fspath(source)
    if is_url(text):
        return FFmpegSource(text, url=True, audio=audio, fps=fps, gpu=gpu, gpu_required=gpu_required)
    if text.lower().startswith("file://"):
        text = text[len("file://") :]
    path = Path(text)
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise UserError(f"no images in folder: {path}")
        _no_nvdec_for_images(text, gpu_required)
        return ImageSequence(files, fps=fps, name=str(path))
    if is_link_loop(path):
        raise UserError(f"input is a symbolic link loop: {path}")
    if path.exists():
        if path.stat().st_size == 0:
            raise UserError(f"input is an empty file: {path}")
        return FFmpegSource(text, url=False, audio=audio, fps=fps, gpu=gpu, gpu_required=gpu_required)
    if _GLOB_CHARS.search(text):
        matches = glob_files(text)  # a ``**`` walk that ends, symbolic link loops or not
        if not matches:
            raise UserError(f"no files match: {text}")
        _no_nvdec_for_images(text, gpu_required)
        return ImageSequence(matches, fps=fps, name=text)
    raise UserError(f"input not found: {text}")


def check_source(source: str | os.PathLike[str]) -> None:
    """The refusals of ``open_source`` that need nothing opened (a path that is not there, a
    symbolic link loop), so a run of several inputs is refused before the first is converted."""
    text = os.fspath(source)
    if is_url(text):
        return
    if text.lower().startswith("file://"):
        text = text[len("file://") :]
    path = Path(text)
    if is_link_loop(path):
        raise UserError(f"input is a symbolic link loop: {path}")
    if not path.exists() and not _GLOB_CHARS.search(text):
        raise UserError(f"input not found: {text}")


def _no_nvdec_for_images(name: str, gpu_required: bool) -> None:
    if gpu_required:
        raise UserError(f"decoder cuda: {name} is a sequence of image files, which NVDEC does not decode; use decoder auto or cpu")

"""Writing numbered PNG frames into a folder, atomically.

Frames go into a hidden temporary folder beside the target, renamed onto it only when
complete, so an interrupted run leaves no folder that looks finished. An existing target
folder is replaced only if it holds nothing but frames from an earlier run; any other
content makes it a UserError, before any work.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2

from ..errors import UserError
from ..files import new_partial, remove_stale_partials, write_error
from .audio import AudioCounts
from .timing import TimedFrame

FRAME_NAME = "frame_{:06d}.png"
_FRAME_RE = re.compile(r"^frame_\d{6,}\.png$")


def check_frames_folder(path: str | os.PathLike[str]) -> Path:
    """The target folder, after checking it can be written without losing anything else."""
    final = Path(os.fspath(path).rstrip("/" + os.sep) or "/")
    parent = final.parent
    if not parent.is_dir():
        raise UserError(f"output folder does not exist: {parent}")
    if final.exists() and not final.is_dir():
        raise UserError(f"output is a file, not a folder: {final}")
    if final.is_dir():
        others = [p.name for p in final.iterdir() if not _FRAME_RE.match(p.name)]
        if others:
            raise UserError(f"output folder {final} is not empty (it holds {others[0]!r}): choose an empty or new one")
    return final


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` on success, is removed on any exception."""
    final = check_frames_folder(path)
    prefix = f".{final.name}."
    remove_stale_partials(final.parent, prefix, ".partial")  # left by a killed run (see runtime/files.py)
    fd, tmp = new_partial(final.parent, prefix, ".partial", final, folder=True)
    try:
        yield tmp
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, old / "x")
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and (error := write_error(e, final)) is not None:
            raise error from None
        raise
    finally:
        os.close(fd)  # this run's lock on the partial folder


class FramesFolderWriter:
    """Writes frame_000001.png, frame_000002.png, ... (timestamps are not kept: a folder has none)."""

    def __init__(self, folder: Path, *, compression: int = 1) -> None:
        self.folder = folder
        self.compression = compression
        self.frames_written = 0
        self.audio_counts = AudioCounts()  # a folder of frames holds no audio

    def write(self, item: TimedFrame) -> None:
        bgr = cv2.cvtColor(item.image, cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, self.compression])
        if not ok:
            raise RuntimeError("PNG encoding failed")
        for _ in range(item.copies):
            self.frames_written += 1
            (self.folder / FRAME_NAME.format(self.frames_written)).write_bytes(data.tobytes())

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass

"""Atomic output files: written under a temporary name, renamed only when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name keeps the real suffix (muxers and image writers choose the format
    from it) and starts with a dot, so an interrupted run leaves no file that looks
    finished; on any exception, KeyboardInterrupt included, it is removed.
    """
    final = Path(path)
    parent = final.parent if str(final.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"output folder does not exist: {parent}")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".partial{final.suffix}", dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        use_default_permissions(tmp)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def use_default_permissions(path: Path) -> None:
    """Give a finished output the mode a plain ``open`` would (mkstemp/mkdtemp make it private)."""
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when two paths name the same file (also through links and relative paths)."""
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return os.path.samefile(pa, pb)
    return pa.resolve() == pb.resolve()


def refuse_overwriting_inputs(output: str | os.PathLike[str], inputs: list[str | os.PathLike[str]]) -> None:
    for item in inputs:
        if same_file(output, item):
            raise UserError(f"output path is one of the inputs: {output}")

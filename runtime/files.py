"""Atomic output files: written under a temporary name, renamed only when complete."""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import glob as globlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so stale partials are left alone there
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, group_write: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name keeps the real suffix (muxers and image writers choose the format
    from it) and starts with a dot, so an interrupted run leaves no file that looks
    finished; on any exception, KeyboardInterrupt included, it is removed. While it is written
    this process holds a lock on it, so a later run to the same output can tell a partial
    left by a killed run (removed) from one another run is still writing (kept): see
    ``remove_stale_partials``. A full disk or an unwritable folder is a one-line UserError.
    ``group_write=False`` (the store's files): never writable by group or others, whatever
    the umask.
    """
    final = Path(path)
    parent = final.parent if str(final.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"output folder does not exist: {parent}")
    prefix, suffix = f".{final.stem}.", f".partial{final.suffix}"
    remove_stale_partials(parent, prefix, suffix)
    fd, tmp = new_partial(parent, prefix, suffix, final)
    try:
        yield tmp
        use_default_permissions(tmp, group_write=group_write)
        os.replace(tmp, final)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(e, OSError) and (error := write_error(e, final)) is not None:
            raise error from None
        raise
    finally:
        os.close(fd)  # the lock goes once the partial is renamed or removed


def use_default_permissions(path: Path, *, group_write: bool = True) -> None:
    """Give a finished output the mode a plain ``open`` would (mkstemp/mkdtemp make it private);
    ``group_write=False``: without write permission for group and others, whatever the umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    if not group_write:
        mask |= 0o022
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when two paths name the same file (also through links and relative paths)."""
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return os.path.samefile(pa, pb)
    return os.path.realpath(pa) == os.path.realpath(pb)  # Path.resolve raises on a link loop


def refuse_overwriting_inputs(output: str | os.PathLike[str], inputs: list[str | os.PathLike[str]]) -> None:
    for item in inputs:
        if same_file(output, item):
            raise UserError(f"output path is one of the inputs: {output}")


# partial outputs: made locked, removed when their writer is gone -------------------------------
_TEMP_PART = "[a-z0-9_]{8}"  # the random part of tempfile's names


def new_partial(parent: Path, prefix: str, suffix: str, target: Path, *, folder: bool = False) -> tuple[int, Path]:
    """A new hidden partial file (or folder) in ``parent``, and an open descriptor that holds
    this process's lock on it until closed. UserError where the folder cannot be written."""
    while True:
        fd = -1
        try:
            if folder:
                name = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent)
                try:
                    fd = os.open(name, os.O_RDONLY)
                except FileNotFoundError:
                    continue  # removed as stale in the instant before it was locked
            else:
                fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=parent)
        except OSError as e:
            raise write_error(e, target, creating=True) or e from None
        try:
            locked = _lock(fd, wait=True)
            if locked is None or _same_file_at(fd, name):
                return fd, Path(name)
        except BaseException:
            os.close(fd)
            _remove(Path(name))
            raise
        os.close(fd)  # a later run took it for stale before the lock: make another


def remove_stale_partials(parent: Path, prefix: str, suffix: str) -> None:
    """Remove the partials of one output (``PREFIX{random}SUFFIX`` in ``parent``) that no live
    process is writing: those left by a run that was killed (SIGKILL, a power cut).

    A writer holds an exclusive ``flock`` on its partial for as long as it writes, and the
    kernel drops the lock when the writer dies however it dies; a partial whose lock can be
    taken is therefore stale, while one still locked belongs to another run writing the same
    output at this moment and is left alone. (An age limit could not tell a slow writer
    from a dead one.) Where locks are unavailable (Windows, a file system without them)
    nothing is removed."""
    if fcntl is None:
        return
    pattern = re.compile(re.escape(prefix) + _TEMP_PART + re.escape(suffix) + r"\Z")
    try:
        names = [n for n in os.listdir(parent) if pattern.match(n)]
    except OSError:
        return
    for name in names:
        path = parent / name
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            if _lock(fd, wait=False) and _same_file_at(fd, path):
                _remove(path)
                log.info("removed %s, left by an interrupted run", path)
        finally:
            os.close(fd)


def _lock(fd: int, *, wait: bool) -> bool | None:
    """Take the exclusive lock: True, False (another process holds it), None (no locks here)."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def _same_file_at(fd: int, path: str | os.PathLike[str]) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# disk errors as one line -------------------------------------------------------------------------
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def write_error(e: OSError, target: str | os.PathLike[str], *, creating: bool = False) -> UserError | None:
    """The one-line error for a failed write of ``target`` where the disk is the cause (full,
    read-only, a file too large; with ``creating``, a folder that refuses new files too); None
    for any other error, which is raised as it is."""
    folder = Path(target).parent
    if e.errno in _NO_SPACE:
        return UserError(f"no space left on the device of {folder}: {target} was not written")
    if e.errno == errno.EFBIG:
        return UserError(f"{target} is too large for its file system: it was not written")
    if e.errno == errno.EROFS or creating:
        return UserError(f"cannot write in {folder}: {e.strerror or e}")
    return None


def check_writable(folder: str | os.PathLike[str]) -> None:
    """UserError unless a new file can be made in ``folder``: tried for real with a probe
    file, so permissions, read-only mounts, ACLs and running as root all answer as the write
    itself will. Called before the work, so a run is refused before it stylises anything."""
    path = Path(folder)
    if not path.is_dir():
        raise UserError(f"output folder does not exist: {path}")
    try:
        fd, name = tempfile.mkstemp(prefix=".stylize-probe.", dir=path)
    except OSError as e:
        raise UserError(f"output folder {path} is not writable ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(name)


# inputs -----------------------------------------------------------------------------------------
GLOB_CHARS = re.compile(r"[*?\[]")


def is_link_loop(path: str | os.PathLike[str]) -> bool:
    """True for a symbolic link that never reaches a file (a loop: ``ln -s a b; ln -s b a``)."""
    try:
        os.stat(path)
    except OSError as e:
        return e.errno == errno.ELOOP
    return False


def glob_files(pattern: str) -> list[Path]:
    """The files that match a glob pattern (``**``: any number of folders), sorted.

    Python's own ``**`` follows links to folders without remembering where it has been, so a
    link loop makes it run until killed. Here a ``**`` walks each folder once (links to folders
    are followed, to a folder not seen yet), so it ends, and no file is listed twice. As in
    ``glob``, ``*`` and ``**`` skip hidden names."""
    if "**" not in pattern:
        return sorted(Path(p) for p in globlib.glob(pattern) if os.path.isfile(p))
    parts = Path(pattern).parts
    fixed = 0
    while fixed < len(parts) - 1 and not GLOB_CHARS.search(parts[fixed]):
        fixed += 1
    root = Path(*parts[:fixed]) if fixed else Path(".")
    rest = parts[fixed:]
    if not root.is_dir():
        return []
    seen: set[tuple[int, int]] = set()
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        try:
            here = os.stat(folder)
        except OSError:
            continue
        if (here.st_dev, here.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((here.st_dev, here.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        relative = Path(folder).relative_to(root).parts
        for name in files:
            if _glob_match(rest, (*relative, name)) and os.path.isfile(os.path.join(folder, name)):
                found.append(Path(folder) / name)
    return sorted(found)


def _glob_match(pattern: tuple[str, ...], names: tuple[str, ...]) -> bool:
    """``names`` (path components) against ``pattern`` (components; ``**``: zero or more folders)."""
    if not pattern:
        return not names
    head, tail = pattern[0], pattern[1:]
    if head == "**":
        for i in range(len(names) + 1):
            if _glob_match(tail, names[i:]):
                return True
            if i < len(names) and names[i].startswith("."):
                return False
        return False
    if not names or names[0].startswith(".") and not head.startswith("."):
        return False
    return fnmatch.fnmatch(names[0], head) and _glob_match(tail, names[1:])

"""Inputs and outputs of ``image`` and ``video``, in the same forms for both.

Inputs: files, folders and quoted glob patterns (``'shots/**/*.jpg'``; ``**`` walks each
folder once, so a symbolic link loop ends it). For ``image`` a folder or a glob is several
stills; for ``video`` it is one input, an image sequence.

Output (``-o``): a file (one input), or a folder, named as an existing folder or with a
trailing slash, that takes one output per input (``{input}__{styles}.png`` for image,
``.mp4`` for video). Several inputs need a folder: an existing file is refused, and so is a
new name with an extension (it would become a folder named like a file). Two inputs that
would be written to the same name are refused, naming both, before any work: a silently
overwritten result is worse than a refusal, and names made unique by a counter would change
when the set of inputs changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from stylize.runtime.errors import UserError
from stylize.runtime.files import GLOB_CHARS, check_writable, glob_files, is_link_loop
from stylize.runtime.images import IMAGE_SUFFIXES
from stylize.runtime.video.image_sequence import natural_key
from stylize.runtime.video.source import is_url


def expand_images(items: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Still images from the command line: a file as given (checked when it is read), the
    images directly in a folder, the image files a quoted glob matches; in natural order
    within a folder or a glob."""
    found: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text)
        if is_link_loop(path):
            raise UserError(f"content image is a symbolic link loop: {path}")
        if path.is_dir():
            images = sorted(
                (p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES),
                key=natural_key,
            )
            if not images:
                raise UserError(f"no images in folder: {path}")
        elif not path.exists() and GLOB_CHARS.search(text):
            images = sorted((p for p in glob_files(text) if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
            if not images:
                raise UserError(f"no images match: {text}")
        else:
            images = [path]
        found += images
    return found


def input_stem(source: str | os.PathLike[str]) -> str:
    """The name an input gives its output in a folder: a file's stem, a folder's name, a
    glob's last fixed folder, a URL's last path segment."""
    text = os.fspath(source)
    if is_url(text):
        tail = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return Path(tail).stem or "stream"
    path = Path(text)
    if GLOB_CHARS.search(text) and not path.exists():
        fixed = []
        for part in path.parts:
            if GLOB_CHARS.search(part):
                break
            if part not in (path.anchor, ".", ".."):
                fixed.append(part)
        return fixed[-1] if fixed else "frames"
    return path.name if path.is_dir() else path.stem


def plan_outputs(inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], name: Callable[[str], str]) -> list[Path] | None:
    """One output path per input, checked before any work; None where ``output`` is a single
    input's own target (a file, or for video a frames folder), left to the command.

    ``name(input)``: the file name an input gets inside an output folder. The folder is
    created (a trailing slash, or several inputs) and must be writable."""
    text = os.fspath(output)
    path = Path(text)
    slash = text.endswith(("/", os.sep))
    if len(inputs) == 1 and not path.is_dir() and not slash:
        return None
    if path.exists() and not path.is_dir():
        what = f"{len(inputs)} inputs need" if len(inputs) > 1 else "a trailing slash names"
        raise UserError(f"output {text} is a file: {what} a folder (an existing one, or a new name ending in /)")
    if len(inputs) > 1 and not path.is_dir() and not slash and path.suffix:
        raise UserError(f"{len(inputs)} inputs need an output folder, and {text} looks like a file: end it with / to make it a folder")
    targets = [path / name(os.fspath(i)) for i in inputs]
    seen: dict[Path, str] = {}
    for source, target in zip(inputs, targets):
        if target in seen:
            first = seen[target]
            why = "is given twice" if _same(first, source) else f"and {os.fspath(source)} would both be written to {target}"
            raise UserError(f"{first} {why}: give each its own run or output folder")
        seen[target] = os.fspath(source)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot make the output folder {path}: {e.strerror or e}") from None
    check_writable(path)
    return targets


def _same(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)

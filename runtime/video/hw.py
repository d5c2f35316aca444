"""The GPU's video engines: NVDEC decoding (FFmpeg's CUDA hwaccel) and NVENC encoding.

Each is tried only where asked for. ``auto`` tries it when the engine runs on CUDA (the
frames are going to the GPU anyway, and the CPU is then free for the rest), ``cuda`` /
``nvenc`` always (refused in one line where it cannot open), ``cpu`` never. Whether it
works is learnt by opening the real thing, once per process: a CUDA device for NVDEC, an
NVENC encoder that encodes one small frame. An NVIDIA driver can be missing, and GPUs
without NVENC exist (H100, H200, A100), so a failed probe is an ordinary answer: the
reason FFmpeg gave is kept for the one line that says so.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from fractions import Fraction

import av
import av.logging
import numpy as np
from av.codec.hwaccel import HWAccel

from ..errors import UserError

DECODERS = ("auto", "cpu", "cuda")
ENCODERS = ("auto", "cpu", "nvenc")

NVENC = {"libx264": "h264_nvenc"}
"""The CPU encoder of an output format -> the NVENC encoder of the same codec."""

_NVENC_PRESET = {  # x264 preset -> NVENC preset (p1 fastest .. p7 best)
    "ultrafast": "p1",
    "superfast": "p2",
    "veryfast": "p3",
    "faster": "p3",
    "fast": "p4",
    "medium": "p4",
    "slow": "p5",
    "slower": "p6",
    "veryslow": "p7",
    "placebo": "p7",
}


def gpu_index(device: str | None) -> int | None:
    """The CUDA device index of an engine's device (``cuda`` -> 0, ``cuda:1`` -> 1); None off CUDA."""
    if not device or not device.startswith("cuda"):
        return None
    _, _, index = device.partition(":")
    return int(index) if index.isdigit() else 0


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UserError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


@contextlib.contextmanager
def ffmpeg_errors() -> Iterator[list[str]]:
    """FFmpeg's error messages logged by this thread meanwhile, in the list once the block
    has ended (an exception says "Operation not permitted"; the log "Cannot load libcuda.so.1")."""
    errors: list[str] = []
    previous, skip_repeated = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)  # the same failure twice is still said twice
    logs: list[tuple[int, str, str]] = []
    try:
        with av.logging.Capture() as logs:
            yield errors
    finally:
        av.logging.set_level(previous)
        av.logging.set_skip_repeated(skip_repeated)
        for level, _, message in logs:  # filled in when the capture ends
            text = message.strip()
            if level <= av.logging.ERROR and text and text not in errors:
                errors.append(text)


def reason(e: BaseException, errors: list[str]) -> str:
    """Why an FFmpeg call failed: its logged errors, else the exception's words."""
    if errors:
        return "; ".join(errors)
    text = getattr(e, "strerror", None) or str(e)
    return text.rstrip(".")


def _attempt(fn: Callable[[], object]) -> str | None:
    """None where ``fn`` runs, else why it failed."""
    failure: BaseException | None = None
    with ffmpeg_errors() as errors:
        try:
            fn()
        except (av.FFmpegError, OSError, NotImplementedError, RuntimeError, ValueError) as e:
            failure = e
    return None if failure is None else reason(failure, errors)


def hwaccel(index: int) -> HWAccel:
    """NVDEC on CUDA device ``index``, without FFmpeg's silent fallback to the CPU (a
    stream NVDEC refuses fails on its first frame instead, and is reopened on the CPU)."""
    return HWAccel("cuda", device=str(index), allow_software_fallback=False)


@functools.lru_cache(maxsize=None)
def cuda_device_error(index: int) -> str | None:
    """None where FFmpeg can open CUDA device ``index`` for decoding, else why not."""
    return _attempt(lambda: hwaccel(index).create(av.Codec("h264", "r")))


@functools.lru_cache(maxsize=None)
def nvenc_error(codec: str, index: int | None) -> str | None:
    """None where ``codec`` (h264_nvenc, ...) encodes a 256x256 frame on GPU ``index`` (None:
    any), else why not. A throwaway encoder: opening it is what fails without NVENC."""
    if codec not in av.codecs_available:
        return f"this FFmpeg build has no {codec}"

    def encode_one() -> None:
        ctx = av.CodecContext.create(codec, "w")
        ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 256, 256, "yuv420p", Fraction(1, 25)
        ctx.options = nvenc_options(23, "veryfast", index)
        frame = av.VideoFrame.from_ndarray(np.zeros((256, 256, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
        frame.pts = 0
        ctx.encode(frame)
        ctx.encode(None)

    return _attempt(encode_one)


def nvenc_options(crf: float, preset: str, index: int | None, b_frames: bool = True) -> dict[str, str]:
    """x264's crf/preset in NVENC's words: VBR at constant quality ``cq`` (the same 0-51
    scale; no bitrate cap) with the preset of about the same speed rank; crf 0 (lossless
    for x264) is NVENC's lossless tuning."""
    options = {"preset": _NVENC_PRESET[preset]}
    if crf < 1:  # cq 0 means "automatic" to NVENC, not lossless
        options["tune"] = "lossless"
    else:
        options.update({"tune": "hq", "rc": "vbr", "cq": f"{crf:g}", "b": "0"})
    if index is not None:
        options["gpu"] = str(index)
    if not b_frames:
        options["bf"] = "0"
    return options

"""Which output to write, chosen from the output path alone (checked before any work).

A path that is a folder, or ends with a slash, gets numbered PNG frames. Anything else
must end in one of the extensions below; each names an FFmpeg muxer, the video encoder
that goes into it, the audio codecs copied unchanged, and the encoder for the rest.

Why a fixed table instead of whatever FFmpeg guesses from the extension: the guess also
accepts muxers that cannot hold H.264 (``.gif``, ``.mpg``) or that only fail at the end,
and ``avformat_query_codec`` answers "maybe" for some (MPEG-TS). A short list that is
known to work, and a clear error for the rest, is kinder than a half-written file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import av

from ..errors import UserError

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


@dataclass(frozen=True)
class OutputFormat:
    """One output container and the codecs that go into it."""

    muxer: str
    video_codec: str
    audio_codec: str
    """Encoder for audio streams that cannot be copied (AAC everywhere but WebM)."""
    audio_copy: frozenset[str] | None
    """Codec names copied unchanged; ``None``: whatever the muxer accepts."""
    b_frames: bool = True
    """False for AVI: it stores no presentation timestamps, so frames cannot be reordered."""
    frame_slots: bool = False
    """True for AVI: time is counted in frame slots of one fixed rate (gaps are empty slots)."""
    options: dict[str, str] = field(default_factory=dict)
    """Muxer options."""

    @property
    def crf_range(self) -> tuple[int, int]:
        return (0, 63) if self.video_codec == "libvpx-vp9" else (0, 51)


_MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus"})
_MP4 = OutputFormat("mp4", "libx264", "aac", _MP4_AUDIO, options={"movflags": "+faststart"})

FORMATS: dict[str, OutputFormat] = {
    ".mp4": _MP4,
    ".m4v": _MP4,
    ".mov": OutputFormat(
        "mov",
        "libx264",
        "aac",
        frozenset({"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be"}),
        options={"movflags": "+faststart"},
    ),
    ".mkv": OutputFormat("matroska", "libx264", "aac", None),
    ".avi": OutputFormat(
        "avi",
        "libx264",
        "aac",
        frozenset({"mp3", "mp2", "ac3", "pcm_s16le", "pcm_u8", "aac"}),
        b_frames=False,
        frame_slots=True,
    ),
    # WebM holds only VP8/VP9/AV1 video and Opus/Vorbis audio: VP9 + Opus here.
    ".webm": OutputFormat("webm", "libvpx-vp9", "libopus", frozenset({"opus", "vorbis"})),
}


def is_folder_output(output: str | os.PathLike[str]) -> bool:
    """True when ``output`` names a folder of frames: an existing folder, or a path ending in a slash."""
    text = os.fspath(output)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def output_format(output: str | os.PathLike[str]) -> OutputFormat | None:
    """The container for ``output``, or ``None`` for a folder of PNG frames; UserError if unsupported."""
    if is_folder_output(output):
        return None
    suffix = Path(output).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        known = ", ".join(FORMATS)
        what = f"extension {suffix!r}" if suffix else "no extension"
        raise UserError(
            f"cannot write video to {os.fspath(output)!r} ({what}): use one of {known}, "
            "or a folder (ending in '/') for PNG frames"
        )

    missing = [c for c in (fmt.video_codec, fmt.audio_codec) if c not in av.codecs_available]
    if fmt.muxer not in av.formats_available or missing:
        raise UserError(
            f"this PyAV/FFmpeg build cannot write {suffix} files (missing: {', '.join(missing) or fmt.muxer})"
        )
    return fmt


def check_encoder_options(fmt: OutputFormat | None, crf: int, preset: str) -> None:
    """UserError for a crf or preset the encoder would reject, before any work."""
    if fmt is None:
        return
    lo, hi = fmt.crf_range
    if not (lo <= crf <= hi):
        raise UserError(f"crf must be in {lo}..{hi} for {fmt.video_codec}, got {crf}")
    if preset not in X264_PRESETS:
        raise UserError(f"unknown preset {preset!r}: use one of {', '.join(X264_PRESETS)}")

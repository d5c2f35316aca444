"""Writing a video file: H.264 (or VP9 for WebM) frames plus the input's audio streams.

The H.264 encoder is x264 on the CPU, or NVENC on the GPU where one is asked for and opens
(``choose_encoder``; ``hw.py`` probes it).
"""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..errors import UserError
from .audio import AudioCounts, AudioMuxer
from .colorspace import AVCOL_PRI_UNSPECIFIED, AVCOL_RANGE_MPEG, AVCOL_TRC_UNSPECIFIED, ColorTags
from .containers import OutputFormat
from .hw import ENCODERS, NVENC, check_choice, gpu_index, nvenc_error, nvenc_options
from .timing import TimedFrame

log = logging.getLogger(__name__)

_VP9_SPEED = {  # x264 preset -> libvpx-vp9 (deadline, cpu-used)
    "ultrafast": ("realtime", 8),
    "superfast": ("realtime", 8),
    "veryfast": ("realtime", 7),
    "faster": ("good", 5),
    "fast": ("good", 4),
    "medium": ("good", 3),
    "slow": ("good", 2),
    "slower": ("good", 1),
    "veryslow": ("good", 0),
    "placebo": ("good", 0),
}


def encoder_options(fmt: OutputFormat, crf: float, preset: str) -> dict[str, str]:
    """CPU codec options: constant quality ``crf`` at the speed of ``preset``, with as many
    threads as the encoder picks for the cores (``threads`` 0: x264 1.5 per core, libvpx one
    per core up to 16); the process and decode stages mostly wait on the engine."""
    crf_text = f"{crf:g}"
    if fmt.video_codec == "libvpx-vp9":
        deadline, cpu_used = _VP9_SPEED[preset]
        return {"crf": crf_text, "b": "0", "deadline": deadline, "cpu-used": str(cpu_used), "row-mt": "1", "threads": "0"}
    options = {"crf": crf_text, "preset": preset, "threads": "0"}
    if not fmt.b_frames:
        options["bf"] = "0"
    return options


def check_encoder_choice(fmt: OutputFormat | None, encoder: str) -> None:
    """UserError, before any work, for an ``encoder`` that cannot be had: ``nvenc`` for an
    output without an NVENC encoder (VP9, PNG frames) or where NVENC does not open."""
    check_choice("encoder", encoder, ENCODERS)
    if encoder != "nvenc":
        return
    if fmt is None:
        raise UserError("encoder nvenc: a folder of PNG frames is not encoded; use encoder auto or cpu")
    nvenc = NVENC.get(fmt.video_codec)
    if nvenc is None:
        raise UserError(f"encoder nvenc: no NVENC encoder for {fmt.video_codec} ({fmt.muxer} files); write .mp4, .mkv, .mov or .avi")
    why = nvenc_error(nvenc, None)
    if why is not None:
        raise UserError(f"encoder nvenc: {nvenc} cannot open here ({why}); use encoder auto or cpu")


def choose_encoder(fmt: OutputFormat, encoder: str, device: str | None) -> tuple[str, int | None, str]:
    """(the video encoder for ``fmt``, its CUDA device or None for the CPU's encoder, why
    NVENC was wanted and not used or "").

    ``auto``: NVENC where the engine runs on CUDA (``device``) and NVENC opens there, else
    the CPU's encoder, with one note saying why; ``nvenc``: NVENC or a UserError; ``cpu``:
    the CPU's encoder.
    """
    check_choice("encoder", encoder, ENCODERS)
    cpu, index = fmt.video_codec, gpu_index(device)
    nvenc = NVENC.get(cpu)
    if encoder == "cpu" or (encoder == "auto" and (index is None or nvenc is None)):
        return cpu, None, ""
    check_encoder_choice(fmt, encoder)  # nvenc: refused for VP9 and where NVENC opens nowhere
    if nvenc is None:
        return cpu, None, ""
    why = nvenc_error(nvenc, index)
    if why is None:
        return nvenc, index, ""
    if encoder == "nvenc":
        raise UserError(f"encoder nvenc: {nvenc} cannot open on {device} ({why}); use encoder auto or cpu")
    log.info("%s does not open on %s (%s): encoding with %s on the CPU", nvenc, device, why, cpu)
    return cpu, None, f"{nvenc}: {why}"


class VideoFileWriter:
    """Encodes timed RGB frames into ``path`` and muxes the input's audio beside them.

    Frames arrive with timestamps in ``time_base`` (already offset to start at the
    common origin). For AVI, which only counts frame slots, they are re-quantised to the
    nominal rate. Not thread-safe: one thread writes, but ``feed_audio`` may be called
    from another.
    """

    def __init__(
        self,
        path: Path,
        fmt: OutputFormat,
        *,
        width: int,
        height: int,
        time_base: Fraction,
        rate: Fraction | None,
        crf: float,
        preset: str,
        colors: ColorTags,
        sample_aspect_ratio: Fraction | None = None,
        audio_streams: tuple[Any, ...] = (),
        origin: Fraction = Fraction(0),
        codec: str | None = None,
        gpu: int | None = None,
    ) -> None:
        """``codec``: the video encoder, default the format's (``choose_encoder`` picks
        NVENC); ``gpu``: NVENC's CUDA device (None: any)."""
        self.fmt = fmt
        self.frames_written = 0
        self.in_time_base = time_base
        self.rate = rate or Fraction(25)
        self.time_base = 1 / self.rate if fmt.frame_slots else time_base
        self._last_slot: int | None = None
        self._durations: dict[int, int] = {}
        codec = codec or fmt.video_codec
        # ``encoder``: what encodes the video, for the summary
        if codec in NVENC.values():
            options = nvenc_options(crf, preset, gpu, fmt.b_frames)
            self.encoder = f"{codec} (cuda:{gpu})" if gpu is not None else f"{codec} (gpu)"
        else:
            options = encoder_options(fmt, crf, preset)
            self.encoder = f"{codec} (cpu, auto threads)"
        self.out = av.open(str(path), "w", format=fmt.muxer, container_options=dict(fmt.options))
        try:
            stream = self.out.add_stream(codec, rate=self.rate, options=options)
            ctx = stream.codec_context
            if codec == "libx264":
                # PyAV's default thread type (SLICE) makes x264 split each frame into slices;
                # FRAME is x264's own default: frames in parallel, smaller files.
                ctx.thread_type = "FRAME"
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            ctx.time_base = self.time_base
            stream.time_base = self.time_base
            ctx.colorspace = colors.colorspace
            ctx.color_range = AVCOL_RANGE_MPEG
            if colors.primaries != AVCOL_PRI_UNSPECIFIED:
                ctx.color_primaries = colors.primaries
            if colors.trc != AVCOL_TRC_UNSPECIFIED:
                ctx.color_trc = colors.trc
            if sample_aspect_ratio and sample_aspect_ratio != 1:
                ctx.sample_aspect_ratio = sample_aspect_ratio
            self.stream = stream
            self.colors = colors
            self._reformatter = av.video.reformatter.VideoReformatter()
            self.audio = AudioMuxer(self.out, audio_streams, fmt, origin) if audio_streams else None
        except BaseException:
            self.out.close()
            raise

    @property
    def audio_counts(self) -> AudioCounts:
        return self.audio.counts if self.audio else AudioCounts()

    def feed_audio(self, packet: Any) -> None:
        """Hand over a demuxed audio packet (any thread)."""
        if self.audio is not None:
            self.audio.feed(packet)

    def _yuv(self, image: np.ndarray) -> Any:
        # from_numpy_buffer wraps the array without the full-frame copy from_ndarray makes
        frame = av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(image), format="rgb24")
        return self._reformatter.reformat(
            frame, format="yuv420p", dst_colorspace=self.colors.sws_matrix, dst_color_range=AVCOL_RANGE_MPEG
        )

    def write(self, item: TimedFrame) -> None:
        frame = self._yuv(item.image)
        for i in range(item.copies):
            pts = item.pts + i * item.duration
            duration = item.duration
            if self.fmt.frame_slots:
                pts, duration = self._to_slots(pts, duration)
                if duration <= 0:
                    continue
            frame.pts = pts
            frame.time_base = self.time_base
            frame.duration = duration
            self._durations[pts] = duration
            self._mux_video(self.stream.encode(frame))
            self.frames_written += 1
            if self.audio is not None:
                self.audio.drain((pts + duration) * self.time_base)

    def _to_slots(self, pts: int, duration: int) -> tuple[int, int]:
        """AVI: the slot at the nominal rate nearest to ``pts``; never the same slot twice."""
        scale = self.in_time_base / self.time_base
        start = int(pts * scale + Fraction(1, 2))
        end = int((pts + duration) * scale + Fraction(1, 2))
        if self._last_slot is not None:
            start = max(start, self._last_slot + 1)
        end = max(end, start + 1)
        self._last_slot = start
        return start, end - start

    def _mux_video(self, packets: list[Any]) -> None:
        for packet in packets:
            duration = self._durations.pop(packet.pts, None) if packet.pts is not None else None
            if not packet.duration and duration:
                packet.duration = duration
            self.out.mux_one(packet)

    def finish(self) -> None:
        """Flush the encoder, write the remaining audio and the trailer."""
        self._mux_video(self.stream.encode(None))
        if self.audio is not None:
            self.audio.finish()
        self.out.close()

    def abort(self) -> None:
        """Release the file without finishing it (the caller deletes it)."""
        with contextlib.suppress(Exception):
            self.out.close()

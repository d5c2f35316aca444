"""Video files and network streams through PyAV (FFmpeg): RGB frames plus audio packets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import Interpolation

from ..errors import UserError
from ..sizing import Size, needs_crop
from .colorspace import ColorTags, source_colors
from .hw import cuda_device_error, ffmpeg_errors, hwaccel, reason
from .source_types import RawFrame, SourceInfo
from .timing import as_rate

log = logging.getLogger(__name__)
_CORRUPT = (av.error.InvalidDataError, av.error.PatchWelcomeError, av.error.BugError)

URL_TIMEOUT_S = (15.0, 15.0)  # (open, read): a stalled stream ends with an error, not a hang
MAX_ERRORS_IN_A_ROW = 64  # demuxer errors without a good packet between them: give up (end of input)


def _fraction(x: Any) -> Fraction | None:
    return Fraction(x) if x else None


def _is_cover_art(stream: Any) -> bool:
    return bool(int(stream.disposition) & int(av.stream.Disposition.attached_pic))


class _GpuRefused(Exception):
    """NVDEC could not open or decode this input: it is reopened on the CPU."""


class FFmpegSource:
    """Decodes the first video stream; demuxes the audio streams along with it.

    Opening decodes the first frame, so a file without a decodable frame fails here,
    before any output exists. Corrupt packets and frames are skipped and counted.

    ``gpu``: decode on this CUDA device with NVDEC (FFmpeg's hwaccel: the frames come back
    to the host as NV12 and take the same swscale conversion as the CPU's). Where NVDEC
    cannot (no driver, a codec or profile it lacks), one warning says why and the CPU
    decodes; with ``gpu_required`` that is a UserError instead.
    """

    def __init__(
        self,
        source: str,
        *,
        url: bool,
        audio: bool = True,
        fps: float | Fraction | None = None,
        gpu: int | None = None,
        gpu_required: bool = False,
    ) -> None:
        self.name = source
        self.url = url
        self.decoder = ""
        """What decodes the video: ``h264 (nvdec, cuda:0)`` or ``h264 (cpu, 3 threads)``."""
        self.gpu_fallback = ""
        """Why NVDEC was asked for and not used ("": it was used, or not asked for)."""
        self._gpu_required = gpu_required
        self._reformatter = av.video.reformatter.VideoReformatter()
        if gpu is not None:
            why = cuda_device_error(gpu)
            if why is not None:
                self._refuse_gpu(f"no CUDA device for NVDEC: {why}")
                gpu = None
        try:
            self._open(source, url, audio, fps, gpu)
        except _GpuRefused as e:
            if gpu_required:
                self._refuse_gpu(str(e))
            self._open(source, url, audio, fps, None)  # where the CPU fails too, its error is the one to see
            self._refuse_gpu(str(e))

    def _refuse_gpu(self, why: str) -> None:
        if self._gpu_required:
            raise UserError(f"decoder cuda: cannot decode {self.name} with NVDEC ({why})")
        self.gpu_fallback = why
        log.warning("%s: decoding on the CPU (%s)", self.name, why)

    def _open(self, source: str, url: bool, audio: bool, fps: float | Fraction | None, gpu: int | None) -> None:
        self.read_error: str | None = None
        self.skipped = 0
        self.ended_early = False
        self._reached: int | None = None  # the end (pts + duration) of the last frame given out
        self.audio_sink: Callable[[Any], None] | None = None
        self._early_audio: list[Any] = []  # audio demuxed before ``audio_sink`` was set
        self._gpu = gpu
        self._gpu_unproven = gpu is not None  # until NVDEC gives the first frame
        try:
            kwargs: dict[str, Any] = {"timeout": URL_TIMEOUT_S} if url else {}
            if url and source.lower().startswith("rtsp://"):
                kwargs["options"] = {"rtsp_transport": "tcp"}
            self.container = av.open(source, "r", **kwargs) if gpu is None else _open_on_gpu(source, kwargs, gpu)
        except FileNotFoundError:
            raise UserError(f"input not found: {source}") from None
        except (av.FFmpegError, OSError) as e:
            raise UserError(f"cannot open {source} as a video: {_reason(e)}") from None
        try:
            self._setup(source, url, audio, fps)
        except BaseException:
            self.container.close()
            raise

    def _setup(self, source: str, url: bool, audio: bool, fps: float | Fraction | None) -> None:
        c = self.container
        videos = [s for s in c.streams.video if not _is_cover_art(s)]
        if not videos:
            have = f" (it has {len(c.streams.audio)} audio stream(s))" if c.streams.audio else ""
            raise UserError(f"{source} has no video stream{have}")
        self.video = videos[0]
        ctx = self.video.codec_context
        if self._gpu is not None and not ctx.is_hwaccel:  # FFmpeg has no NVDEC path for this codec
            self._refuse_gpu(f"NVDEC does not decode {ctx.name}")
            self._gpu, self._gpu_unproven = None, False
        if self._gpu is None:
            # Frame and slice threads, as many as FFmpeg picks for the cores (0: auto).
            self.video.thread_type = "AUTO"
            self.video.thread_count = 0
        else:
            # NVDEC decodes; the CPU only parses headers and copies frames back: one thread.
            self.video.thread_count = 1
        self.audio = list(c.streams.audio) if audio else []
        self._decoded = self._decode_frames()
        first = self._first_on_gpu() if self._gpu is not None else next(self._decoded, None)
        threads = ctx.thread_count  # what FFmpeg made of 0 (auto), once the first frame is decoded
        self.decoder = f"{ctx.name} (nvdec, cuda:{self._gpu})" if self._gpu is not None else f"{ctx.name} (cpu, {threads} thread{'s' * (threads != 1)})"
        if first is None:
            why = f"reading stopped: {self.read_error}" if self.read_error else f"{self.skipped} corrupt packets/frames"
            raise UserError(f"{source} has no decodable video frames ({why})")
        self._first: Any = first
        self.rotation = _quarter_turns(first)
        self.colors: ColorTags = source_colors(first, first.format.is_rgb, declared=ctx)
        w, h = first.width, first.height
        if self.rotation % 2:
            w, h = h, w

        v = self.video
        tb = v.time_base or Fraction(1, 90000)
        rate = _fraction(v.average_rate) or _fraction(v.guessed_rate) or _fraction(v.base_rate)
        # A raw stream (.h264, .y4m piped, ...) has no timestamps: number the frames instead.
        self.timed = first.pts is not None
        if not self.timed:
            rate = as_rate(fps) if fps is not None else rate or as_rate(None)
            tb = 1 / rate
        starts = [first.pts * tb if self.timed else Fraction(0)]
        starts += [s.start_time * s.time_base for s in self.audio if s.start_time is not None and s.time_base]
        origin = min(starts)
        end_pts = v.start_time + v.duration if self.timed and v.duration and v.start_time is not None else None
        if end_pts is None and c.duration and not url:
            end_pts = int(Fraction(c.duration, 1_000_000) / tb)
        frames = v.frames or None
        if not frames and v.duration and rate:
            frames = int(v.duration * tb * rate + Fraction(1, 2))
        elif not frames and c.duration and rate:
            frames = int(Fraction(c.duration, 1_000_000) * rate + Fraction(1, 2))
        sar = _fraction(v.sample_aspect_ratio)
        if sar and self.rotation % 2:
            sar = 1 / sar
        ignored = 0 if audio else len(c.streams.audio)
        self.info = SourceInfo(
            name=source,
            width=w,
            height=h,
            time_base=tb,
            rate=rate,
            frames=frames,
            origin=origin,
            end_pts=end_pts,
            colors=self.colors,
            sample_aspect_ratio=sar,
            audio_streams=tuple(self.audio),
            audio_ignored=ignored,
            timed=self.timed,
            inputs=() if url else (Path(source),),
        )

    def _first_on_gpu(self) -> Any:
        """The first frame from NVDEC; _GpuRefused (with FFmpeg's reason) where it fails."""
        failure: BaseException | None = None
        with ffmpeg_errors() as errors:
            try:
                first = next(self._decoded, None)
            except av.FFmpegError as e:
                failure = e
        if failure is not None:
            raise _GpuRefused(f"NVDEC refused the stream: {reason(failure, errors)}")
        self._gpu_unproven = False
        return first

    # -- packets and frames ---------------------------------------------------------------

    def _packets(self) -> Iterator[Any]:
        """Demuxed packets (video and kept audio); demuxer errors are skipped and counted."""
        streams = [self.video, *self.audio]
        errors = 0
        while True:
            try:
                for packet in self.container.demux(streams):
                    errors = 0
                    if packet.size:
                        yield packet
                return
            except av.error.EOFError:
                return
            except _CORRUPT as e:
                self.skipped += 1
                errors += 1
                log.debug("skipping unreadable data in %s: %s", self.name, e)
                if errors >= MAX_ERRORS_IN_A_ROW:  # the summary's warning reports the frames missing
                    log.debug("%s: %d read errors in a row, treating it as the end", self.name, errors)
                    return
            except (av.FFmpegError, OSError) as e:
                if self.url:  # a dropped connection ends a stream; what arrived is kept
                    log.warning("%s: reading stopped (%s); ending the input there", self.name, _reason(e))
                    self.read_error = _reason(e)
                    return
                raise UserError(f"cannot read {self.name}: {_reason(e)}") from None

    def _decode_frames(self) -> Iterator[Any]:
        """Decoded PyAV frames in presentation order; corrupt ones are skipped and counted."""
        for packet in self._packets():
            if packet.stream_index != self.video.index:
                if self.audio_sink is None:
                    self._early_audio.append(packet)
                    continue
                while self._early_audio:
                    self.audio_sink(self._early_audio.pop(0))
                self.audio_sink(packet)
                continue
            yield from self._decode(packet)
        yield from self._decode(None)
        if self.audio_sink is not None:
            while self._early_audio:
                self.audio_sink(self._early_audio.pop(0))

    def _decode(self, packet: Any) -> Iterator[Any]:
        try:
            frames = self.video.decode(packet)
        except av.error.EOFError:
            return
        except _CORRUPT as e:
            if self._gpu_unproven:  # NVDEC's refusal can read like bad data: try the CPU
                raise
            self.skipped += 1
            log.debug("skipping a corrupt packet in %s: %s", self.name, e)
            return
        for frame in frames:
            if frame.is_corrupt:
                self.skipped += 1
                continue
            yield frame

    def frames(self, width: int, height: int) -> Iterator[RawFrame]:
        """RGB frames at ``width`` x ``height`` (display orientation) with pts and duration."""
        index = 0
        if self._first is not None:
            first, self._first = self._first, None
            yield self._to_rgb(first, width, height), *self._times(first, index)
        for frame in self._decoded:
            index += 1
            yield self._to_rgb(frame, width, height), *self._times(frame, index)
        self.ended_early = self._ends_early()

    def seek(self, pts: int) -> None:
        """Go to the keyframe at or before ``pts`` (the video stream's time base): ``frames``
        continues from there. For segments of a file (``runtime.video.segment_convert``), which
        check where it landed; a stream that cannot seek raises its FFmpeg error."""
        self.container.seek(pts, stream=self.video, backward=True, any_frame=False)
        self.video.codec_context.flush_buffers()
        self._decoded.close()
        self._first = None
        self._decoded = self._decode_frames()

    def _times(self, frame: Any, index: int) -> tuple[int | None, int | None]:
        if not self.timed:
            return index, 1
        if frame.pts is not None:
            self._reached = max(self._reached or frame.pts, frame.pts + (frame.duration or 0))
        return frame.pts, frame.duration or None

    def _ends_early(self) -> bool:
        """The last frame ends well before the stream's stated end: more than two frame
        intervals and 2% of its length short (a cut-off file; not a container's rounding)."""
        info = self.info
        if self.url or not self.timed or info.end_pts is None or self._reached is None:
            return False
        interval = 1 / (info.rate * info.time_base) if info.rate else 0
        slack = max(2 * interval, (info.end_pts - (self.video.start_time or 0)) / 50)
        return self._reached < info.end_pts - slack

    def _to_rgb(self, frame: Any, width: int, height: int) -> np.ndarray:
        """Scale (or crop an odd last row/column) and convert to RGB in one swscale pass, then rotate."""
        if self.rotation % 2:
            width, height = height, width
        fw, fh = frame.width, frame.height
        crop = needs_crop(fw, fh, Size(width, height))
        sw, sh = (fw, fh) if crop else (width, height)
        interp = Interpolation.AREA if sw * sh < fw * fh else Interpolation.BICUBIC
        kwargs: dict[str, Any] = {"interpolation": interp}
        if not frame.format.is_rgb:
            kwargs["src_colorspace"] = self.colors.sws_matrix
        rgb = self._reformatter.reformat(frame, sw, sh, "rgb24", **kwargs).to_ndarray()
        if crop:
            rgb = rgb[:height, :width]
        if self.rotation:
            rgb = np.rot90(rgb, k=self.rotation)
        return np.ascontiguousarray(rgb)

    def close(self) -> None:
        self._decoded.close()
        self.container.close()


def _open_on_gpu(source: str, kwargs: dict[str, Any], gpu: int) -> Any:
    """``av.open`` with NVDEC; _GpuRefused with FFmpeg's reason where that fails (the CPU
    then tries, and a file it cannot open either fails there, with its own error)."""
    failure: BaseException | None = None
    with ffmpeg_errors() as errors:
        try:
            container = av.open(source, "r", hwaccel=hwaccel(gpu), **kwargs)
        except (av.FFmpegError, OSError) as e:
            failure = e
        except RuntimeError as e:  # PyAV: "Hardware accelerated decode requested but no stream is compatible"
            failure = e
            errors.append("NVDEC decodes none of its streams")
    if failure is not None:
        raise _GpuRefused(f"opening it with NVDEC failed: {reason(failure, errors)}")
    return container


def _quarter_turns(frame: Any) -> int:
    """Counter-clockwise quarter turns that show the frame upright (its display matrix)."""
    try:
        degrees = float(frame.rotation or 0)
    except (AttributeError, TypeError, ValueError):
        return 0
    turns = round(degrees / 90)
    if abs(degrees - 90 * turns) > 1:
        log.warning("ignoring a display rotation of %.1f degrees (not a multiple of 90)", degrees)
        return 0
    return turns % 4


def _reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.rstrip(".")

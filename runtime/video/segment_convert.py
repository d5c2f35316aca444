"""One segment of a video file through ``process`` into a video file of its own.

The segments of one input are converted apart (on other machines: ``stylize.cluster``) and
joined without re-encoding (``runtime.video.join``), so everything that decides how a frame is
timed and encoded is fixed once per input (``SegmentSettings``, made by ``segment_settings``)
and every segment is encoded with the same parameters. The frame path is the one
``convert_video`` runs (decode, process and encode threads; the source's timestamps through
``Timeline`` and, with ``fps``, ``RateConverter``), started at the segment's keyframe:

- frames before the warm-up are decoded and timed but not stylised;
- warm-up frames (``Segment.warmup`` to ``start``) are stylised, so the stabiliser arrives at
  the segment's first frame in the state a single-machine run would have, and not written;
- the segment's own frames are stylised and written; the first frame of the next segment is
  decoded too, to give the last one its duration, as it would in a single run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..sizing import Size
from .audio import AudioCounts
from .colorspace import ColorTags
from .containers import OutputFormat, output_format
from .convert import _decode_gpu  # the same choice of decoder as a single run
from .encoder import VideoFileWriter
from .ffmpeg_input import FFmpegSource
from .pipeline import Channel, Pipeline, StageClock
from .segments import Segment
from .source import open_source
from .source_types import SourceInfo
from .stages import EncodeStage, Process, ProcessStage
from .timing import RateConverter, TimedFrame, Timeline, as_rate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentSettings:
    """How every segment of one input is timed and encoded (the same for all, so they join)."""

    suffix: str
    """The output's extension: the container and codecs (``containers.FORMATS``)."""
    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None
    origin: Fraction
    """Seconds subtracted from every timestamp: the source's common start of video and audio."""
    end_pts: int | None
    colors: ColorTags
    sample_aspect_ratio: Fraction | None
    crf: float
    preset: str
    fps: Fraction | None
    """A constant output rate (``--fps``); None keeps the source's timestamps."""
    codec: str
    """The video encoder: the same on every machine (``encoder.choose_encoder`` on one would
    pick NVENC where another has none)."""

    @property
    def output_format(self) -> OutputFormat:
        fmt = output_format(f"x{self.suffix}")
        assert fmt is not None
        return fmt

    @property
    def time_base_out(self) -> Fraction:
        """The encoder's time base: the source's, or one frame at ``fps``."""
        return 1 / self.fps if self.fps is not None else self.time_base

    @property
    def stream_rate(self) -> Fraction:
        """The output stream's nominal frame rate, as ``VideoFileWriter`` sets it."""
        return self.fps or self.rate or Fraction(25)

    @property
    def stream_time_base(self) -> Fraction:
        """The output stream's time base, as ``VideoFileWriter`` sets it: the encoder's, or for
        AVI, which counts frame slots, one slot at the nominal rate."""
        if self.output_format.frame_slots:
            return 1 / self.stream_rate
        return self.time_base_out

    @property
    def segment_suffix(self) -> str:
        """A segment file's extension (its container: ``segment_format``)."""
        return ".nut" if self.output_format.frame_slots else self.suffix

    @property
    def segment_format(self) -> OutputFormat:
        """How a segment file is written: the output's container and codecs, so the joined file
        gets the packets a single run writes, and timestamps that come back exactly. MP4 and
        MOV keep a late start in an edit list timed in the movie's timescale (by default
        milliseconds): it is set to the track's (``movenc.c``: the time base's denominator,
        doubled up to 10,000 at least). AVI keeps no timestamps at all (a segment starting late
        would come back from 0): its segments are NUT files, whose timestamps are exact and
        which, as AVI, keep H.264's headers in the stream."""
        fmt = self.output_format
        if fmt.frame_slots:
            return dataclasses.replace(fmt, muxer="nut", options={})
        if fmt.muxer in ("mp4", "mov"):
            timescale = self.time_base_out.denominator
            while timescale < 10_000:
                timescale *= 2
            return dataclasses.replace(fmt, options={"movie_timescale": str(timescale)})
        return dataclasses.replace(fmt, options={})


def segment_settings(
    info: SourceInfo, output: str | os.PathLike[str], size: Size, *, crf: float, preset: str, fps: float | Fraction | None, codec: str | None = None
) -> SegmentSettings:
    """The settings of an input opened as ``convert_video`` opens it (``info``: with its audio,
    whose start counts in ``origin``); ``size``: the output frames' size."""
    fmt = output_format(output)
    if fmt is None:
        raise UserError(f"{os.fspath(output)}: segments are joined into a video file, not a folder of frames")
    if not info.timed:
        raise UserError(f"{info.name} has no timestamps of its own, so it cannot be cut into segments")
    return SegmentSettings(
        suffix=Path(output).suffix.lower(), width=size.width, height=size.height, time_base=info.time_base, rate=info.rate,
        origin=info.origin, end_pts=info.end_pts, colors=info.colors, sample_aspect_ratio=info.sample_aspect_ratio,
        crf=crf, preset=preset, fps=as_rate(fps) if fps is not None else None, codec=codec or fmt.video_codec,
    )  # fmt: skip


class WarmupFrame(TimedFrame):
    """A frame stylised for the stabiliser's sake and not written."""


@dataclass(frozen=True)
class SegmentSummary:
    frames: int
    """Frames written."""
    warmup: int
    """Frames stylised for the warm-up and dropped."""
    decoded: int
    skipped: int
    """Corrupt packets or frames skipped."""
    wall_s: float
    process_s: float
    decoder: str
    encoder: str


class _SeekMissed(Exception):
    """The seek landed after the first frame the segment needs: decode from the start instead."""


class SegmentDecodeStage:
    """Source frames from the segment's keyframe -> timed frames -> ``out``, as
    ``stages.DecodeStage`` does, but only from the warm-up on, and up to the segment's end."""

    def __init__(
        self, src: FFmpegSource, settings: SegmentSettings, segment: Segment, out: Channel, *, seeked: bool,
        on_frame: Callable[[np.ndarray], None] | None = None,
    ) -> None:  # fmt: skip
        self.src, self.settings, self.segment, self.out, self.seeked = src, settings, segment, out, seeked
        self.on_frame = on_frame
        tb = settings.time_base
        rate = settings.rate
        self.timeline = Timeline(tb, offset=round(settings.origin / tb), default_duration=round(1 / (rate * tb)) if rate else 1)
        self.converter = RateConverter(tb, settings.fps) if settings.fps is not None else None
        self.frames_in = 0

    def __call__(self, clock: StageClock) -> None:
        seg, s = self.segment, self.settings
        first_needed = seg.warmup if seg.warmup is not None else seg.start
        try:
            frames = self.src.frames(s.width, s.height)
            held_kind = "skip"
            last_pts: int | None = None
            checked = not self.seeked
            while True:
                with clock.busy():
                    raw = next(frames, None)
                if raw is None:
                    self._emit(self.timeline.finish(s.end_pts if seg.end is None else seg.end), held_kind)
                    break
                image, pts, duration = raw
                self.frames_in += 1
                p = pts if pts is not None else last_pts
                last_pts = p
                if not checked and p is not None:
                    if first_needed is not None and p > first_needed:
                        raise _SeekMissed
                    checked = True
                with clock.busy():
                    released = self.timeline.push(image, pts, duration)
                self._emit(released, held_kind)
                if seg.end is not None and p is not None and p >= seg.end:
                    break  # the next segment's first frame: it gave the last one its duration
                if p is not None and first_needed is not None and p < first_needed:
                    held_kind = "skip"
                elif p is not None and seg.start is not None and p < seg.start:
                    held_kind = "warmup"
                else:
                    held_kind = "keep"
            self.out.close()
        finally:
            self.src.close()

    def _emit(self, item: TimedFrame | None, kind: str) -> None:
        if item is not None and self.converter is not None:
            item = self.converter.convert(item)  # every frame, so its state is a single run's
        if item is None or kind == "skip":
            return
        if kind == "warmup":
            item = WarmupFrame(item.image, item.pts, item.duration, item.copies)
        if self.on_frame is not None:
            self.on_frame(item.image)
        self.out.put(item)


class KeptFrames:
    """The writer for a segment: warm-up frames are counted and dropped, the others written."""

    def __init__(self, writer: VideoFileWriter, on_frames: Callable[[int], None] | None = None) -> None:
        self.writer = writer
        self.on_frames = on_frames
        self.frames_written = 0
        self.warmup = 0
        self.audio_counts = AudioCounts()

    def write(self, item: TimedFrame) -> None:
        if isinstance(item, WarmupFrame):
            self.warmup += 1
            return
        self.writer.write(item)
        self.frames_written = self.writer.frames_written
        if self.on_frames is not None:
            self.on_frames(self.frames_written)

    def finish(self) -> None:
        self.writer.finish()

    def abort(self) -> None:
        self.writer.abort()


def convert_segment(
    source: str | os.PathLike[str],
    path: str | os.PathLike[str],
    process: Process,
    segment: Segment,
    settings: SegmentSettings,
    *,
    batch: int = 1,
    prefetch: Callable[[np.ndarray], None] | None = None,
    on_frames: Callable[[int], None] | None = None,
    decoder: str = "auto",
    device: str | None = None,
) -> SegmentSummary:
    """Convert ``segment`` of the video file ``source`` into the video file ``path`` (written in
    place: the caller keeps it or throws it away). ``process``, ``batch``, ``prefetch``,
    ``decoder`` and ``device`` as for ``convert_video``; ``process`` must be fresh (its
    stabiliser warms up here). ``on_frames(n)``: called from the encoding thread with the
    frames written so far."""
    try:
        return _convert(source, path, process, segment, settings, batch, prefetch, on_frames, decoder, device, seek=True)
    except _SeekMissed:
        log.info("%s: seeking to %s landed late; decoding segment %d from the start", source, segment.seek, segment.index)
        return _convert(source, path, process, segment, settings, batch, prefetch, on_frames, decoder, device, seek=False)


def _convert(
    source: str | os.PathLike[str], path: str | os.PathLike[str], process: Process, segment: Segment, settings: SegmentSettings,
    batch: int, prefetch: Callable[[np.ndarray], None] | None, on_frames: Callable[[int], None] | None, decoder: str,
    device: str | None, *, seek: bool,
) -> SegmentSummary:  # fmt: skip
    t0 = time.perf_counter()
    src = open_source(source, audio=False, gpu=_decode_gpu(decoder, device), gpu_required=decoder == "cuda")
    handed_over = False
    try:
        if not isinstance(src, FFmpegSource) or src.url:
            raise UserError(f"{source}: only video files can be cut into segments")
        seeked = seek and segment.seek is not None
        if seeked:
            src.seek(segment.seek)
        pipeline = Pipeline("segment")
        queue = max(8 if prefetch is not None else 4, 2 * batch)
        decoded, processed = pipeline.channel(queue), pipeline.channel(queue)
        decode = SegmentDecodeStage(src, settings, segment, decoded, seeked=seeked, on_frame=prefetch)
        fmt = settings.segment_format
        writer = VideoFileWriter(
            Path(path), fmt, width=settings.width, height=settings.height, time_base=settings.time_base_out,
            rate=settings.fps if settings.fps is not None else settings.rate, crf=settings.crf, preset=settings.preset,
            colors=settings.colors, sample_aspect_ratio=settings.sample_aspect_ratio, origin=settings.origin, codec=settings.codec,
        )  # fmt: skip
        kept = KeptFrames(writer, on_frames)
        pipeline.add("decode", decode)
        pipeline.add("process", ProcessStage(process, batch, decoded, processed))
        pipeline.add("encode", EncodeStage(kept, processed))
        handed_over = True
        pipeline.run()
    except BaseException:
        if not handed_over:
            src.close()
        raise
    return SegmentSummary(
        frames=kept.frames_written, warmup=kept.warmup, decoded=decode.frames_in, skipped=src.skipped,
        wall_s=time.perf_counter() - t0, process_s=pipeline.clocks["process"].busy_s, decoder=src.decoder, encoder=writer.encoder,
    )  # fmt: skip

"""A video file cut into segments that can be converted apart and joined again.

Why keyframes: a segment must be decodable on its own, so it starts at a keyframe; PyAV seeks
straight to one (``FFmpegSource.seek``). Not every keyframe is a safe cut: in an open GOP, or
a stream whose timestamps go backwards, frames decoded after a keyframe are shown before it.
A cut at keyframe K is taken only where every packet before it (in decode order) is shown
before K and every packet from it on is shown at K or later, so "the frames of a segment"
means the same by timestamp as by decode order.

Why a warm-up: the stabiliser (``runtime.temporal``) blends each output with the previous one,
so a segment that started from nothing would differ from a single-machine conversion for its
first frames, and its border would flicker. Each segment after the first therefore starts
decoding at a keyframe before its own start and stylises the ``warmup`` frames before it
(stylised, blended, not written). The stabiliser's memory of the past decays by its blend
weight per frame (``TemporalSettings.blend``), so ``warmup_frames`` is the number of frames
after which what came before the warm-up weighs less than one level in 255.

The scan reads packets only (no decoding), so planning an hour of video takes seconds.
"""

from __future__ import annotations

import bisect
import math
import os
from dataclasses import dataclass
from fractions import Fraction

import av

from ..errors import UserError

DEFAULT_SEGMENT_S = 20.0
"""Seconds of video per segment, at least (a segment ends at the first safe cut after it)."""

_CORRUPT = (av.error.InvalidDataError, av.error.PatchWelcomeError, av.error.BugError)


@dataclass(frozen=True)
class VideoIndex:
    """What the scan found: every frame's timestamp and where the stream may be cut."""

    time_base: Fraction
    frame_pts: tuple[int, ...]
    """Every frame's presentation timestamp, in presentation order."""
    keyframes: tuple[int, ...]
    """Keyframe timestamps, ascending: where decoding can start."""
    cuts: tuple[int, ...]
    """The keyframes where a segment may start (see the module's docstring), ascending."""

    @property
    def frames(self) -> int:
        return len(self.frame_pts)


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` <= pts < ``end`` of a file, and how to get to them."""

    index: int
    start: int | None
    """First timestamp written; None: from the first frame."""
    end: int | None
    """First timestamp not written (the next segment's start); None: to the end."""
    seek: int | None
    """The keyframe decoding starts at; None: the start of the file."""
    warmup: int | None
    """First timestamp stylised for the warm-up (frames from here to ``start`` are stylised and
    dropped); None: no warm-up."""
    frames: int
    """Frames written, as the scan counted them (corrupt ones may be fewer)."""
    warmup_frames: int


def warmup_frames(blend: float | None) -> int:
    """Frames of warm-up for a stabiliser whose output keeps ``blend`` of the previous one
    (None: no stabiliser): until the past weighs under 1/255, ``blend ** n < 1/255``."""
    if not blend:
        return 0
    return math.ceil(math.log(1 / 255) / math.log(blend))


def scan(source: str | os.PathLike[str]) -> VideoIndex:
    """Read the packets of ``source``'s video stream (no decoding): the index to plan with.
    UserError for what cannot be cut: no video stream, or packets without timestamps."""
    name = os.fspath(source)
    try:
        container = av.open(name, "r")
    except FileNotFoundError:
        raise UserError(f"input not found: {name}") from None
    except (av.FFmpegError, OSError) as e:
        raise UserError(f"cannot open {name} as a video: {getattr(e, 'strerror', None) or e}") from None
    try:
        videos = [s for s in container.streams.video if not int(s.disposition) & int(av.stream.Disposition.attached_pic)]
        if not videos:
            raise UserError(f"{name} has no video stream")
        stream = videos[0]
        decode_order: list[tuple[int, bool]] = []
        for packet in _packets(container, stream, name):
            if packet.pts is None:
                raise UserError(f"{name}: video packets without timestamps cannot be cut into segments (convert it without --ray)")
            decode_order.append((packet.pts, bool(packet.is_keyframe)))
        time_base = stream.time_base or Fraction(1, 90000)
    finally:
        container.close()
    if not decode_order:
        raise UserError(f"{name} has no video packets")
    return index_of(decode_order, time_base)


def _packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream, name: str):  # noqa: ANN202
    """The stream's packets with data; corrupt ones skipped, as decoding would skip them."""
    demux = container.demux(stream)
    while True:
        try:
            packet = next(demux)
        except StopIteration:
            return
        except av.error.EOFError:
            return
        except _CORRUPT:
            continue
        except (av.FFmpegError, OSError) as e:
            raise UserError(f"cannot read {name}: {getattr(e, 'strerror', None) or e}") from None
        if packet.size:
            yield packet


def index_of(decode_order: list[tuple[int, bool]], time_base: Fraction) -> VideoIndex:
    """The index from the packets' (pts, keyframe) in decode order."""
    pts = [p for p, _ in decode_order]
    before = [-math.inf] * len(pts)  # the latest shown of the packets before i
    for i in range(1, len(pts)):
        before[i] = max(before[i - 1], pts[i - 1])
    after = [math.inf] * len(pts)  # the earliest shown from i on
    running = math.inf
    for i in range(len(pts) - 1, -1, -1):
        running = min(running, pts[i])
        after[i] = running
    keyframes = sorted({p for p, key in decode_order if key})
    cuts = sorted({p for i, (p, key) in enumerate(decode_order) if key and i > 0 and before[i] < p <= after[i]})
    return VideoIndex(time_base, tuple(sorted(pts)), tuple(keyframes), tuple(cuts))


def plan(index: VideoIndex, segment_s: float, warmup: int) -> list[Segment]:
    """Segments of at least ``segment_s`` seconds (the last may be shorter), each cut at the
    first safe cut after that length, with ``warmup`` frames of warm-up before each but the first."""
    if segment_s <= 0:
        raise ValueError(f"segment_s must be positive, got {segment_s}")
    ticks = segment_s / index.time_base
    frame_pts = index.frame_pts
    starts: list[int] = []
    position = frame_pts[0]
    while True:
        i = bisect.bisect_left(index.cuts, position + ticks)
        if i >= len(index.cuts):
            break
        position = index.cuts[i]
        starts.append(position)
    bounds = [None, *starts, None]
    segments = []
    for n in range(len(bounds) - 1):
        start, end = bounds[n], bounds[n + 1]
        first = 0 if start is None else bisect.bisect_left(frame_pts, start)
        stop = len(frame_pts) if end is None else bisect.bisect_left(frame_pts, end)
        warm_first = max(0, first - warmup)
        seek = warm = None
        if start is not None:
            warm = frame_pts[warm_first] if warm_first < first else None
            seek_from = frame_pts[warm_first]
            k = bisect.bisect_right(index.keyframes, seek_from) - 1
            seek = index.keyframes[k] if k >= 0 else None
        segments.append(Segment(n, start, end, seek, warm, stop - first, first - warm_first))
    return segments

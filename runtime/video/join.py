"""Segment files joined into one video without re-encoding, with the source's audio.

The segments of one input (``runtime.video.segment_convert``) hold their frames at the
timestamps a single-machine conversion gives them, so joining is copying their packets, in
order, into one container; nothing is decoded or encoded again. They must have been encoded
with the same parameters: the codec and its extradata (H.264's SPS and PPS) are compared, and
a segment that differs is refused rather than joined into a file some players cannot play.

The audio comes from the source, as ``convert_video`` writes it: every stream copied where the
container takes its codec, else re-encoded (``audio.AudioMuxer``), moved by the same origin,
and interleaved with the video as it is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from ..errors import UserError
from ..files import atomic_output, refuse_overwriting_inputs, use_default_permissions
from .audio import INTERLEAVE_LEAD_S, AudioCounts, AudioMuxer
from .containers import output_format
from .segment_convert import SegmentSettings

_CORRUPT = (av.error.InvalidDataError, av.error.PatchWelcomeError, av.error.BugError)


@dataclass(frozen=True)
class JoinSummary:
    frames: int
    """Video packets written (one a frame)."""
    audio: AudioCounts


def join_segments(
    segments: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    source: str | os.PathLike[str],
    settings: SegmentSettings,
    *,
    audio: bool = True,
) -> JoinSummary:
    """Write ``output`` (atomically) from the video packets of ``segments``, in order, and the
    audio streams of ``source`` (``audio=False``: none), whose timestamps move by the same
    origin as the video's; ``settings``: what the segments were converted with."""
    if not segments:
        raise ValueError("no segments to join")
    fmt = output_format(output)
    if fmt is None:
        raise UserError(f"{os.fspath(output)}: segments are joined into a video file, not a folder of frames")
    refuse_overwriting_inputs(output, [source, *segments])
    inputs = [av.open(os.fspath(s), "r") for s in segments]
    src = av.open(os.fspath(source), "r") if audio else None
    try:
        first = inputs[0].streams.video[0]
        for path, container in zip(segments[1:], inputs[1:]):
            _check_same(first, container.streams.video[0], path)
        with atomic_output(output) as tmp:
            out = av.open(str(tmp), "w", format=fmt.muxer, container_options=dict(fmt.options))
            try:
                video = out.add_stream_from_template(first)
                video.time_base = settings.stream_time_base  # as a single run's writer sets them
                video.codec_context.framerate = settings.stream_rate  # the stream's average rate (Matroska's default duration)
                audio_streams = tuple(src.streams.audio) if src is not None else ()
                muxer = AudioMuxer(out, audio_streams, fmt, settings.origin) if audio_streams else None
                pending = _audio_packets(src, audio_streams) if muxer is not None else iter(())
                frames = 0
                for container in inputs:
                    stream = container.streams.video[0]
                    for packet in container.demux(stream):
                        if not packet.size:
                            continue
                        end = _end(packet)
                        packet.stream = video
                        out.mux_one(packet)
                        frames += 1
                        if muxer is not None and end is not None:
                            pending = _feed(muxer, pending, end)
                            muxer.drain(end)
                if muxer is not None:
                    for packet in pending:
                        muxer.feed(packet)
                    muxer.finish()
            finally:
                out.close()
            use_default_permissions(tmp)
    finally:
        for container in inputs:
            container.close()
        if src is not None:
            src.close()
    return JoinSummary(frames, muxer.counts if muxer is not None else AudioCounts())


def _check_same(first: Any, other: Any, path: str | os.PathLike[str]) -> None:
    a, b = first.codec_context, other.codec_context
    if (a.name, a.width, a.height, a.format.name if a.format else None) != (b.name, b.width, b.height, b.format.name if b.format else None):
        raise UserError(f"{path} is encoded as {b.name} {b.width}x{b.height}, not as the first segment ({a.name} {a.width}x{a.height}): convert it again")
    if bytes(a.extradata or b"") != bytes(b.extradata or b""):
        raise UserError(f"{path} was encoded with other codec parameters than the first segment: convert it again")


def _end(packet: Any) -> Fraction | None:
    """Where the packet's frame ends on the output's timeline, in seconds."""
    if packet.pts is None or packet.time_base is None:
        return None
    return (packet.pts + (packet.duration or 0)) * packet.time_base


def _audio_packets(src: Any, streams: tuple[Any, ...]) -> Iterator[Any]:
    """The source's audio packets with data, in file order; corrupt data skipped."""
    demux = src.demux(list(streams))
    while True:
        try:
            packet = next(demux)
        except (StopIteration, av.error.EOFError):
            return
        except _CORRUPT:
            continue
        if packet.size:
            yield packet


def _feed(muxer: AudioMuxer, pending: Iterator[Any], video_time: Fraction) -> Iterator[Any]:
    """Hand the muxer the audio packets up to a little past ``video_time`` (the rest stay in
    ``pending``), so the file is interleaved and little audio is held."""
    until = video_time + INTERLEAVE_LEAD_S
    for packet in pending:
        muxer.feed(packet)
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is not None and ts * packet.time_base - muxer.origin > until:
            break
    return pending

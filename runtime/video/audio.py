"""Audio streams of the input, written beside the new video: copied, or re-encoded.

Every audio stream is kept. Its packets are copied unchanged when the output container
takes the codec (AAC, MP3, ... into MP4; anything into MKV); otherwise the stream is
decoded and re-encoded (AAC, or Opus for WebM) with the same channel layout and sample
rate (Opus only knows 48/24/16/12/8 kHz: other rates are resampled to the next one up).
Timestamps move by the same origin as the video's, so sync is kept.

The decoding thread hands packets over through a deque (``feed``); the encoding thread
writes them (``drain``) no further than a little past the video it has written, so the
file stays interleaved without holding much in memory.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from .containers import OutputFormat
from .timing import Monotonic

log = logging.getLogger(__name__)

INTERLEAVE_LEAD_S = Fraction(1, 2)  # how far audio may run ahead of the video written so far
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


@dataclass
class AudioCounts:
    copied: int = 0
    transcoded: int = 0
    packets_skipped: int = 0


def _codec_name(stream: Any) -> str:
    """The codec's canonical name (``mp3``, not the decoder's ``mp3float``)."""
    codec = stream.codec_context.codec
    return getattr(codec, "canonical_name", None) or codec.name


class AudioTrack:
    """One input audio stream and its output stream."""

    def __init__(self, out: Any, in_stream: Any, fmt: OutputFormat, origin: Fraction, counts: AudioCounts) -> None:
        self.out = out
        self.in_stream = in_stream
        self.counts = counts
        self.offset = round(origin / in_stream.time_base) if in_stream.time_base else 0
        self.monotonic = Monotonic()
        codec = _codec_name(in_stream)
        allowed = fmt.audio_copy if fmt.audio_copy is not None else out.supported_codecs
        self.stream: Any = None
        if codec in allowed:
            try:
                self.stream = out.add_stream_from_template(in_stream)
                self.copy = True
            except ValueError as e:
                log.info("cannot copy %s audio into %s (%s): re-encoding", codec, fmt.muxer, e)
        if self.stream is None:
            self.copy = False
            self.stream = self._add_encoder(fmt.audio_codec)
            self.decoder = in_stream.codec_context
        if self.copy:
            counts.copied += 1
        else:
            counts.transcoded += 1
        language = in_stream.metadata.get("language")
        if language:
            self.stream.metadata["language"] = language

    def _add_encoder(self, name: str) -> Any:
        src = self.in_stream.codec_context
        codec = av.Codec(name, "w")
        rate = src.sample_rate or 48000
        rates = sorted(codec.audio_rates or ())
        if rates and rate not in rates:
            rate = next((r for r in rates if r >= rate), rates[-1])
        channels = src.channels or 2
        stream = self.out.add_stream(name, rate=rate)
        ctx = stream.codec_context
        ctx.time_base = Fraction(1, rate)
        ctx.bit_rate = max(128_000, 64_000 * channels)
        for layout in (src.layout, av.AudioLayout(_DEFAULT_LAYOUTS.get(channels, "stereo"))):
            try:
                ctx.layout = layout
                ctx.open()  # now, so an unsupported layout can still fall back
                break
            except (av.FFmpegError, ValueError) as e:
                log.info("%s refuses layout %s: %s", name, getattr(layout, "name", layout), e)
        else:
            raise RuntimeError(f"cannot set up a {name} encoder for {channels} channels at {rate} Hz")
        return stream

    def write(self, packet: Any) -> None:
        if self.copy:
            ts = packet.dts if packet.dts is not None else packet.pts
            shift = self.monotonic.apply(ts, packet.duration) if ts is not None else self.monotonic.shift
            if packet.pts is not None:
                packet.pts += shift - self.offset
            if packet.dts is not None:
                packet.dts += shift - self.offset
            packet.stream = self.stream
            self.out.mux_one(packet)
            return

        try:
            frames = self.decoder.decode(packet)
        except (av.error.InvalidDataError, av.error.PatchWelcomeError) as e:
            self.counts.packets_skipped += 1
            log.debug("skipping a corrupt audio packet: %s", e)
            return
        for frame in frames:
            self._encode(frame)

    def _encode(self, frame: Any) -> None:
        if frame is not None and frame.pts is not None:
            duration = round(Fraction(frame.samples, frame.sample_rate) / frame.time_base) if frame.time_base else None
            frame.pts += self.monotonic.apply(frame.pts, duration) - self.offset
        for p in self.stream.encode(frame):
            self.out.mux_one(p)

    def finish(self) -> None:
        if self.copy:
            return

        try:
            for frame in self.decoder.decode(None):
                self._encode(frame)
        except (av.error.InvalidDataError, av.error.EOFError):
            pass
        self._encode(None)


class AudioMuxer:
    """All audio streams of the input, muxed into ``out`` interleaved with the video."""

    def __init__(self, out: Any, in_streams: tuple[Any, ...], fmt: OutputFormat, origin: Fraction) -> None:
        self.counts = AudioCounts()
        self.origin = origin
        self.tracks = {s.index: AudioTrack(out, s, fmt, origin, self.counts) for s in in_streams}
        self._pending: collections.deque[Any] = collections.deque()

    def feed(self, packet: Any) -> None:
        """Queue a demuxed packet (called from the decoding thread)."""
        if packet.stream_index in self.tracks:
            self._pending.append(packet)

    def drain(self, video_time: Fraction | None) -> None:
        """Write queued packets up to ``video_time`` + a little (all of them for None)."""
        until = None if video_time is None else video_time + INTERLEAVE_LEAD_S
        pending = self._pending
        while pending:
            packet = pending[0]
            if until is not None:
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is not None and ts * packet.time_base - self.origin > until:
                    break
            pending.popleft()
            self.tracks[packet.stream_index].write(packet)

    def finish(self) -> None:
        self.drain(None)
        for track in self.tracks.values():
            track.finish()

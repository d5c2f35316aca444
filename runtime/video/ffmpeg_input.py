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
from .source_types import RawFrame, SourceInfo
from .timing import as_rate

log = logging.getLogger(__name__)

URL_TIMEOUT_S = (15.0, 15.0)  # (open, read): a stalled stream ends with an error, not a hang
MAX_ERRORS_IN_A_ROW = 64  # demuxer errors without a good packet between them: give up (end of input)


def _fraction(x: Any) -> Fraction | None:
    return Fraction(x) if x else None


def _is_cover_art(stream: Any) -> bool:
    return bool(int(stream.disposition) & int(av.stream.Disposition.attached_pic))


class FFmpegSource:
    """Decodes the first video stream; demuxes the audio streams along with it.

    Opening decodes the first frame, so a file without a decodable frame fails here,
    before any output exists. Corrupt packets and frames are skipped and counted.
    """

    def __init__(self, source: str, *, url: bool, audio: bool = True, fps: float | Fraction | None = None) -> None:
        self.name = source
        self.url = url
        self.read_error: str | None = None
        self.skipped = 0
        self.audio_sink: Callable[[Any], None] | None = None
        self._early_audio: list[Any] = []  # audio demuxed before ``audio_sink`` was set
        self._reformatter = av.video.reformatter.VideoReformatter()
        try:
            kwargs: dict[str, Any] = {"timeout": URL_TIMEOUT_S} if url else {}
            if url and source.lower().startswith("rtsp://"):
                kwargs["options"] = {"rtsp_transport": "tcp"}
            self.container = av.open(source, "r", **kwargs)
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
        self.video.thread_type = "AUTO"
        self.audio = list(c.streams.audio) if audio else []
        self._decoded = self._decode_frames()
        first = next(self._decoded, None)
        if first is None:
            why = f"reading stopped: {self.read_error}" if self.read_error else f"{self.skipped} corrupt packets/frames"
            raise UserError(f"{source} has no decodable video frames ({why})")
        self._first: Any = first
        self.rotation = _quarter_turns(first)
        self.colors: ColorTags = source_colors(first, first.format.is_rgb)
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
            except (av.error.InvalidDataError, av.error.PatchWelcomeError, av.error.BugError) as e:
                self.skipped += 1
                errors += 1
                log.debug("skipping unreadable data in %s: %s", self.name, e)
                if errors >= MAX_ERRORS_IN_A_ROW:
                    log.warning("%s: %d read errors in a row, treating it as the end", self.name, errors)
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
        except (av.error.InvalidDataError, av.error.PatchWelcomeError, av.error.BugError) as e:
            self.skipped += 1
            log.debug("skipping a corrupt packet in %s: %s", self.name, e)
            return
        except av.error.EOFError:
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

    def _times(self, frame: Any, index: int) -> tuple[int | None, int | None]:
        if not self.timed:
            return index, 1
        return frame.pts, frame.duration or None

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

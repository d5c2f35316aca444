"""Output timestamps: keep the source's, fix only what an encoder cannot take.

What "keep timestamps" means here: every decoded frame is written once, at its own
presentation time, and shown until the next frame's time (the last one for its own
duration). Variable frame rates, odd rates (30.02 fps) and sparse streams survive as they
are. ``opencv__tree.avi`` is the extreme case: the AVI has 444 slots at 15 fps but only 68
hold a picture (the others are empty "repeat the last frame" entries), so the output has
68 frames at their original times and lasts the same 29.6 s; a player shows exactly what
it showed for the source. (Writing 68 frames at 15 fps would play it in 4.5 s; writing
444 would run the model on 376 copies.)

Encoders need strictly increasing timestamps; sources sometimes repeat one or step back.
A frame at or before its predecessor moves to one tick after it (counted as "adjusted");
a large step back (over a second: a timestamp discontinuity, as in concatenated streams)
instead shifts the rest of the stream so it continues where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import UserError

DEFAULT_FPS = 25


@dataclass
class TimedFrame:
    """A frame with its output time: shown ``copies`` times, each for ``duration`` ticks."""

    image: np.ndarray
    pts: int
    duration: int
    copies: int = 1


class Timeline:
    """Source timestamps in, strictly increasing ones with durations out, one frame behind.

    ``push`` returns the previous frame, now that its duration is known; ``finish``
    returns the last one. Timestamps are integers in the source time base; ``offset`` is
    subtracted from all of them (the common start of the kept streams).
    """

    def __init__(self, time_base: Fraction, *, offset: int = 0, default_duration: int = 1) -> None:
        self.offset = offset
        self.default_duration = max(1, default_duration)
        self.discontinuity = max(2, int(1 / time_base)) if time_base > 0 else 1 << 62
        self.adjusted = 0
        self._shift = 0
        self._held: TimedFrame | None = None
        self._held_hint: int | None = None
        self._last_duration = self.default_duration

    def push(self, image: np.ndarray, pts: int | None, duration: int | None = None) -> TimedFrame | None:
        held = self._held
        if pts is None:
            t = held.pts + self._hint() if held is not None else 0
        else:
            t = pts - self.offset + self._shift
            if held is not None and t <= held.pts:
                self.adjusted += 1
                if held.pts - t > self.discontinuity:
                    expected = held.pts + self._hint()
                    self._shift += expected - t
                    t = expected
                else:
                    t = held.pts + 1
        out = None
        if held is not None:
            held.duration = t - held.pts
            self._last_duration = held.duration
            out = held
        self._held = TimedFrame(image, t, 0)
        self._held_hint = duration if duration and duration > 0 else None
        return out

    def finish(self, end_pts: int | None = None) -> TimedFrame | None:
        """The last frame; its duration is its own, else up to ``end_pts``, else the previous one's."""
        held, self._held = self._held, None
        if held is None:
            return None
        if self._held_hint:
            held.duration = self._held_hint
        elif end_pts is not None and end_pts - self.offset + self._shift > held.pts:
            held.duration = end_pts - self.offset + self._shift - held.pts
        else:
            held.duration = self._last_duration
        return held

    def _hint(self) -> int:
        return self._held_hint or self._last_duration


def as_rate(fps: float | Fraction | None) -> Fraction:
    """A frame rate as an exact fraction (29.97 -> 2997/100); default 25."""
    if fps is None:
        return Fraction(DEFAULT_FPS)
    rate = Fraction(fps).limit_denominator(1_000_000) if not isinstance(fps, Fraction) else fps
    if rate <= 0:
        raise UserError(f"fps must be positive, got {fps}")
    return rate


class Monotonic:
    """Keeps one stream's timestamps increasing: a step back shifts the rest of the stream.

    For audio, where every sample counts: after a backward jump (a timestamp
    discontinuity, as in concatenated MPEG-TS files) the stream continues right where it
    was. The video ``Timeline`` shifts by about the same amount, so sync holds.
    """

    def __init__(self) -> None:
        self.shift = 0
        self.adjusted = 0
        self._last: int | None = None
        self._end: int | None = None

    def apply(self, ts: int, duration: int | None) -> int:
        """The shift to add to a packet or frame at ``ts`` (its dts, else pts)."""
        t = ts + self.shift
        if self._last is not None and self._end is not None and t <= self._last:
            self.adjusted += 1
            self.shift += self._end - t
            t = self._end
        self._last = t
        self._end = t + max(1, duration or 1)
        return self.shift


def _round_half_up(x: Fraction) -> int:
    return int((x + Fraction(1, 2)).__floor__())


class RateConverter:
    """Puts timed frames onto a constant frame rate, like FFmpeg's ``fps`` filter.

    Output slot k (time k/fps) shows the frame that is on screen at that time (nearest
    slot rounding): a frame covering no slot is dropped (returns None), one covering
    several is written several times (``copies``) but processed once.
    """

    def __init__(self, time_base: Fraction, fps: Fraction) -> None:
        self.time_base = time_base
        self.fps = fps
        self.next_slot = 0
        self.dropped = 0

    @property
    def out_time_base(self) -> Fraction:
        return 1 / self.fps

    def convert(self, frame: TimedFrame) -> TimedFrame | None:
        start = _round_half_up(frame.pts * self.time_base * self.fps)
        end = _round_half_up((frame.pts + frame.duration) * self.time_base * self.fps)
        start = max(start, self.next_slot)
        if end <= start:
            self.dropped += 1
            return None
        self.next_slot = end
        return TimedFrame(frame.image, start, 1, end - start)

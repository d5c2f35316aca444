"""Fades stay fades: the stabilised output dims when the input's exposure falls far.

Magenta and AdaIN normalise their features per frame, so they paint a frame half-faded to
black as brightly as the unfaded one; ``runtime.black`` then hands the near-black frames over
to the input, and the whole fade happens as a jump in its last few frames. The stabiliser
sees the same content grow darker: the brightness gain between consecutive frames, measured
where the previous frame is carried onto this one (``runtime.temporal.trust``). ``Exposure``
keeps their product since the shot began, capped at 1: the content's exposure against its
brightest. The output is dimmed by ``exposure / knee`` where that is below 1, so a fade to
black fades with the input; above ``knee`` nothing changes, because the model's
normalisation keeps flicker (film, mains light: a fifth of the exposure either way) out of
the output, and following it would put it back.

The product leaks back towards 1 (its logarithm times ``leak`` every frame), so the noise of
the measured gains cannot walk it down over a long shot, while a fade, a few tenths a frame,
is followed to the end. A shot that starts on a black frame (a fade from black) starts at
(its level + 8) / (``end`` + 8) and brightens with the input; any other shot starts at 1.
"""

from __future__ import annotations

import math

from ..black import DARK_LO


class Exposure:
    """The exposure of the current shot and the output's brightness factor (``scale``)."""

    def __init__(self, knee: float, leak: float, end: float) -> None:
        self.knee, self.leak, self.end = knee, leak, end
        self.value = 1.0

    @property
    def scale(self) -> float:
        """The factor the stabilised frame is multiplied by: 1 unless the exposure is below ``knee``."""
        return min(1.0, self.value / self.knee) if self.knee > 0 else 1.0

    def start(self, level: float) -> float:
        """A new shot, its first frame's brightness ``level`` (99th-percentile luma, 0..255)."""
        self.value = min(1.0, (level + 8.0) / (self.end + 8.0)) if level < DARK_LO else 1.0
        return self.scale

    def lost(self, level: float) -> float:
        """A frame of the same shot that could not be followed (no gain measured): the
        exposure is at least what its ``level`` says against ``end``, so a dimmed output cannot
        stay dim for want of measurements."""
        self.value = max(self.value, min(1.0, (level + 8.0) / (self.end + 8.0)))
        return self.scale

    def step(self, gain: float) -> float:
        """The next frame of the shot, ``gain`` times as bright as the previous one."""
        if gain > 0 and math.isfinite(gain):
            self.value = min(1.0, self.value**self.leak * gain)
        return self.scale

"""The three pipeline stages of a conversion: decode, process, encode (one thread each)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from .audio import AudioCounts
from .pipeline import Channel, StageClock
from .source_types import Source
from .timing import RateConverter, TimedFrame, Timeline

Process = Callable[[np.ndarray], np.ndarray]
"""frames (N, H, W, 3) uint8 RGB -> frames of the same shape and dtype."""


class FrameWriter(Protocol):
    frames_written: int
    audio_counts: AudioCounts

    def write(self, item: TimedFrame) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


class DecodeStage:
    """Source frames -> timed frames (output timestamps) -> ``out``. Closes the source when done."""

    def __init__(
        self,
        src: Source,
        size: tuple[int, int],
        timeline: Timeline,
        converter: RateConverter | None,
        out: Channel,
        on_frame: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        """``on_frame``: called with each frame's image, in order, before it is queued
        (the stabiliser starts analysing it there: ``FrameStylizer.prefetch``)."""
        self.src, self.size, self.timeline, self.converter, self.out = src, size, timeline, converter, out
        self.on_frame = on_frame
        self.frames_in = 0

    def __call__(self, clock: StageClock) -> None:
        try:
            frames = self.src.frames(*self.size)
            while True:
                with clock.busy():
                    raw = next(frames, None)
                    if raw is None:
                        item = self.timeline.finish(self.src.info.end_pts)
                    else:
                        self.frames_in += 1
                        item = self.timeline.push(*raw)
                    if item is not None and self.converter is not None:
                        item = self.converter.convert(item)
                if item is not None:
                    if self.on_frame is not None:
                        self.on_frame(item.image)
                    self.out.put(item)
                if raw is None:
                    break
            self.out.close()
        finally:
            self.src.close()


def check_batch(frames: np.ndarray, result: Any) -> np.ndarray:
    """``result`` if ``process`` kept the contract, else a ValueError that says what came back."""
    if not isinstance(result, np.ndarray) or result.shape != frames.shape or result.dtype != np.uint8:
        got = f"{type(result).__name__} {getattr(result, 'shape', '')} {getattr(result, 'dtype', '')}".strip()
        raise ValueError(f"process must return a uint8 array of shape {frames.shape}, got {got}")
    return result


class ProcessStage:
    """Batches of ``batch`` frames through ``process`` (the last batch may be smaller)."""

    def __init__(self, process: Process, batch: int, inp: Channel, out: Channel) -> None:
        self.process, self.batch, self.inp, self.out = process, batch, inp, out

    def __call__(self, clock: StageClock) -> None:
        pending: list[TimedFrame] = []
        for item in self.inp:
            pending.append(item)
            if len(pending) >= self.batch:
                self._run(pending, clock)
                pending = []
        if pending:
            self._run(pending, clock)
        self.out.close()

    def _run(self, pending: list[TimedFrame], clock: StageClock) -> None:
        with clock.busy():
            frames = pending[0].image[None] if len(pending) == 1 else np.stack([f.image for f in pending])
            result = check_batch(frames, self.process(frames))
        for item, image in zip(pending, result):
            item.image = image
            self.out.put(item)


class EncodeStage:
    """Timed frames into the writer; finishes it at the end, or aborts it on any error or stop."""

    def __init__(self, writer: FrameWriter, inp: Channel) -> None:
        self.writer, self.inp = writer, inp

    def __call__(self, clock: StageClock) -> None:
        finished = False
        try:
            for item in self.inp:
                with clock.busy():
                    self.writer.write(item)
            with clock.busy():
                self.writer.finish()
            finished = True
        finally:
            if not finished:
                self.writer.abort()

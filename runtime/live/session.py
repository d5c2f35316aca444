"""The live loop: newest frame -> stylise -> show / record / virtual camera, with an overlay.

Keys in the window: 1-9 switch style, [ and ] change alpha, c cycles colour preservation
(off, color, luminance), t cycles temporal stabilisation (off, on, strong), o shows the
original beside the result, s saves a snapshot, q or Esc quits.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..engine import Engine
from ..frames import FrameStylizer
from ..images import save_image
from ..sizing import scaled
from ..temporal import MODES, Stabilizer

WINDOW = "stylize live"
KEYS_HELP = "1-9 style  [ ] alpha  c colour  t temporal  o original  s snapshot  q quit"
PRESERVE_CYCLE = (None, "color", "luminance")


@dataclass
class LiveOptions:
    """What the session starts with (the keys change some of it). The commands' defaults
    live in ``stylize.options``; these fields have none on purpose."""

    side: int | None  # shorter side the frames are stylised at (None: the camera's own)
    alpha: float
    preserve_color: str | None  # None, "color" (style colours matched to a frame), "luminance"
    temporal: str  # off, on, strong (``runtime.temporal``)
    window: bool
    max_frames: int = 0  # 0: until quit or the source ends
    show_original: bool = False
    snapshot_dir: Path = Path(".")


@dataclass
class StageTimes:
    """Per-stage latency in ms of every processed frame (for the summary and benchmarks)."""

    capture_wait: list[float] = field(default_factory=list)
    preprocess: list[float] = field(default_factory=list)
    inference: list[float] = field(default_factory=list)
    temporal: list[float] = field(default_factory=list)  # the stabiliser: flow and cut test, warp and mix
    postprocess: list[float] = field(default_factory=list)
    output: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)  # capture to shown

    def medians(self) -> dict[str, float]:
        return {k: float(np.median(v)) if v else 0.0 for k, v in self.__dict__.items()}


@dataclass
class LiveSummary:
    frames: int
    captured: int
    dropped: int
    seconds: float
    times: StageTimes

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _overlay(bgr: np.ndarray, lines: list[str]) -> None:
    y = 22
    for line in lines:
        cv2.putText(bgr, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(bgr, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        y += 22


class LiveSession:
    """``recolor(rgb)``: the style vectors with the styles' colours matched to an RGB uint8
    frame (``--preserve-color color``); without it that mode is skipped."""

    def __init__(
        self,
        engine: Engine,
        style_vectors: list[np.ndarray],
        style_names: list[str],
        options: LiveOptions,
        recolor: Callable[[np.ndarray], list[np.ndarray]] | None = None,
    ) -> None:
        self.engine = engine
        self.plain_vectors = list(style_vectors)
        self.vectors = list(style_vectors)
        self.names = style_names
        self.opt = options
        self.recolor = recolor
        self._recolor_pending = options.preserve_color == "color"
        self.style_index = 0
        self.times = StageTimes()
        self._recent: deque[float] = deque(maxlen=30)
        self.frames = FrameStylizer(
            engine, style_vectors[0], alpha=options.alpha, luminance_only=options.preserve_color == "luminance", temporal=options.temporal
        )

    @property
    def stabilizer(self) -> Stabilizer | None:
        return self.frames.stabilizer

    def set_temporal(self, mode: str) -> None:
        """Switch stabilisation (off, on, strong); a new mode starts from a clean state."""
        self.opt.temporal = mode
        self.frames.set_temporal(mode)

    # key handling -------------------------------------------------------------------
    def handle_key(self, key: int) -> bool:
        """Apply one key press; False means quit."""
        if key in (ord("q"), 27):
            return False
        if ord("1") <= key <= ord("9") and key - ord("1") < len(self.vectors):
            if key - ord("1") != self.style_index and self.stabilizer is not None:
                self.stabilizer.reset()  # no trace of the old style blended into the new one
            self.style_index = key - ord("1")
        elif key == ord("["):
            self.opt.alpha = max(0.0, round(self.opt.alpha - 0.1, 2))
        elif key == ord("]"):
            self.opt.alpha = min(1.0, round(self.opt.alpha + 0.1, 2))
        elif key == ord("c"):
            self.set_preserve_color(self._next_preserve_mode())
        elif key == ord("o"):
            self.opt.show_original = not self.opt.show_original
        elif key == ord("t"):
            self.set_temporal(MODES[(MODES.index(self.opt.temporal) + 1) % len(MODES)])
        elif key == ord("s"):
            self._snapshot = True
        return True

    def _next_preserve_mode(self) -> str | None:
        cycle = [m for m in PRESERVE_CYCLE if m != "color" or self.recolor is not None]
        i = cycle.index(self.opt.preserve_color) if self.opt.preserve_color in cycle else 0
        return cycle[(i + 1) % len(cycle)]

    def set_preserve_color(self, mode: str | None) -> None:
        """None, "color" (the styles recoloured to the next frame) or "luminance"."""
        self.opt.preserve_color = mode
        self._recolor_pending = mode == "color"
        if mode != "color":
            self.vectors = list(self.plain_vectors)

    # one frame ----------------------------------------------------------------------
    def process(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BGR uint8 camera frame -> (stylised BGR uint8, the RGB uint8 input it was made from).

        On the CUDA torch engine with stabilisation on, the engine's GPU time is counted
        under ``temporal`` (its frames are blended on the GPU before anything waits for them)."""
        t0 = time.perf_counter()
        w, h = scaled(bgr.shape[1], bgr.shape[0], self.opt.side)
        small = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA if w * h < bgr.shape[0] * bgr.shape[1] else cv2.INTER_LINEAR) if (h, w) != bgr.shape[:2] else bgr
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        if self._recolor_pending and self.recolor is not None:
            self.vectors = self.recolor(rgb)
            self._recolor_pending = False
        t1 = time.perf_counter()
        fs = self.frames
        fs.vector, fs.alpha = self.vectors[self.style_index], self.opt.alpha
        fs.luminance_only = self.opt.preserve_color == "luminance"
        engine_before = fs.engine_s
        out = fs(rgb[None])[0]
        t3 = time.perf_counter()
        out_bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
        t4 = time.perf_counter()
        engine_ms = (fs.engine_s - engine_before) * 1e3
        self.times.preprocess.append((t1 - t0) * 1e3)
        self.times.inference.append(engine_ms)
        self.times.temporal.append((t3 - t1) * 1e3 - engine_ms if self.stabilizer is not None else 0.0)
        self.times.postprocess.append((t4 - t3) * 1e3)
        return out_bgr, rgb

    def compose(self, out_bgr: np.ndarray, small_rgb: np.ndarray) -> np.ndarray:
        view = out_bgr
        if self.opt.show_original:
            orig = cv2.cvtColor(small_rgb, cv2.COLOR_RGB2BGR)
            view = np.concatenate([orig, out_bgr], axis=1)
        else:
            view = out_bgr.copy()
        fps = (len(self._recent) - 1) / (self._recent[-1] - self._recent[0]) if len(self._recent) > 1 else 0.0
        lat = self.times.latency[-1] if self.times.latency else 0.0
        _overlay(
            view,
            [
                f"{fps:5.1f} fps  {lat:4.0f} ms  {self.engine.backend}",
                f"style {self.style_index + 1}/{len(self.vectors)} {self.names[self.style_index]}  alpha {self.opt.alpha:.1f}"
                + (f"  colour kept ({self.opt.preserve_color})" if self.opt.preserve_color else "")
                + (f"  temporal {self.opt.temporal}" if self.opt.temporal != "off" else ""),
            ],
        )
        return view

    # the loop -----------------------------------------------------------------------
    def run(self, capture: Any, recorder: Any = None, virtual_cam: Any = None) -> LiveSummary:
        """Frames from ``capture`` (``runtime.live.capture.Capture``) until it ends, q is
        pressed or ``max_frames`` are done; each to the window, ``recorder`` and ``virtual_cam``."""
        self._snapshot = False
        if self.opt.window:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
            cv2.createTrackbar("alpha %", WINDOW, int(self.opt.alpha * 100), 100, lambda v: setattr(self.opt, "alpha", v / 100))
        frames = 0
        start = time.perf_counter()
        try:
            while not self.opt.max_frames or frames < self.opt.max_frames:
                t_wait = time.perf_counter()
                frame = capture.latest()
                if frame is None:
                    break
                self.times.capture_wait.append((time.perf_counter() - t_wait) * 1e3)
                out_bgr, small_rgb = self.process(frame.bgr)
                t_out = time.perf_counter()
                if recorder is not None:
                    recorder.write(cv2.cvtColor(out_bgr, cv2.COLOR_BGR2RGB), frame.t_capture)
                if virtual_cam is not None:
                    virtual_cam.send(cv2.cvtColor(out_bgr, cv2.COLOR_BGR2RGB))
                if self._snapshot:
                    path = self.opt.snapshot_dir / time.strftime("stylize-%Y%m%d-%H%M%S.png")
                    save_image(path, cv2.cvtColor(out_bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
                    print(f"snapshot saved: {path}")
                    self._snapshot = False
                if self.opt.window:
                    cv2.imshow(WINDOW, self.compose(out_bgr, small_rgb))
                    key = cv2.waitKey(1) & 0xFF
                    if key != 0xFF and not self.handle_key(key):
                        break
                    if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                        break
                now = time.perf_counter()
                self.times.output.append((now - t_out) * 1e3)
                self.times.latency.append((now - frame.t_capture) * 1e3)
                self._recent.append(now)
                frames += 1
        finally:
            self.frames.close()  # the stabiliser's worker thread (started again if run again)
            if self.opt.window:
                cv2.destroyWindow(WINDOW)
        return LiveSummary(frames, capture.read_count, capture.dropped, time.perf_counter() - start, self.times)

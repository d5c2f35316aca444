"""The live loop: newest frame -> stylise -> show / record / virtual camera, with an overlay.

Stages on their own threads (docs/architecture.md, "Live"), so none waits on another's
Python work: the capture thread reads frames; the stylise thread resizes the newest one,
runs the engine and the stabiliser; the output thread records it and sends it to the
virtual camera; the main thread shows it in the window and reads the keys (OpenCV's window
calls belong to the main thread). A key press is queued and applied by the stylise thread
between frames, so the session's state changes in one thread only.

Keys in the window: 1-9 switch style, [ and ] change alpha, - and + change the size (along
``autosize.LADDER``), c cycles colour preservation (off, color, luminance), t cycles
temporal stabilisation (off, on, strong), o shows the original beside the result, s saves a
snapshot, q or Esc quits.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..color import ColorStats
from ..engine import Engine
from ..errors import Terminated
from ..frames import FrameStylizer
from ..images import save_image
from ..sizing import scaled
from ..temporal import MODES, Stabilizer
from ..video.pipeline import Channel, Pipeline, StageClock
from . import autosize
from .capture import Frame
from .recorder import fit

WINDOW = "stylize live"
KEYS_HELP = "1-9 style  [ ] alpha  - + size  c colour  t temporal  o original  s snapshot  q quit"
PRESERVE_CYCLE = (None, "color", "luminance")
QUIT_KEYS = (ord("q"), 27)


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
    """Per-frame times in ms of every stylised frame (for the summary and the benchmarks)."""

    capture_wait: list[float] = field(default_factory=list)  # the stylise thread waiting for a new frame
    preprocess: list[float] = field(default_factory=list)  # resize, BGR -> RGB
    inference: list[float] = field(default_factory=list)  # engine calls
    temporal: list[float] = field(default_factory=list)  # the stabiliser: flow and cut test, warp and mix
    output: list[float] = field(default_factory=list)  # record, virtual camera
    latency: list[float] = field(default_factory=list)  # capture to output (shown, or recorded when headless)

    def medians(self) -> dict[str, float]:
        return {k: float(np.median(v)) if v else 0.0 for k, v in self.__dict__.items()}


@dataclass
class LiveSummary:
    frames: int  # stylised frames delivered (recorded, sent, or given to the window)
    captured: int
    dropped: int  # captured frames never stylised (a newer one had arrived)
    not_shown: int  # stylised frames the window skipped (a newer one was ready)
    seconds: float
    source_fps: float
    side: int | None  # the size at the end (keys may change it)
    times: StageTimes
    busy_s: dict[str, float]  # seconds each thread worked: capture, stylize, output, display
    stopped_by: str | None = None  # "Ctrl-C", "SIGTERM", "SIGHUP": how the session was ended, if by a signal

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, q: float) -> float:
        return float(np.percentile(self.times.latency, q)) if self.times.latency else 0.0

    def describe(self, backend: str) -> str:
        med = self.times.medians()
        busy = ", ".join(f"{k} {100 * v / self.seconds:.0f}%" for k, v in self.busy_s.items()) if self.seconds > 0 else ""
        shown = f", {self.not_shown} not shown" if self.not_shown else ""
        return (
            (f"stopped by {self.stopped_by}: " if self.stopped_by else "")
            + f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.1f} fps, source {self.source_fps:.1f} fps), "
            f"{self.dropped} dropped at capture{shown}; latency p50 {self.latency_ms(50):.0f} ms, p95 {self.latency_ms(95):.0f} ms; "
            f"median ms: pre {med['preprocess']:.1f}, inference {med['inference']:.1f}, temporal {med['temporal']:.1f}, "
            f"output {med['output']:.1f}; busy: {busy} ({backend})"
        )


@dataclass
class _Stylised:
    frame: Frame
    out: np.ndarray  # stylised RGB uint8
    small: np.ndarray  # the RGB uint8 input it was made from


class _Newest:
    """A one-slot box for the window: ``put`` replaces what was not taken (and counts it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: _Stylised | None = None
        self.replaced = 0

    def put(self, item: _Stylised) -> None:
        with self._lock:
            self.replaced += self._item is not None
            self._item = item

    def take(self) -> _Stylised | None:
        with self._lock:
            item, self._item = self._item, None
            return item


def _overlay(bgr: np.ndarray, lines: list[str]) -> None:
    y = 22
    for line in lines:
        cv2.putText(bgr, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(bgr, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        y += 22


class LiveSession:
    """``recolor(rgb)``: the style vectors with the styles' colours matched to an RGB uint8
    frame (``--preserve-color color``); without it that mode is skipped. ``style_colors``: one
    colour target per style (``--style-colors``): the frames' colours are moved to the shown
    style's, by a map computed again when the style changes (paused while the c key keeps the
    content's colours)."""

    def __init__(
        self,
        engine: Engine,
        style_vectors: list[np.ndarray],
        style_names: list[str],
        options: LiveOptions,
        recolor: Callable[[np.ndarray], list[np.ndarray]] | None = None,
        style_colors: list[ColorStats] | None = None,
    ) -> None:
        self.engine = engine
        self.style_colors = style_colors
        self.plain_vectors = list(style_vectors)
        self.vectors = list(style_vectors)
        self.names = style_names
        self.opt = options
        self.recolor = recolor
        self._recolor_pending = options.preserve_color == "color"
        self.style_index = 0
        self.times = StageTimes()
        self._recent: deque[float] = deque(maxlen=30)
        self._keys: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._quit = False
        self._snapshot = False
        self._source_size: tuple[int, int] | None = None  # (width, height) of the camera frames
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
        if key in QUIT_KEYS:
            return False
        if ord("1") <= key <= ord("9") and key - ord("1") < len(self.vectors):
            if key - ord("1") != self.style_index and self.stabilizer is not None:
                self.stabilizer.reset()  # no trace of the old style blended into the new one
            self.style_index = key - ord("1")
        elif key == ord("["):
            self.opt.alpha = max(0.0, round(self.opt.alpha - 0.1, 2))
        elif key == ord("]"):
            self.opt.alpha = min(1.0, round(self.opt.alpha + 0.1, 2))
        elif key in (ord("-"), ord("+"), ord("=")) and self._source_size is not None:
            self.set_side(autosize.step(self.opt.side or min(self._source_size), *self._source_size, -1 if key == ord("-") else 1))
        elif key == ord("c"):
            self.set_preserve_color(self._next_preserve_mode())
        elif key == ord("o"):
            self.opt.show_original = not self.opt.show_original
        elif key == ord("t"):
            self.set_temporal(MODES[(MODES.index(self.opt.temporal) + 1) % len(MODES)])
        elif key == ord("s"):
            self._snapshot = True
        return True

    def set_side(self, side: int) -> None:
        """Stylise at another size; the stabiliser starts again (its state has the old size)."""
        if side != self.opt.side:
            self.opt.side = side
            self.set_temporal(self.opt.temporal)

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

    def _apply_keys(self) -> None:
        while True:
            try:
                key = self._keys.get_nowait()
            except queue.Empty:
                return
            if not self.handle_key(key):
                self._quit = True

    # one frame ----------------------------------------------------------------------
    def process(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BGR uint8 camera frame -> (stylised RGB uint8, the RGB uint8 input it was made from).

        On the CUDA torch engine with stabilisation on, the engine's GPU time is counted
        under ``temporal`` (its frames are blended on the GPU before anything waits for them)."""
        t0 = time.perf_counter()
        self._source_size = (bgr.shape[1], bgr.shape[0])
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
        fs.set_style_colors(self.style_colors[self.style_index] if self.style_colors is not None and self.opt.preserve_color is None else None)
        engine_before = fs.engine_s
        out = fs(rgb[None])[0]
        t2 = time.perf_counter()
        engine_ms = (fs.engine_s - engine_before) * 1e3
        self.times.preprocess.append((t1 - t0) * 1e3)
        self.times.inference.append(engine_ms)
        self.times.temporal.append((t2 - t1) * 1e3 - engine_ms if self.stabilizer is not None else 0.0)
        return out, rgb

    def compose(self, out_rgb: np.ndarray, small_rgb: np.ndarray) -> np.ndarray:
        """The window's BGR picture: the result (the original beside it with ``o``) and the overlay."""
        view = cv2.cvtColor(out_rgb, cv2.COLOR_RGB2BGR)
        if self.opt.show_original:
            view = np.concatenate([cv2.cvtColor(small_rgb, cv2.COLOR_RGB2BGR), view], axis=1)
        fps = (len(self._recent) - 1) / (self._recent[-1] - self._recent[0]) if len(self._recent) > 1 else 0.0
        lat = self.times.latency[-1] if self.times.latency else 0.0
        _overlay(
            view,
            [
                f"{fps:5.1f} fps  {lat:4.0f} ms  {self.engine.backend}  {out_rgb.shape[1]}x{out_rgb.shape[0]}",
                f"style {self.style_index + 1}/{len(self.vectors)} {self.names[self.style_index]}  alpha {self.opt.alpha:.1f}"
                + (f"  colour kept ({self.opt.preserve_color})" if self.opt.preserve_color else "")
                + (f"  temporal {self.opt.temporal}" if self.opt.temporal != "off" else ""),
            ],
        )
        return view

    # the stages ---------------------------------------------------------------------
    def _stylize_stage(self, capture: Any, out: Channel) -> Callable[[StageClock], None]:
        def stage(clock: StageClock) -> None:
            done = 0
            while not (self.opt.max_frames and done >= self.opt.max_frames):
                self._apply_keys()
                if self._quit:
                    break
                t_wait = time.perf_counter()
                frame = capture.latest()
                if frame is None:
                    break
                self.times.capture_wait.append((time.perf_counter() - t_wait) * 1e3)
                with clock.busy():
                    out_rgb, small = self.process(frame.bgr)
                out.put(_Stylised(frame, out_rgb, small))
                done += 1
            out.close()

        return stage

    def _output_stage(self, inp: Channel, recorder: Any, virtual_cam: Any, window: _Newest | None) -> Callable[[StageClock], None]:
        def stage(clock: StageClock) -> None:
            for item in inp:
                t_out = time.perf_counter()
                with clock.busy():
                    if recorder is not None:
                        recorder.write(item.out, item.frame.t_source)
                    if virtual_cam is not None:
                        virtual_cam.send(fit(item.out, virtual_cam.width, virtual_cam.height))
                    if self._snapshot:
                        path = self.opt.snapshot_dir / time.strftime("stylize-%Y%m%d-%H%M%S.png")
                        save_image(path, item.out.astype(np.float32) / 255.0)
                        print(f"snapshot saved: {path}")
                        self._snapshot = False
                now = time.perf_counter()
                self.times.output.append((now - t_out) * 1e3)
                self._delivered += 1
                if window is not None:
                    window.put(item)
                else:
                    self._done(item, now)

        return stage

    def _done(self, item: _Stylised, now: float) -> None:
        self.times.latency.append((now - item.frame.t_capture) * 1e3)
        self._recent.append(now)

    def _show(self, box: _Newest, clock: StageClock) -> None:
        """One turn of the window (main thread): the newest stylised frame, then the keys.
        Once the window is closed, nothing is shown again (``imshow`` would reopen it)."""
        if self._window_closed:
            return
        item = box.take()
        with clock.busy():
            if item is not None:
                cv2.imshow(WINDOW, self.compose(item.out, item.small))
                self._done(item, time.perf_counter())
            key = cv2.waitKey(1) & 0xFF
        if key != 0xFF:
            self._keys.put(key)
            if key in QUIT_KEYS:
                self._quit = True
        if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
            self._window_closed = self._quit = True

    def _interrupted(self, e: KeyboardInterrupt) -> None:
        """Ctrl-C, SIGTERM or SIGHUP: the normal way to end a session, not a failure. The
        stylise stage stops taking frames, the output stage writes what is queued, and ``run``
        returns, so a recording is finished rather than thrown away (a second one stops at once)."""
        self.stopped_by = e.name if isinstance(e, Terminated) else "Ctrl-C"
        self._quit = True

    def run(self, capture: Any, recorder: Any = None, virtual_cam: Any = None) -> LiveSummary:
        """Frames from ``capture`` (``runtime.live.capture.Capture``) until it ends, q is
        pressed, ``max_frames`` are done or an interrupt ends it (``stopped_by`` in the
        summary); each to the window, ``recorder`` and ``virtual_cam``."""
        self._snapshot = False
        self._quit = self._window_closed = False
        self._delivered = 0
        self.stopped_by: str | None = None
        pipeline = Pipeline("live")
        stylised = pipeline.channel(2)
        box = _Newest() if self.opt.window else None
        pipeline.add("stylize", self._stylize_stage(capture, stylised))
        pipeline.add("output", self._output_stage(stylised, recorder, virtual_cam, box))
        display = StageClock()
        if self.opt.window:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
            cv2.createTrackbar("alpha %", WINDOW, int(self.opt.alpha * 100), 100, lambda v: setattr(self.opt, "alpha", v / 100))
        start = time.perf_counter()
        try:
            if box is not None:
                pipeline.run(on_tick=lambda: self._show(box, display), tick_s=0.002, on_interrupt=self._interrupted)
                last = box.take()  # a frame stylised after the last turn of the window
                if last is not None:
                    self._done(last, time.perf_counter())
            else:
                pipeline.run(on_interrupt=self._interrupted)
        finally:
            self.frames.close()  # the stabiliser's worker thread (started again if run again)
            if self.opt.window:
                cv2.destroyWindow(WINDOW)
        busy = {"capture": capture.busy_s, "stylize": pipeline.clocks["stylize"].busy_s, "output": pipeline.clocks["output"].busy_s}
        if self.opt.window:
            busy["display"] = display.busy_s
        return LiveSummary(
            frames=self._delivered, captured=capture.read_count, dropped=capture.dropped, not_shown=box.replaced if box else 0,
            seconds=time.perf_counter() - start, source_fps=capture.fps, side=self.opt.side, times=self.times, busy_s=busy,
            stopped_by=self.stopped_by,
        )  # fmt: skip


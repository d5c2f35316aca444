"""The stabiliser: per-frame stylisation made temporally stable, engine-agnostic.

For each frame, in order:

1. ``analyse(frame)`` looks at the *input* only: a scene-cut test on tiny frames, then the
   optical flow from this input frame to the previous one (Farneback, on grayscale frames
   whose shorter side is ``flow_side``, their local contrast equalised; DIS and a
   forward-backward check are settings), and a per-pixel trust weight
   (``runtime.temporal.trust``): high where the previous input, warped by the flow and brought
   to this frame's exposure, matches this input within the input's own noise (so moving
   objects the flow got wrong and cuts the cut test missed get no blending, while flicker and
   grain, which are not motion, do not stop it). A cut, a new frame size, a frame where almost
   nothing can be trusted, or a black previous frame resets the state. The exposure change
   is followed through fades (``runtime.temporal.exposure``): the output is dimmed with it.
2. the engine stylises the frame.
3. ``blend(stylised, motion)`` warps the previous *output* onto this frame with that flow
   (upscaled to the output size) and mixes it in with the trust weight times ``blend``:
   out = w * warp(prev_out) + (1 - w) * stylised. Recursive, so along a well-tracked path
   the output is an exponential moving average of the stylised frames. Averaging washes
   fine texture out, so the mix's high-pass is then scaled back up to the stylised frame's
   local energy (``detail_gain``, at most ``max_gain``).

Nothing crosses a cut: after a reset the output is exactly the per-frame stylisation.

Where each part runs (docs/architecture.md, "Temporal stabilisation"; the costs are in
``benchmarks/README.md``):

- the analysis, on the CPU with OpenCV, always, on small frames (``flow_side``), so its cost
  hardly grows with the output size. It depends on the input only, so ``process`` runs it in
  a worker thread while the engine stylises the frame, or, where the frames were handed to
  ``prefetch`` as they were decoded (video conversion), a thread pool has done it ahead
  (``runtime.temporal.analysis.LookAhead``).
- the warp and mix (``runtime.temporal.blend``), where the stylised frames are: with OpenCV
  on the host for host engines (``prepare``, the previous output warped and the detail gain,
  joins the analysis in the worker; the mix stays on the critical path), and in torch on
  the GPU for the CUDA torch engine (``TorchBlender``), before its frames become bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..black import DARK_LO
from .analysis import Look, LookAhead, look, pair
from .blend import Blender, CpuBlender
from .cuts import CutDetector
from .exposure import Exposure
from .flow import FlowEstimator

MODES = ("off", "on", "strong")


@dataclass(frozen=True)
class TemporalSettings:
    blend: float  # weight of the warped previous output where the flow is fully trusted
    max_gain: float = 2.0  # detail restoration: high-pass gain limit (1: none; see ``restore_detail``)
    flow_side: int = 128  # the flow runs on frames of this shorter side at most (``analysis.flow_side``)
    flow_method: str = "farneback-fast"  # see ``SETTINGS`` for why not DIS
    flow_contrast: float = 2.0  # CLAHE clip limit of the flow's input (0: none; ``analysis.contrast``)
    cubic: bool = True  # bicubic warping of the previous output: bilinear blurs it a little every frame, most on pans
    photo_lo: float = 0.03  # |input - warped previous input| (gray, [0, 1]): full trust below ...
    photo_hi: float = 0.10  # ... none above (both for clean input; ``trust``)
    gain_grid: tuple[int, int] = (3, 4)  # brightness compensation before the check: gain map blocks, rows x columns ((0, 0): none)
    noise_k: float = 2.0  # photo_lo rises to noise_k x the frame's median residual (its noise; 0: fixed) ...
    noise_cap: float = 3.0  # ... up to noise_cap x photo_lo; photo_hi moves with it
    fb_check: bool = False  # forward-backward flow check (a second flow); else the photometric check alone
    min_trusted: float = 0.05  # below this fraction of trusted pixels the frame counts as a cut
    gain_every: int = 2  # measure the detail gain every n-th frame, carry it along the flow between
    fade_knee: float = 0.6  # the output dims below this exposure of the shot (``exposure``; 0: never)
    fade_leak: float = 0.97  # the exposure's log is multiplied by this every frame (back towards 1)
    fade_end: float = 128.0  # a fade from black is over at this 99th-percentile luma


# Farneback (three levels, 13-pixel window, two iterations, started from DIS "ultrafast") at a
# shorter side of 128, one direction, on contrast-equalised frames; trust from the photometric
# check alone, after the brightness gain is taken out and with thresholds that rise with the
# input's noise: chosen over DIS (with and without a forward-backward check) and over the slower
# Farneback the metric uses, by the warping error under *both* metric flows, since a metric
# whose flow resembles the stabiliser's rewards it, and by the texture kept, on the clean clips
# and on the hard footage of ``benchmarks.hard_footage`` (benchmarks/README.md, "Temporal
# stabilisation" and "on hard footage").
SETTINGS: dict[str, TemporalSettings] = {
    "on": TemporalSettings(blend=0.8, max_gain=2.0),
    "strong": TemporalSettings(blend=0.85, max_gain=1.5),
}


def settings_for(mode: str) -> TemporalSettings | None:
    if mode == "off":
        return None
    if mode not in SETTINGS:
        raise ValueError(f"unknown temporal mode {mode!r}: choose one of {', '.join(MODES)}")
    return SETTINGS[mode]


@dataclass
class Motion:
    """What ``analyse`` found about one input frame."""

    reset: bool  # first frame of a shot (or of the stream): nothing is blended into it
    cut: bool = False  # the reset came from the scene-cut test
    flow: np.ndarray | None = None  # flow(this input, previous input) at flow resolution
    weight: np.ndarray | None = None  # H x W at flow resolution, in [0, blend]
    trusted: float = 0.0  # fraction of pixels with any weight
    warped: np.ndarray | None = None  # the previous output warped onto this frame (``prepare``)
    full_weight: np.ndarray | None = None  # ``weight`` at the output size (``prepare``)
    gain: np.ndarray | None = None  # detail gain map for this frame (``prepare``), see ``blend``
    scale: float = 1.0  # the stabilised frame's brightness factor: below 1 in fades (``Exposure``)


class Stabilizer:
    """The per-stream state machine. One instance per video or live session, fed in order."""

    def __init__(
        self,
        mode: str = "on",
        settings: TemporalSettings | None = None,
        overlap: bool = True,
        blender: Callable[[TemporalSettings], Blender] | None = None,
        lookahead_threads: int | None = None,
        **overrides: float | int | str,
    ) -> None:
        """``blender``: makes the output side from the settings (default ``CpuBlender``; the
        CUDA torch engine gives ``TorchBlender``, see ``make_stabilizer``).
        ``lookahead_threads``: threads for ``prefetch`` (default: half the cores, at most 8)."""
        base = settings if settings is not None else settings_for(mode)
        if base is None:
            raise ValueError("mode 'off' has no stabiliser: use None")
        self.settings = replace(base, **overrides) if overrides else base
        self.output: Blender = (blender or CpuBlender)(self.settings)
        self.mode = mode
        self.overlap = overlap  # analyse the inputs in a worker thread while the engine runs (``process``)
        self._pool = None
        self._flow = FlowEstimator(self.settings.flow_method)
        self._ahead: LookAhead | None = None
        self.lookahead_threads = lookahead_threads
        self._cuts = CutDetector()
        self.cuts = 0  # scene cuts seen (reports read this)
        self.resets = 0  # restarts after the first frame: cuts, size changes, untrackable frames
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next frame is stylised as if it were the first."""
        self._cuts.reset()
        self.output.reset()
        self._prev_look: Look | None = None
        self.exposure = Exposure(self.settings.fade_knee, self.settings.fade_leak, self.settings.fade_end)

    # input side (``runtime.temporal.analysis``) ----------------------------------------
    def prefetch(self, frame: np.ndarray) -> None:
        """Start analysing ``frame`` ahead, in a thread pool: the next frame ``process`` (or
        ``analyse``) will get, in stream order. A video pipeline calls it as it decodes, so
        the analysis is done by the time the engine needs it (``LookAhead``)."""
        if self._ahead is None:
            self._ahead = LookAhead(self.settings, self.lookahead_threads)
        self._ahead.submit(frame)

    def analyse(self, frame: np.ndarray) -> Motion:
        """Input frame (RGB, uint8 or float in [0, 1]), in stream order -> its Motion."""
        s = self.settings
        got = self._ahead.take(frame) if self._ahead is not None else None
        lk, against, pr = got if got is not None else (look(frame, s), None, None)
        cut = self._cuts.push_signature(lk.sig)
        prev = self._prev_look
        if prev is None or cut or prev.shape != lk.shape:
            return self._start(lk, cut, new_shot=True)
        if pr is None or against is not prev:  # not analysed ahead, or against another frame
            pr = pair(prev, lk, self._flow, s)
        if pr is None or pr.trusted < s.min_trusted:
            return self._start(lk, False)
        self.exposure.step(pr.gain)
        if prev.level < DARK_LO:  # nothing to carry over from a black frame: ``keep_black`` shows the input
            return self._start(lk, False, tracked=True)
        self._prev_look = lk
        return Motion(reset=False, flow=pr.back, weight=(pr.weight * s.blend).astype(np.float32), trusted=pr.trusted, scale=self.exposure.scale)

    def _start(self, lk: Look, cut: bool, new_shot: bool = False, tracked: bool = False) -> Motion:
        if self._prev_look is not None:
            self.resets += 1
        self.cuts += int(cut)
        if new_shot:  # the stream's first frame, a cut, a new size
            self.exposure.start(lk.level)
        elif not tracked:
            self.exposure.lost(lk.level)
        # The cut detector keeps this frame as its reference; ``blend`` mixes nothing into it. The previous output stays: earlier frames of the same batch
        # may not be blended yet.
        self._prev_look = lk
        return Motion(reset=True, cut=cut, scale=self.exposure.scale)

    # output side (``runtime.temporal.blend``) -------------------------------------------
    @property
    def _prev_out(self):  # noqa: ANN202 (the last output frame, in the blender's format)
        return self.output.prev

    def prepare(self, motion: Motion, height: int, width: int) -> None:
        """The part of ``blend`` that needs no stylised frame (``Blender.prepare``):
        ``process`` runs it while the engine works; ``blend`` does it itself otherwise."""
        self.output.prepare(motion, height, width)

    def blend(self, stylised, motion: Motion):  # noqa: ANN001, ANN201
        """Stylised frame (float32 H x W x 3 in [0, 1]; a device tensor 3 x H x W for a
        device blender) of the frame ``motion`` describes -> the stabilised frame, in the
        blender's format. Call in the same order as ``analyse``."""
        out = self.output.blend(stylised, motion)
        return out * motion.scale if motion.scale < 1.0 else out  # a new frame: the blender keeps ``out``

    # both ----------------------------------------------------------------------------
    def process(self, frames: np.ndarray, stylize: Callable[[np.ndarray], object], uint8: bool = False) -> np.ndarray:
        """A batch (N x H x W x 3 input frames, in order) through ``stylize(frames)`` and the
        blending; returns the stabilised batch, N x H x W x 3 on the host: float32 in [0, 1],
        or uint8 with ``uint8`` (converted where the blender works: on the GPU for a device
        blender). ``stylize`` returns the frames' size, in [0, 1]: float32 N x H x W x 3, or
        for a device blender its device tensor N x 3 x H x W.

        What depends on the input frames only (the analysis, and for a CPU blender the warp
        of the previous output for the first frame of the batch) runs in a worker thread
        while the engine stylises the batch: OpenCV and the engines release the GIL, and an
        engine on a GPU leaves the CPU idle meanwhile."""
        h, w = frames.shape[1:3]
        early = self.output.prepare_in_worker

        def analyse_all() -> list[Motion]:
            motions = [self.analyse(f) for f in frames]
            if early:
                self.prepare(motions[0], h, w)
            return motions

        if self.overlap:
            pending = self._worker().submit(analyse_all)
            try:
                styled = stylize(frames)
            finally:
                motions = pending.result()
        else:
            motions = analyse_all()
            styled = stylize(frames)
        return self.output.stack([self.blend(o, m) for o, m in zip(styled, motions)], uint8=uint8)

    def _worker(self):  # noqa: ANN202
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylize-temporal")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)
        ahead = getattr(self, "_ahead", None)
        if ahead is not None and ahead._pool is not None:
            ahead._pool.shutdown(wait=False, cancel_futures=True)


def make_stabilizer(mode: str, blender: Callable[[TemporalSettings], Blender] | None = None, **overrides: float | int | str) -> Stabilizer | None:
    """The stabiliser for a ``--temporal`` mode (None for off). ``blender``: a factory for
    the output side on the engine's device (``Engine.temporal_blender()``); None blends on
    the host with OpenCV."""
    settings = settings_for(mode)
    if settings is None:
        return None
    return Stabilizer(mode, settings, blender=blender, **overrides)

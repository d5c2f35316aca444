"""The stabiliser's output side: warp the previous output along the flow, mix it into the
stylised frame, restore the detail the mix washed out (torch-free).

``Blender`` holds the logic and the state (the previous output, the detail-gain map); its
subclasses supply the array operations, so the blend runs where the stylised frames are:

- ``CpuBlender`` (here): OpenCV on float32 H x W x 3 arrays, for engines that return host
  arrays (ONNX Runtime, torch on the CPU);
- ``runtime.backends.torch_blend.TorchBlender``: torch on the engine's device, on float32
  3 x H x W tensors, for the CUDA torch engine, so that a frame crosses PCIe once, as
  bytes, and the full-resolution warp and mix run on the GPU instead of the CPU.

The motion analysis (``Stabilizer.analyse``: flow and trust on small frames) stays on the
CPU for both; its flow and weight maps are small.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .flow import grid, resize_flow, sample_maps, warp


class Blender:
    """Logic and state of the output side; subclasses implement the ``_``-prefixed ops."""

    prepare_in_worker = True  # ``prepare`` may run in the stabiliser's worker thread

    def __init__(self, settings: Any) -> None:  # a runtime.temporal.stabilizer.TemporalSettings
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        self.prev: Any = None  # the last output frame (the blender's own format)
        self._gain_from: tuple[Any, Any] | None = None  # (blend, stylised) of the last frame
        self._gain: Any = None  # the last detail-gain map (low resolution)
        self._gain_age = 0  # frames since it was measured

    def prepare(self, motion: Any, height: int, width: int) -> None:
        """What ``blend`` needs besides the stylised frame: the previous output warped onto
        this frame, the weight at the output size, the detail gain; kept in ``motion``."""
        prev = self.prev
        if motion.reset or prev is None or self._size(prev) != (height, width) or motion.flow is None:
            return
        motion.warped = self._warp_up(prev, motion.flow, height, width)
        motion.full_weight = self._resize_weight(motion.weight, height, width)
        motion.gain = self._next_gain(motion, height, width)

    def blend(self, stylised: Any, motion: Any) -> Any:
        """The stylised frame of the frame ``motion`` describes -> the stabilised frame (a new
        array or tensor in [0, 1]). Call in the same order as ``Stabilizer.analyse``."""
        out = self._frame(stylised)
        prev = self.prev
        size = self._size(out)
        if not motion.reset and prev is not None and self._size(prev) == size and motion.flow is not None:
            if motion.warped is None or self._size(motion.warped) != size:
                self.prepare(motion, *size)
            mixed = self._mix(motion.warped, out, motion.full_weight)
            if self.settings.max_gain > 1.0:
                # The gain comes from the previous frame's blend (carried along the flow), so
                # ``prepare`` can compute it while the engine runs; at the first blended frame
                # of a shot it is measured on this one.
                gain = motion.gain if motion.gain is not None else self._next_gain(motion, *size)
                if gain is None:
                    gain = self._gain = self._detail_gain(mixed, out, self.settings.max_gain, None)
                    self._gain_age = 0
                self._gain_from = (mixed, out)
                mixed = self._apply_gain(mixed, gain)
            out = self._clip(mixed)
            motion.warped = motion.full_weight = motion.gain = None
        else:
            self._gain_from = self._gain = None
            out = self._copy(out)
        self.prev = out
        return out

    def _next_gain(self, motion: Any, height: int, width: int) -> Any:
        """This frame's detail gain: measured on the previous frame's blend every
        ``gain_every`` frames, else the last one carried along the flow; None at the first
        blended frame of a shot."""
        s = self.settings
        if s.max_gain <= 1.0 or self._gain_from is None or self._size(self._gain_from[0]) != (height, width):
            return None
        if self._gain is not None and self._gain_age + 1 < s.gain_every:
            self._gain = self._warp_same(self._gain, motion.flow)
            self._gain_age += 1
        else:
            self._gain = self._detail_gain(*self._gain_from, s.max_gain, motion.flow)
            self._gain_age = 0
        return self._gain

    def stack(self, frames: list[Any], uint8: bool = False) -> np.ndarray:
        """Blended frames -> N x H x W x 3 host array: float32 in [0, 1], or uint8."""
        out = np.stack(frames)
        return (out * 255.0 + 0.5).astype(np.uint8) if uint8 else out

    # array operations ------------------------------------------------------------------
    def _frame(self, x: Any) -> Any:
        raise NotImplementedError

    def _size(self, x: Any) -> tuple[int, int]:
        raise NotImplementedError

    def _warp_up(self, img: Any, flow: np.ndarray, height: int, width: int) -> Any:
        """``img`` (height x width) sampled at x + flow(x), the flow given at a lower resolution."""
        raise NotImplementedError

    def _warp_same(self, gain: Any, flow: np.ndarray) -> Any:
        """A low-resolution map carried along ``flow`` (resized to the map's size)."""
        raise NotImplementedError

    def _resize_weight(self, weight: np.ndarray, height: int, width: int) -> Any:
        raise NotImplementedError

    def _mix(self, warped: Any, out: Any, weight: Any) -> Any:
        raise NotImplementedError

    def _detail_gain(self, mixed: Any, stylised: Any, max_gain: float, flow: np.ndarray | None) -> Any:
        raise NotImplementedError

    def _apply_gain(self, mixed: Any, gain: Any) -> Any:
        raise NotImplementedError

    def _clip(self, x: Any) -> Any:
        raise NotImplementedError

    def _copy(self, x: Any) -> Any:
        raise NotImplementedError


class CpuBlender(Blender):
    """OpenCV on float32 H x W x 3 host arrays."""

    def _frame(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)

    def _size(self, x: np.ndarray) -> tuple[int, int]:
        return x.shape[:2]

    def _warp_up(self, img: np.ndarray, flow: np.ndarray, height: int, width: int) -> np.ndarray:
        mx, my = upscaled_maps(flow, height, width)
        interp = cv2.INTER_CUBIC if self.settings.cubic else cv2.INTER_LINEAR
        return cv2.remap(img, mx, my, interpolation=interp, borderMode=cv2.BORDER_REPLICATE)

    def _warp_same(self, gain: np.ndarray, flow: np.ndarray) -> np.ndarray:
        return warp(gain, resize_flow(flow, *gain.shape[:2]))

    def _resize_weight(self, weight: np.ndarray, height: int, width: int) -> np.ndarray:
        return weight if weight.shape == (height, width) else cv2.resize(weight, (width, height), interpolation=cv2.INTER_LINEAR)

    def _mix(self, warped: np.ndarray, out: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return cv2.blendLinear(warped, out, weight, 1.0 - weight)

    def _detail_gain(self, mixed: np.ndarray, stylised: np.ndarray, max_gain: float, flow: np.ndarray | None) -> np.ndarray:
        return detail_gain(mixed, stylised, max_gain, flow=flow)

    def _apply_gain(self, mixed: np.ndarray, gain: np.ndarray) -> np.ndarray:
        return apply_detail_gain(mixed, gain)

    def _clip(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, 0.0, 1.0, out=x)

    def _copy(self, x: np.ndarray) -> np.ndarray:
        return x.copy()


def upscaled_maps(flow: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps (x + flow(x)) at (height, width) from a flow at a lower resolution:
    the flow resized bilinearly, its vectors scaled, added to the pixel grid."""
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
    mixing washes it out. The gain is sqrt(high-pass energy of the stylised frame / of the
    blend) per block (high-pass: minus a 3x3 box blur; energies from every other pixel),
    limited to [1, ``max_gain``]. ``flow`` (this frame -> the frame the gain was measured
    on, at any resolution) carries the map along the motion.
    """
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
    h, w = mixed.shape[:2]
    detail = mixed - cv2.blur(mixed, (3, 3))
    detail *= cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    detail += mixed
    return detail


def restore_detail(mixed: np.ndarray, stylised: np.ndarray, max_gain: float, window: int = 8) -> np.ndarray:
    """Give the blend back the local high-frequency energy of the stylised frame (both parts
    at once, from this frame); ``Blender.blend`` splits them to take part 1 off the critical
    path."""
    return apply_detail_gain(mixed, detail_gain(mixed, stylised, max_gain, window))

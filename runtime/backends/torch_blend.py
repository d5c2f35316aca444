"""The stabiliser's output side in torch, on the engine's device (``runtime.temporal.blend``).

The CUDA torch engine hands its stylised frames over as device tensors; warping the previous
output (``grid_sample``), mixing, the detail gain and the conversion to bytes all stay on
the GPU, and one uint8 frame comes back over PCIe. Only the flow and trust maps of the
CPU-side analysis go up, at the analysis resolution (small).

Each operation matches its OpenCV counterpart in ``CpuBlender`` (bilinear sampling at
x + flow(x) with edges replicated = ``grid_sample(align_corners=True, padding_mode="border")``;
``cv2.resize`` INTER_LINEAR = ``interpolate(bilinear, align_corners=False)``; ``cv2.blur``
3x3 (reflect-101 border) = reflect pad + ``avg_pool2d``); INTER_AREA to the gain's blocks is
``interpolate(mode="area")``, equal where the sizes divide. tests/test_temporal.py checks
the two blenders against each other on a real clip. Computed in FP32 whatever the
engine's precision: a few element-wise passes over a frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..temporal.blend import Blender


class TorchBlender(Blender):
    """torch on ``device``, on float32 3 x H x W tensors."""

    prepare_in_worker = False  # GPU work is queued from the thread that runs the engine

    def __init__(self, settings: Any, device: Any) -> None:
        import torch
        import torch.nn.functional as F  # noqa: N812

        self._torch, self._F = torch, F
        self.device = torch.device(device)
        self._flow_host: np.ndarray | None = None  # the last flow uploaded, and its device copy
        self._flow_dev: Any = None
        super().__init__(settings)

    # conversions -------------------------------------------------------------------------
    def _frame(self, x: Any) -> Any:
        torch = self._torch
        if isinstance(x, np.ndarray):  # H x W x 3 from a host path (e.g. colour preservation)
            x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(2, 0, 1)
        return x.to(self.device, torch.float32)

    def _upload(self, a: np.ndarray) -> Any:
        """A host map (H x W, or H x W x C) -> 1 x C x H x W float32 on the device."""
        t = self._torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
        if self.device.type == "cuda":  # pinned: the copy queues behind the engine instead of waiting for it
            return t.pin_memory().to(self.device, non_blocking=True)
        return t.to(self.device)

    def _flow_on_device(self, flow: np.ndarray) -> Any:
        """The frame's flow uploaded once: the previous output and the gain map are both
        warped with it."""
        if self._flow_host is not flow:
            self._flow_host, self._flow_dev = flow, self._upload(flow)
        return self._flow_dev

    def _size(self, x: Any) -> tuple[int, int]:
        return int(x.shape[-2]), int(x.shape[-1])

    # operations ------------------------------------------------------------------------
    def _sample(self, img: Any, flow: np.ndarray) -> Any:
        """``img`` (C x H x W or 1 x C x H x W) sampled at x + flow(x), the flow resized to
        the image's size with its vectors scaled; edges replicated."""
        torch, F = self._torch, self._F
        batched = img.ndim == 4
        img4 = img if batched else img[None]
        h, w = self._size(img4)
        fh, fw = flow.shape[:2]
        f = self._flow_on_device(flow)
        if (fh, fw) != (h, w):
            f = F.interpolate(f, size=(h, w), mode="bilinear", align_corners=False)
            f = f * torch.tensor([w / fw, h / fh], device=self.device).view(1, 2, 1, 1)
        ys = torch.arange(h, device=self.device, dtype=torch.float32).view(1, h, 1)
        xs = torch.arange(w, device=self.device, dtype=torch.float32).view(1, 1, w)
        # grid_sample's coordinates with align_corners=True: -1 and 1 are the outer pixel centres
        gx = (xs + f[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
        gy = (ys + f[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
        mode = "bicubic" if self.settings.cubic else "bilinear"
        out = F.grid_sample(img4, torch.stack((gx, gy), dim=-1), mode=mode, padding_mode="border", align_corners=True)
        return out if batched else out[0]

    def _warp_up(self, img: Any, flow: np.ndarray, height: int, width: int) -> Any:
        return self._sample(img, flow)

    def _warp_same(self, gain: Any, flow: np.ndarray) -> Any:
        return self._sample(gain, flow)

    def _resize_weight(self, weight: np.ndarray, height: int, width: int) -> Any:
        w = self._upload(weight)
        if tuple(w.shape[-2:]) != (height, width):
            w = self._F.interpolate(w, size=(height, width), mode="bilinear", align_corners=False)
        return w[0]  # 1 x H x W: broadcasts over the channels

    def _mix(self, warped: Any, out: Any, weight: Any) -> Any:
        return out + weight * (warped - out)

    def _blur3(self, x: Any) -> Any:
        F = self._F
        x4 = x if x.ndim == 4 else x[None]
        out = F.avg_pool2d(F.pad(x4, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
        return out if x.ndim == 4 else out[0]

    def _detail_gain(self, mixed: Any, stylised: Any, max_gain: float, flow: np.ndarray | None, window: int = 8) -> Any:
        """``runtime.temporal.blend.detail_gain`` on the device: 1 x 1 x h/8 x w/8."""
        h, w = self._size(mixed)
        small = (max(1, h // window), max(1, w // window))
        energies = []
        for img in (mixed, stylised):
            detail = (img - self._blur3(img))[:, ::2, ::2]
            energies.append(self._F.interpolate((detail * detail).sum(0)[None, None], size=small, mode="area"))
        gain = ((energies[1] + 1e-6) / (energies[0] + 1e-6)).sqrt_().clamp_(1.0, max_gain).sub_(1.0)
        return gain if flow is None else self._sample(gain, flow)

    def _apply_gain(self, mixed: Any, gain: Any) -> Any:
        h, w = self._size(mixed)
        up = self._F.interpolate(gain, size=(h, w), mode="bilinear", align_corners=False)[0]
        return mixed + (mixed - self._blur3(mixed)) * up

    def _clip(self, x: Any) -> Any:
        return x.clamp_(0.0, 1.0)

    def _copy(self, x: Any) -> Any:
        return x.clone()

    def stack(self, frames: list[Any], uint8: bool = False) -> np.ndarray:
        """Blended frames -> N x H x W x 3 on the host; bytes are made on the device (a
        quarter of the transfer)."""
        out = self._torch.stack(frames)
        if uint8:
            out = out.mul(255.0).add_(0.5).floor_().to(self._torch.uint8)
        return out.permute(0, 2, 3, 1).contiguous().cpu().numpy()

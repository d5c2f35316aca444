"""The PyTorch engine: torch and ``training`` are imported here, lazily, and nowhere else
in the runtime (DESIGN.md section 1)."""

from __future__ import annotations

import numpy as np

from runtime.models import ModelWeights
from runtime.store import Store


class TorchEngine:
    backend = "torch"

    def __init__(self, store: Store, weights: ModelWeights, device: str = "auto") -> None:
        import torch

        from training.models import load_stylizer

        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.weights = weights
        self.module = load_stylizer(store, weights).to(self.device)

    def _nchw(self, frames: np.ndarray):  # noqa: ANN202 (torch.Tensor, lazily imported)
        x = self._torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))
        return x.permute(0, 3, 1, 2).to(self.device)

    def encode_style(self, style: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self.module.encode_style(self._nchw(style[None]))[0].float().cpu().numpy()

    def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            vec = torch.from_numpy(np.asarray(style, dtype=np.float32))[None].to(self.device)
            out = self.module(self._nchw(frames), vec, float(alpha))
            return out.permute(0, 2, 3, 1).float().cpu().numpy()

    def stylize_regions(self, frame: np.ndarray, styles: list[np.ndarray], masks: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """Spatial control: style k where ``masks[k]`` (KxHxW in [0, 1]) is set.

        AdaIN mixes at the feature level, as in the paper. Magenta composites the stylised
        images by the masks (its style vector conditions every layer, so there is no single
        feature map to mix).
        """
        torch = self._torch
        with torch.inference_mode():
            x = self._nchw(frame[None])
            m = torch.from_numpy(np.asarray(masks, dtype=np.float32)).to(self.device)
            vecs = torch.from_numpy(np.stack(styles).astype(np.float32)).to(self.device)
            if hasattr(self.module, "forward_regions"):
                out = self.module.forward_regions(x, vecs, m, float(alpha))
            else:
                weights = m / m.sum(0, keepdim=True).clamp(min=1.0)
                out = x * (1 - weights.sum(0))
                for k in range(len(styles)):
                    out = out + weights[k] * self.module(x, vecs[k : k + 1], float(alpha))
            return out[0].permute(1, 2, 0).float().cpu().numpy()

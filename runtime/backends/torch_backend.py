"""The PyTorch engine: torch and ``training`` are imported here, lazily, and nowhere else
in the runtime (DESIGN.md section 1).

On CUDA it runs FP16, channels-last, and replays one CUDA graph per input shape (static
input buffers, so a frame costs one copy in, one graph launch and one copy out). On the
CPU it runs FP32 eagerly. The CUDA path is written to PyTorch's documented API
(``torch.cuda.graph``) and is not yet verified on a GPU machine.
"""

from __future__ import annotations

import numpy as np

from runtime.models import ModelWeights
from runtime.store import Store


class _GraphedShape:
    """A captured CUDA graph for one (batch, height, width) with its static buffers."""

    def __init__(self, torch, module, shape: tuple[int, ...], vec_shape: tuple[int, ...], dtype) -> None:  # noqa: ANN001
        dev = torch.device("cuda")
        self.frames = torch.zeros(shape, device=dev, dtype=dtype).contiguous(memory_format=torch.channels_last)
        self.vec = torch.zeros(vec_shape, device=dev, dtype=torch.float32)
        self.alpha = torch.ones((), device=dev, dtype=torch.float32)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):  # warm-up outside the capture (cuDNN autotuning, allocations)
                module(self.frames, self.vec, self.alpha)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.out = module(self.frames, self.vec, self.alpha)

    def run(self, frames, vec, alpha: float):  # noqa: ANN001, ANN201
        self.frames.copy_(frames)
        self.vec.copy_(vec)
        self.alpha.fill_(alpha)
        self.graph.replay()
        return self.out


class TorchEngine:
    backend = "torch"

    def __init__(self, store: Store, weights: ModelWeights, device: str = "auto", cuda_graphs: bool = True) -> None:
        import torch

        from training.models import load_stylizer

        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.weights = weights
        self.module = load_stylizer(store, weights).to(self.device)
        self.cuda = self.device.type == "cuda"
        self.dtype = torch.float16 if self.cuda else torch.float32
        if self.cuda:
            torch.backends.cudnn.benchmark = True
            self.module = self.module.half().to(memory_format=torch.channels_last)
        self.cuda_graphs = cuda_graphs and self.cuda
        self._graphs: dict[tuple[int, ...], _GraphedShape] = {}
        self.backend = f"torch-{'cuda-fp16' if self.cuda else 'cpu'}"

    def _nchw(self, frames: np.ndarray):  # noqa: ANN202 (torch.Tensor, lazily imported)
        x = self._torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).permute(0, 3, 1, 2)
        if self.cuda:
            x = x.pin_memory().to(self.device, non_blocking=True).to(self.dtype)
            return x.contiguous(memory_format=self._torch.channels_last)
        return x

    def encode_style(self, style: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self.module.encode_style(self._nchw(style[None]))[0].float().cpu().numpy()

    def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = self._nchw(frames)
            vec = torch.from_numpy(np.asarray(style, dtype=np.float32))[None].to(self.device)
            if self.cuda_graphs:
                key = tuple(x.shape)
                if key not in self._graphs:
                    self._graphs[key] = _GraphedShape(torch, self.module, key, tuple(vec.shape), self.dtype)
                out = self._graphs[key].run(x, vec, float(alpha))
            else:
                out = self.module(x, vec, float(alpha))
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

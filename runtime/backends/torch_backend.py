"""The PyTorch engine: torch and ``stylize.training`` are imported here, lazily, and nowhere
else in the runtime (docs/architecture.md, "Floors").

On CUDA it runs FP16, channels-last, compiled by Inductor (which fuses the reflection
pads, ReLUs and casts around cuDNN's convolutions: the fastest variant the GPU benchmarks
measure, ``benchmarks/README.md``): ahead of time, one package per frame size kept in the
store, so a second start does not compile again (``torch_compiled``); without Triton it
falls back to one captured CUDA graph per input shape. On the CPU it runs FP32 eagerly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..engine import Capabilities, Engine
from ..errors import UserError
from ..models import FAMILIES, ModelWeights
from ..store import Store

log = logging.getLogger(__name__)
COMPILE_MODES = ("aoti", "inductor")


def cuda_device_name() -> str | None:
    """The first CUDA GPU PyTorch sees, or None (``--backend auto`` asks; torch is imported
    here, in the torch backend, and nowhere else in the runtime)."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


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


class _PinnedUpload:
    """uint8 host frames -> the device through page-locked buffers kept per shape: an
    asynchronous copy without allocating page-locked memory (slow) for every frame. Before a
    buffer is written again, the copy that last read it is waited for."""

    MAX_SHAPES = 4  # live's size keys make a few shapes; more are dropped oldest first

    def __init__(self, torch: Any, device: Any) -> None:
        self._torch, self._device = torch, device
        self._buffers: dict[tuple[int, ...], tuple[Any, Any]] = {}  # shape -> (pinned tensor, event of its last copy)

    def __call__(self, frames: np.ndarray) -> Any:
        torch = self._torch
        key = tuple(frames.shape)
        entry = self._buffers.pop(key, None)
        if entry is None:
            if len(self._buffers) >= self.MAX_SHAPES:
                self._buffers.pop(next(iter(self._buffers)))
            entry = (torch.empty(key, dtype=torch.uint8).pin_memory(), None)
        pinned, copied = entry
        if copied is not None:
            copied.synchronize()
        np.copyto(pinned.numpy(), frames)
        x = pinned.to(self._device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._buffers[key] = (pinned, event)
        return x


class TorchEngine(Engine):
    backend = "torch"

    def __init__(
        self,
        store: Store | None,
        weights: ModelWeights,
        device: str = "auto",
        *,
        precision: str | None = None,
        channels_last: bool | None = None,
        cuda_graphs: bool | None = None,
        compile: bool | str | None = None,
        device_blend: bool | None = None,
        module: Any = None,
    ) -> None:
        """Defaults: on CUDA FP16, channels-last, compiled ahead of time into the store (CUDA
        graphs where Triton is missing), frames blended on the GPU; on the CPU FP32, eager,
        blended by OpenCV.

        ``precision`` ("fp32"/"fp16"), ``channels_last``, ``cuda_graphs``, ``compile``
        ("aoti": AOTInductor packages kept in the store; "inductor" or True: torch.compile
        with its caches in the store; False: eager) and ``device_blend`` (the stabiliser's blend in torch on this
        device: on the CPU only to compare it with OpenCV's) override them; the benchmarks
        compare these variants. ``module``: an already built stylizer (random weights for
        benchmarks and tests) instead of the store's weights.
        """
        import torch

        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.weights = weights
        if module is None:
            from stylize.training.models import load_stylizer

            module = load_stylizer(store, weights)
        self.cuda = self.device.type == "cuda"
        if compile is None:
            import importlib.util

            compile = "aoti" if self.cuda and importlib.util.find_spec("triton") is not None else False
        compile = "inductor" if compile is True else compile
        if compile not in (False, *COMPILE_MODES):
            raise ValueError(f"compile: expected False or one of {', '.join(COMPILE_MODES)}, got {compile!r}")
        if cuda_graphs is None:
            cuda_graphs = not compile
        precision = precision or ("fp16" if self.cuda else "fp32")
        self.dtype = {"fp16": torch.float16, "fp32": torch.float32}[precision]
        self.channels_last = self.cuda if channels_last is None else channels_last
        self.module = module.eval().to(self.device, self.dtype)
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        self.uncompiled = self.module  # for calls torch.compile does not see (regions)
        self._store, self._precision = store, precision
        self.aoti = None
        if compile == "aoti":
            from .torch_compiled import AotiShapes

            self.aoti = AotiShapes(torch, self.module, store, weights.model_id, precision=precision, channels_last=self.channels_last)
        elif compile == "inductor":
            self._compile_inductor()
        self.cuda_graphs = cuda_graphs and self.cuda and not compile
        self._upload = _PinnedUpload(torch, self.device) if self.cuda else None
        self._graphs: dict[tuple[int, ...], _GraphedShape] = {}
        parts = ["torch", self.device.type, precision]
        parts += ["cl"] if self.channels_last else []
        parts += ["graphs"] if self.cuda_graphs else []
        parts += ["compile"] if compile == "inductor" else ["aoti"] if compile == "aoti" else []
        self.backend = "-".join(parts)
        self.device_blend = self.cuda if device_blend is None else device_blend
        self.capabilities = Capabilities(
            uint8_frames=True, device_frames=self.device_blend, regions=True, max_batch=None, device=str(self.device),
            tiles=FAMILIES[weights.family].tile_multiple is not None,
        )  # fmt: skip

    def _compile_inductor(self) -> None:
        if self._store is not None:
            from .torch_compiled import use_inductor_cache

            use_inductor_cache(self._store)
        self.module = self._torch.compile(self.uncompiled, dynamic=False)

    def _nchw(self, frames: np.ndarray):  # noqa: ANN202 (torch.Tensor, lazily imported)
        x = self._torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).permute(0, 3, 1, 2)
        if self.cuda:
            x = x.pin_memory().to(self.device, non_blocking=True)
        x = x.to(self.dtype)
        return x.contiguous(memory_format=self._torch.channels_last) if self.channels_last else x

    def encode_style(self, style: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self.module.encode_style(self._nchw(style[None]))[0].float().cpu().numpy()

    def forward_device(self, x, vec, alpha: float):  # noqa: ANN001, ANN201
        """Device tensors in, device tensor out: what the benchmarks time with CUDA events."""
        if self.aoti is not None:
            try:
                return self.aoti(x, vec, alpha)
            except Exception as e:  # export or compile failed: torch.compile still works
                log.warning("compiling ahead of time failed (%s); using torch.compile, which compiles again in every process", str(e).splitlines()[0] if str(e) else type(e).__name__)
                self.aoti = None
                self._compile_inductor()
                self.backend = self.backend.replace("-aoti", "-compile")
        if self.cuda_graphs:
            key = tuple(x.shape)
            if key not in self._graphs:
                self._graphs[key] = _GraphedShape(self._torch, self.module, key, tuple(vec.shape), self.dtype)
            return self._graphs[key].run(x, vec, float(alpha))
        return self.module(x, vec, float(alpha))

    def stylize(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            vec = torch.from_numpy(np.asarray(style, dtype=np.float32))[None].to(self.device)
            out = self.forward_device(self._nchw(frames), vec, alpha)
            return out.permute(0, 2, 3, 1).float().cpu().numpy()

    def stylize_uint8(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """uint8 RGB NHWC in and out, converted on the device: a quarter of the bytes over
        PCIe and no float conversion on the host (the video and live fast path)."""
        torch = self._torch
        with torch.inference_mode():
            out = self._forward_uint8(frames, style, alpha)
            out = out.float().clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
            return out.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def stylize_uint8_device(self, frames: np.ndarray, style: np.ndarray, alpha: float = 1.0):  # noqa: ANN201
        """uint8 RGB NHWC host frames -> float32 N x 3 x H x W in [0, 1] on the device (a new
        tensor, never a CUDA graph's buffer): what a device blender
        (``temporal_blender``) stabilises before the frames come back as bytes."""
        torch = self._torch
        with torch.inference_mode():
            out = self._forward_uint8(frames, style, alpha)
            return out.to(torch.float32, memory_format=torch.contiguous_format, copy=True).clamp_(0.0, 1.0)

    def _forward_uint8(self, frames: np.ndarray, style: np.ndarray, alpha: float):  # noqa: ANN202
        torch = self._torch
        x = self._upload(frames) if self._upload is not None else torch.from_numpy(np.ascontiguousarray(frames))
        x = x.permute(0, 3, 1, 2).to(self.dtype).mul_(1.0 / 255.0)
        x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()
        vec = torch.from_numpy(np.asarray(style, dtype=np.float32))[None].to(self.device)
        return self.forward_device(x, vec, alpha)

    def temporal_blender(self) -> Callable[[Any], Any] | None:
        """``TorchBlender`` on this engine's device where ``device_blend`` (CUDA by default);
        on the CPU OpenCV's blend is the faster one (``benchmarks.temporal_eval`` measures
        both)."""
        if not self.device_blend:
            return None
        from .torch_blend import TorchBlender

        return partial(TorchBlender, device=self.device)

    def stylize_regions(
        self, frame: np.ndarray, styles: list[np.ndarray], masks: np.ndarray, alpha: float = 1.0, stats: list[np.ndarray] | None = None
    ) -> np.ndarray:
        """Spatial control: style k where ``masks[k]`` (K x H x W in [0, 1]) is set; each
        family's ``forward_regions`` says how it mixes. ``stats``: a tile's, one per style."""
        torch = self._torch
        with torch.inference_mode():
            x = self._nchw(frame[None])
            m = torch.from_numpy(np.asarray(masks, dtype=np.float32)).to(self.device)
            vecs = torch.from_numpy(np.stack(styles).astype(np.float32)).to(self.device)
            if stats is None:
                out = self.uncompiled.forward_regions(x, vecs, m, float(alpha))
            else:
                self._check_tiles()
                out = self.uncompiled.forward_regions(x, vecs, m, float(alpha), stats=self._tensor(np.stack(stats)))
            return out[0].permute(1, 2, 0).float().cpu().numpy()

    # tiles: the eager module (compiled code is specialised to the default path and shapes) --
    def _tensor(self, x: np.ndarray):  # noqa: ANN202
        return self._torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)

    def _check_tiles(self) -> None:
        if not self.capabilities.tiles:
            raise UserError(self.tiles_refusal())

    def norm_stats(self, content: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """The family's ``norm_stats`` of ``content`` (a whole picture, H x W x 3), flat float32."""
        self._check_tiles()
        with self._torch.inference_mode():
            stats = self.uncompiled.norm_stats(self._nchw(content[None]), self._tensor(style)[None], float(alpha))
            return stats[0].float().cpu().numpy()

    def stylize_tiles(self, tiles: np.ndarray, style: np.ndarray, alpha: float, stats: np.ndarray) -> np.ndarray:
        self._check_tiles()
        with self._torch.inference_mode():
            out = self.uncompiled(self._nchw(tiles), self._tensor(style)[None], float(alpha), stats=self._tensor(stats)[None])
            return out.permute(0, 2, 3, 1).float().cpu().numpy()

    def tiles_refusal(self) -> str:
        return f"the {self.weights.family} model cannot stylise a picture in tiles yet; use --tile off and a size within --max-pixels"

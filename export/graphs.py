"""The two graphs of every model family as torch modules, in FP32 or mixed FP16.

Every family's stylizer module has ``encode_style(style NCHW) -> vector`` and
``forward(content NCHW, style_vec, alpha) -> NCHW`` (``training/models.py``). The wrappers
here fix what the exported graphs take and give, whatever the family:

- ``StyleEncoderGraph``: ``style`` float32 [N,3,H,W] RGB in [0, 1] -> ``style_vector``
  float32 (AdaIN [N,2,512], Magenta [N,100]).
- ``StylizerGraph``: ``frames`` float32 [N,3,H,W] RGB in [0, 1], ``style_vector`` float32
  [1, ...] (one style for the whole batch), ``alpha`` float32 [1] -> ``stylized`` float32
  [N,3,H,W], cropped to the input size by the module itself. The uint8 NHWC frame I/O of
  the shipped graphs is added afterwards in ONNX (``onnx_passes.wrap_frames_uint8_nhwc``),
  so that the float core stays comparable with PyTorch.
- ``NormStatsGraph`` (tiled stills, ``runtime.tiles``): ``content`` float32 [1,3,H,W] (a
  whole picture, reduced), ``style_vector`` [1, ...], ``alpha`` [1] -> ``stats`` float32
  [1, S], the family's ``norm_stats`` (AdaIN S = 1024, Magenta 794; AdaIN's do not depend on
  the style: its graph takes ``style_vector`` and ``alpha`` and leaves them unused).
- ``TiledStylizerGraph``: ``frames`` float32 [N,3,H,W] (tiles), ``style_vector``, ``alpha``,
  ``stats`` [1, S] -> ``stylized`` float32 [N,3,H,W], normalised with ``stats``. Float frames
  both ways: the tiles are blended before anything is rounded.

FP16 policy (``fp16_policy``): the module is converted with ``.half()`` and run under a
torch function mode that
  1. computes every statistic (mean, var, std, sum, the norm layers) in float32, whatever
     the input dtype: the squared term of a variance overflows FP16 once |x - mean| > 256
     (docs/architecture.md, "Traps"). The arithmetic that consumes the statistics (AdaIN's and the
     conditional instance norm's scale and shift) then runs in float32 by ordinary type
     promotion (FP16 x FP32 -> FP32);
  2. casts the input of every convolution / linear layer to the dtype of its weights, so
     convolutions run in FP16 even where the input arrived in FP32.
Exported, this gives explicit ``Cast`` nodes around FP32 islands, which is what a strongly
typed TensorRT network needs. The same policy runs eagerly on PyTorch CPU half, which is how
the tests measure FP16 numerics with a runtime that really computes in FP16.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16}

# Reductions and normalisations whose float16 inputs are computed in float32.
_STATISTICS = {
    torch.mean, torch.Tensor.mean, torch.sum, torch.Tensor.sum,
    torch.var, torch.Tensor.var, torch.std, torch.Tensor.std, torch.var_mean, torch.std_mean,
    torch.norm, torch.Tensor.norm, torch.linalg.vector_norm,
    F.instance_norm, F.layer_norm, F.group_norm, F.batch_norm, F.normalize,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
}  # fmt: skip
# Layers with weights: the input follows the weight's dtype.
_WEIGHTED = {F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d, F.linear}
# Products of two activations: both operands in the lower precision.
_MATMUL = {torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm, torch.bmm}


def _up(x: object) -> object:
    return x.float() if isinstance(x, torch.Tensor) and x.dtype in (torch.float16, torch.bfloat16) else x


class Fp32Statistics(TorchFunctionMode):
    """Statistics in float32, convolutions in their weights' dtype (see the module docstring)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        if func in _STATISTICS:
            args = tuple(_up(a) for a in args)
            kwargs = {k: _up(v) for k, v in kwargs.items()}
        elif func in _WEIGHTED and len(args) >= 2:
            x, weight = args[0], args[1]
            if isinstance(x, torch.Tensor) and isinstance(weight, torch.Tensor) and x.dtype != weight.dtype:
                args = (x.to(weight.dtype), *args[1:])
        elif func in _MATMUL and len(args) >= 2:
            a, b = args[0], args[1]
            if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype != b.dtype:
                low = torch.float16 if torch.float16 in (a.dtype, b.dtype) else a.dtype
                args = (a.to(low), b.to(low), *args[2:])
        return func(*args, **kwargs)


@contextlib.contextmanager
def fp16_policy(dtype: torch.dtype) -> Iterator[None]:
    """The FP16 policy while ``dtype`` is float16; nothing otherwise."""
    if dtype == torch.float16:
        with Fp32Statistics():
            yield
    else:
        yield


class StyleEncoderGraph(nn.Module):
    """style float32 [N,3,H,W] RGB in [0,1] -> style_vector float32."""

    def __init__(self, stylizer: nn.Module, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.stylizer = stylizer
        self.dtype = dtype

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        with fp16_policy(self.dtype):
            return self.stylizer.encode_style(style.to(self.dtype)).float()


class StylizerGraph(nn.Module):
    """(frames float32 [N,3,H,W], style_vector float32 [1,...], alpha float32 [1]) -> float32 [N,3,H,W]."""

    def __init__(self, stylizer: nn.Module, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.stylizer = stylizer
        self.dtype = dtype

    def forward(self, frames: torch.Tensor, style_vector: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        # alpha as a 0-d tensor promotes like the Python float the torch engine passes:
        # it does not turn FP16 activations into FP32.
        with fp16_policy(self.dtype):
            return self.stylizer(frames.to(self.dtype), style_vector, alpha.reshape(())).float()


class NormStatsGraph(nn.Module):
    """(content float32 [1,3,H,W], style_vector float32 [1,...], alpha float32 [1]) -> stats float32 [1,S]."""

    def __init__(self, stylizer: nn.Module, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.stylizer = stylizer
        self.dtype = dtype

    def forward(self, content: torch.Tensor, style_vector: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        with fp16_policy(self.dtype):
            return self.stylizer.norm_stats(content.to(self.dtype), style_vector, alpha.reshape(())).float()


class TiledStylizerGraph(nn.Module):
    """(frames float32 [N,3,H,W], style_vector [1,...], alpha [1], stats float32 [1,S]) -> float32 [N,3,H,W]."""

    def __init__(self, stylizer: nn.Module, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.stylizer = stylizer
        self.dtype = dtype

    def forward(self, frames: torch.Tensor, style_vector: torch.Tensor, alpha: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        with fp16_policy(self.dtype):
            return self.stylizer(frames.to(self.dtype), style_vector, alpha.reshape(()), stats=stats).float()


def _graph_copy(stylizer: nn.Module, precision: str) -> tuple[nn.Module, torch.dtype]:
    """A copy of ``stylizer`` in ``precision`` ("fp32" or "fp16"), in eval mode, without gradients."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    module = copy.deepcopy(stylizer).cpu().eval().to(dtype)
    for p in module.parameters():
        p.requires_grad_(False)
    return module, dtype


def graph_modules(stylizer: nn.Module, precision: str) -> tuple[StyleEncoderGraph, StylizerGraph]:
    """Both graphs of ``stylizer`` in ``precision`` ("fp32" or "fp16"), on a copy of it, in eval mode."""
    module, dtype = _graph_copy(stylizer, precision)
    return StyleEncoderGraph(module, dtype).eval(), StylizerGraph(module, dtype).eval()


def tile_graph_modules(stylizer: nn.Module, precision: str) -> tuple[NormStatsGraph, TiledStylizerGraph]:
    """The two graphs of tiled stills, as ``graph_modules``."""
    module, dtype = _graph_copy(stylizer, precision)
    return NormStatsGraph(module, dtype).eval(), TiledStylizerGraph(module, dtype).eval()

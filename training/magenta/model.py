"""Magenta arbitrary image stylisation (Ghiasi et al. 2017) in PyTorch.

Reconstructed op by op from the published TFLite graphs of
"arbitrary-image-stylization-v1-256" (``../shared/weights/magenta/``): the int8 style
predictor (``style_predict_int8_256.tflite``) and the FP16 / int8 style transformer
(``style_transfer_{fp16,int8}_384.tflite``). Weights load with
``training.magenta.tflite_import.read_tflite`` (or ``load_pretrained`` below); the
state-dict layouts are ``training.magenta.layout.PREDICTOR_LAYOUT`` / ``TRANSFORMER_LAYOUT``.

Tensors are NCHW float32, RGB in [0, 1] (the TFLite graphs take the same values as NHWC).

StylePredictor (MobileNetV2, depth multiplier 1.0, to ``Conv_1``, then a bottleneck)
    stem: 3x3 conv stride 2 (32 ch) + ReLU6;
    17 inverted-residual blocks (expand 1x1 + ReLU6 [absent in block 0], depthwise 3x3 +
    ReLU6, project 1x1 linear; identity shortcut when stride 1 and in == out channels);
    head: 1x1 conv to 1280 + ReLU6; global spatial mean; 1x1 conv (== Linear) 1280 -> 100.
    Batch norm is folded into every conv bias. All convs use TF "SAME" zero padding: for a
    stride-2 3x3 conv that pads 0 before / 1 after on an even side (1 / 1 on an odd side),
    which PyTorch's symmetric ``padding=`` cannot express, so stride-2 layers pad
    explicitly. There is no input normalisation: the graph takes [0, 1] directly.
    The graph was built for 256x256 inputs; the runtime resizes every style image to
    256x256 before calling it (other sizes run, but that is not what it was trained on).

Transformer (width 0.25: 8/16/32 channels)
    contract: reflect-pad 4, 9x9 conv 3->8 + ReLU; reflect-pad 1, 3x3 conv stride 2
        8->16 + ReLU; reflect-pad 1, 3x3 conv stride 2 16->32 + ReLU. (Batch norm of the
        original graph is folded into these conv biases; no normalisation remains.)
    residual1..5: x + CIN(conv(pad(ReLU(CIN(conv(pad(x))))))), 3x3 convs 32->32, each
        followed by conditional instance norm, ReLU only after the first.
    expand: nearest 2x upsampling, reflect-pad 1, 3x3 conv 32->16, CIN, ReLU;
        nearest 2x, reflect-pad 1, 3x3 conv 16->8, CIN, ReLU;
        reflect-pad 4, 9x9 conv 8->3, CIN, sigmoid. (The graph also holds a 1x nearest
        resize before the last conv: an identity, left out.)
    Padding is ``MirrorPad`` mode REFLECT (edge not repeated == ``F.pad(mode="reflect")``);
    every conv then runs VALID. Strided convs therefore give ceil(n / 2) outputs.
    Upsampling is ``ResizeNearestNeighbor`` with align_corners = half_pixel_centers = False
    to exactly twice the size: out[i] = in[i // 2] == ``F.interpolate(scale_factor=2,
    mode="nearest")``.
    Conditional instance norm: per-sample, per-channel mean and biased variance over H, W;
    y = (x - mean) * rsqrt(var + 1e-5) * gamma + beta, where gamma and beta are affine maps
    (1x1 convs in the graph, ``nn.Linear`` here) of the 100-d style vector. Which 1x1 conv
    is gamma was read from the graph (``StyleNorm/Conv_1`` feeds the MUL, ``StyleNorm/Conv``
    the SUB). The FP16 file stores epsilon as 1.0014e-5 (the FP16 value nearest 1e-5); we use
    1e-5, as Magenta's source does.

Any input size: the strided convs round up (ceil(n/2), twice), the upsampling doubles, so the
net natively outputs 4 * ceil(ceil(n/2)/2) >= n rows; we crop the bottom/right excess. That is
exactly what the original TF graph computes at that size (cropped), and at sides divisible by
4 (384x384, 720x1280, 480x640) nothing is cropped and the result is the TFLite graph's. Sides
must be at least 5 pixels (reflect padding of 4 needs 5 rows).

Tiles (``runtime.tiles``): every conditional instance norm normalises with its input's own
mean and variance, so a tile of a picture would be normalised differently from the whole and
the tiles would disagree at their borders. ``SharedNorm`` records those statistics layer by
layer on the whole picture (a reduced copy of it) and gives them back to each tile.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from stylize.training.magenta.layout import (
    HEAD_CHANNELS,
    STEM_CHANNELS,
    STYLE_DIM,
    TRANSFORMER_CONTRACT,
    TRANSFORMER_EXPAND,
    TRANSFORMER_RESIDUAL_BLOCKS,
    TRANSFORMER_RESIDUAL_CHANNELS,
    mobilenet_v2_blocks,
)

PREDICTOR_INPUT_SIZE = 256  # the runtime resizes style images to 256x256
TRANSFORMER_NORM_STATS = 2 * (2 * TRANSFORMER_RESIDUAL_BLOCKS * TRANSFORMER_RESIDUAL_CHANNELS + sum(cout for _, _, cout, _, _ in TRANSFORMER_EXPAND))
"""Values ``SharedNorm`` records: a mean and a variance per channel of every conditional instance norm."""
TRANSFORMER_REFERENCE_SIZE = 384  # size the TFLite transformer was exported at
IN_EPS = 1e-5


# ============================================================================ predictor


def _pad_same_stride2(x: torch.Tensor) -> torch.Tensor:
    """TF "SAME" zero padding for a 3x3 stride-2 conv: (n % 2) before, 1 after."""
    h, w = x.shape[-2], x.shape[-1]
    return F.pad(x, (w % 2, 1, h % 2, 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand + ReLU6] -> 3x3 depthwise + ReLU6 -> 1x1 project."""

    def __init__(self, cin: int, hidden: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.expand = nn.Conv2d(cin, hidden, 1) if hidden != cin else None
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1 if stride == 1 else 0, groups=hidden)
        self.project = nn.Conv2d(hidden, cout, 1)
        self.use_shortcut = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.expand is not None:
            h = F.relu6(self.expand(h))
        if self.stride != 1:
            h = _pad_same_stride2(h)
        h = F.relu6(self.depthwise(h))
        h = self.project(h)
        return x + h if self.use_shortcut else h


class StylePredictor(nn.Module):
    """Style image [N,3,H,W] RGB in [0,1] -> style vector [N,100].

    Call it on 256x256 images (``PREDICTOR_INPUT_SIZE``): the runtime resizes every style
    image to that size first, as the TFLite graph has a fixed 1x256x256x3 input.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, STEM_CHANNELS, 3, stride=2)
        self.blocks = nn.ModuleList(InvertedResidual(*b) for b in mobilenet_v2_blocks())
        last = mobilenet_v2_blocks()[-1][2]
        self.head = nn.Conv2d(last, HEAD_CHANNELS, 1)
        self.bottleneck = nn.Linear(HEAD_CHANNELS, STYLE_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.stem(_pad_same_stride2(x)))
        for block in self.blocks:
            h = block(h)
        h = F.relu6(self.head(h))
        return self.bottleneck(h.mean(dim=(2, 3)))


# ============================================================================ transformer


class SharedNorm:
    """The conditional instance norms' statistics, shared by the tiles of one picture.

    ``SharedNorm()`` records: each norm computes its own mean and variance, as without it,
    and appends them; ``stats()`` is then [N, S], per layer in forward order the C means and
    then the C variances (``TRANSFORMER_NORM_STATS`` values in all). ``SharedNorm(stats)``
    replays them: each norm takes its slice instead of computing. Replayed statistics keep
    their dtype (float32: in an FP16 graph the normalisation's square root stays FP32, as
    ``export.checks`` wants), and the norm's output is cast back to its input's dtype.
    """

    def __init__(self, fixed: torch.Tensor | None = None) -> None:
        self.fixed = fixed
        self.recorded: list[torch.Tensor] = []
        self._at = 0

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(var, mean) of ``x`` [N, C, H, W] per channel, [N, C, 1, 1] each."""
        if self.fixed is None:
            var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
            self.recorded += [mean.flatten(1), var.flatten(1)]
            return var, mean
        c, a = x.shape[1], self._at
        self._at += 2 * c
        return self.fixed[:, a + c : a + 2 * c, None, None], self.fixed[:, a : a + c, None, None]

    def output(self, out: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """A norm's output: as computed while recording, in ``dtype`` while replaying."""
        return out if self.fixed is None else out.to(dtype)

    def stats(self) -> torch.Tensor:
        return torch.cat([t.float() for t in self.recorded], dim=1)


class ConvReLU(nn.Module):
    """Reflect pad k // 2, conv (VALID, given stride), ReLU: the contracting layers."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.pad = kernel // 2
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pad
        return F.relu(self.conv(F.pad(x, (p, p, p, p), mode="reflect")))


class CondConv(nn.Module):
    """[nearest upsample] -> reflect pad -> conv -> conditional instance norm.

    ``gamma`` and ``beta`` are ``nn.Linear(100, C)`` of the style vector (``StyleNorm/Conv_1``
    and ``StyleNorm/Conv`` in the TF graph). The activation is applied by the caller.
    """

    def __init__(self, cin: int, cout: int, kernel: int, upsample: int = 1, eps: float = IN_EPS) -> None:
        super().__init__()
        self.pad = kernel // 2
        self.upsample = upsample
        self.eps = eps
        self.conv = nn.Conv2d(cin, cout, kernel)
        self.beta = nn.Linear(STYLE_DIM, cout)
        self.gamma = nn.Linear(STYLE_DIM, cout)

    def forward(self, x: torch.Tensor, style: torch.Tensor, norm: SharedNorm | None = None) -> torch.Tensor:
        if self.upsample != 1:
            x = F.interpolate(x, scale_factor=float(self.upsample), mode="nearest")
        p = self.pad
        x = self.conv(F.pad(x, (p, p, p, p), mode="reflect"))
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0) if norm is None else norm(x)
        gamma = self.gamma(style)[:, :, None, None]
        beta = self.beta(style)[:, :, None, None]
        scale = gamma * torch.rsqrt(var + self.eps)
        out = x * scale + (beta - mean * scale)
        return out if norm is None else norm.output(out, x.dtype)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = CondConv(channels, channels, 3)
        self.conv2 = CondConv(channels, channels, 3)

    def forward(self, x: torch.Tensor, style: torch.Tensor, norm: SharedNorm | None = None) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x, style, norm)), style, norm)


class Contract(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for name, cin, cout, k, s in TRANSFORMER_CONTRACT:
            self.add_module(name, ConvReLU(cin, cout, k, s))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name, *_ in TRANSFORMER_CONTRACT:
            x = getattr(self, name)(x)
        return x


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for r in range(1, TRANSFORMER_RESIDUAL_BLOCKS + 1):
            self.add_module(f"residual{r}", ResidualBlock(TRANSFORMER_RESIDUAL_CHANNELS))

    def forward(self, x: torch.Tensor, style: torch.Tensor, norm: SharedNorm | None = None) -> torch.Tensor:
        for r in range(1, TRANSFORMER_RESIDUAL_BLOCKS + 1):
            x = getattr(self, f"residual{r}")(x, style, norm)
        return x


class Expand(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for name, cin, cout, k, up in TRANSFORMER_EXPAND:
            self.add_module(name, CondConv(cin, cout, k, upsample=up))

    def forward(self, x: torch.Tensor, style: torch.Tensor, norm: SharedNorm | None = None) -> torch.Tensor:
        last = len(TRANSFORMER_EXPAND) - 1
        for i, (name, *_) in enumerate(TRANSFORMER_EXPAND):
            x = getattr(self, name)(x, style, norm)
            if i != last:
                x = F.relu(x)
        return x  # pre-sigmoid


class Transformer(nn.Module):
    """(content [N,3,H,W] RGB in [0,1], style [N,100] or [1,100]) -> [N,3,H,W] in [0,1].

    Fully convolutional: any H, W >= 5; the output has exactly the input's H x W (see the
    module docstring for the crop at sides not divisible by 4). ``norm``: a ``SharedNorm``
    recording or replaying the norms' statistics (tiles); None: each norm its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self.contract = Contract()
        self.residual = Residual()
        self.expand = Expand()

    def forward(self, content: torch.Tensor, style: torch.Tensor, norm: SharedNorm | None = None) -> torch.Tensor:
        h, w = content.shape[-2], content.shape[-1]
        style = style.reshape(style.shape[0], STYLE_DIM).to(content.dtype)
        x = self.contract(content)
        x = self.residual(x, style, norm)
        x = self.expand(x, style, norm)
        return torch.sigmoid(x[:, :, :h, :w])


# ============================================================================ loading


def load_pretrained(path: str | os.PathLike[str]) -> StylePredictor | Transformer:
    """Build the module a Magenta ``.tflite`` file holds, with its weights, in eval mode."""
    from stylize.training.magenta.tflite_import import PREDICTOR, read_tflite

    kind, state = read_tflite(path)
    module: StylePredictor | Transformer = StylePredictor() if kind == PREDICTOR else Transformer()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return module.eval()

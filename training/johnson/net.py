"""The image transformation network of Johnson et al. (2016), as pytorch/examples builds it.

``TransformerNet(width, blocks)``: reflection-padded convs (9x9 stride 1, 3x3 stride 2,
3x3 stride 2), each followed by an affine instance norm and a ReLU; ``blocks`` residual
blocks (conv, norm, ReLU, conv, norm, plus the input); two upsampling stages (nearest 2x,
then a 3x3 conv, norm, ReLU: resize + conv rather than a transposed conv, which leaves
checkerboard artefacts); a last 9x9 conv to RGB. Module names follow ``fast_neural_style``
(``training/johnson/layout.py``), so its published checkpoints load with ``strict=True``.

Pixels are in 0..255 in and out, as pytorch/examples trains and runs it; the output is not
clamped. ``JohnsonStylizer`` (``stylizer.py``) puts it behind the common [0, 1] interface.

Any size of at least 5 pixels: each strided conv gives ceil(n / 2) rows, each upsampling
doubles them, so the output has 4 * ceil(ceil(n / 2) / 2) >= n rows; ``forward`` crops the
excess at the bottom and right (nothing at sides divisible by 4).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from stylize.training.johnson.layout import DEFAULT_BLOCKS, DEFAULT_WIDTH, architecture, channels


class ConvLayer(nn.Module):
    """Reflection pad of kernel // 2, then a conv."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour 2x upsampling, reflection pad, conv (fast_neural_style's layer)."""

    def __init__(self, cin: int, cout: int, kernel: int, upsample: int = 2) -> None:
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(cin, cout, kernel, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=float(self.upsample), mode="nearest")
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class TransformerNet(nn.Module):
    """[N,3,H,W] in 0..255 -> [N,3,H,W] in 0..255 nominal (not clamped); see the module docstring."""

    def __init__(self, width: int = DEFAULT_WIDTH, blocks: int = DEFAULT_BLOCKS) -> None:
        super().__init__()
        if width < 1 or blocks < 0:
            raise ValueError(f"width must be at least 1 and blocks not negative, got {width}, {blocks}")
        self.width, self.blocks = width, blocks
        c1, c2, c3 = channels(width)
        self.conv1 = ConvLayer(3, c1, 9, 1)
        self.in1 = nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ConvLayer(c1, c2, 3, 2)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = ConvLayer(c2, c3, 3, 2)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        for r in range(1, blocks + 1):
            self.add_module(f"res{r}", ResidualBlock(c3))
        self.deconv1 = UpsampleConvLayer(c3, c2, 3)
        self.in4 = nn.InstanceNorm2d(c2, affine=True)
        self.deconv2 = UpsampleConvLayer(c2, c1, 3)
        self.in5 = nn.InstanceNorm2d(c1, affine=True)
        self.deconv3 = ConvLayer(c1, 3, 9, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for r in range(1, self.blocks + 1):
            y = getattr(self, f"res{r}")(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)[..., :h, :w]


def net_from_state(state: Mapping[str, torch.Tensor]) -> TransformerNet:
    """The network a state dict describes (its width and depth read from the keys), loaded strictly."""
    found = architecture({k: tuple(v.shape) for k, v in state.items()})
    if found is None:
        raise ValueError("not a Johnson transformer network state dict (no conv1.conv2d.weight)")
    net = TransformerNet(*found)
    net.load_state_dict(dict(state), strict=True)
    return net


def macs_per_pixel(width: int = DEFAULT_WIDTH, blocks: int = DEFAULT_BLOCKS) -> int:
    """Multiply-adds per output pixel (convolutions only): what the width trades for speed."""
    c1, c2, c3 = channels(width)
    full = 81 * 3 * c1 + 9 * c2 * c1 + 81 * c1 * 3  # conv1, deconv2 (after its upsampling), deconv3
    half = 9 * c1 * c2 + 9 * c3 * c2  # conv2 (stride 2 output), deconv1 output
    quarter = 9 * c2 * c3 + blocks * 2 * 9 * c3 * c3
    return full + half // 4 + quarter // 16

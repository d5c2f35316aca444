"""A per-style Johnson network behind the interface every family shares (docs/architecture.md,
"Engines"): ``encode_style`` and ``forward(frames, style vector, alpha)``.

The style lives in the weights, so the style encoder holds nothing: it gives the same
one-number vector (0) for any image, and the stylizer ignores it (it stays an input of the
graph, so every engine feeds every family the same way). ``alpha`` mixes the stylised picture
with the content in pixels: 1 is the network's own output, 0 the content unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from stylize.training.johnson.net import TransformerNet

STYLE_DIM = 1  # runtime.models.FAMILIES["johnson"].style_vector_shape
PIXEL_SCALE = 255.0  # the network's pixels are 0..255 (pytorch/examples' convention)


class JohnsonStylizer(nn.Module):
    def __init__(self, net: TransformerNet) -> None:
        super().__init__()
        self.net = net

    def encode_style(self, style: torch.Tensor) -> torch.Tensor:
        """[N, 1] zeros: the style is the weights' (the image only sets the batch and dtype)."""
        return style.new_zeros(style.shape[0], STYLE_DIM, dtype=torch.float32)

    def forward(self, content: torch.Tensor, style_vec: torch.Tensor, alpha: torch.Tensor | float = 1.0) -> torch.Tensor:
        out = self.net(content * PIXEL_SCALE) * (1.0 / PIXEL_SCALE)
        if isinstance(alpha, torch.Tensor) or alpha != 1.0:
            out = alpha * out + (1 - alpha) * content
        return out

    def forward_regions(self, content: torch.Tensor, style_vecs: torch.Tensor, masks: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """The one style where any mask (K x H x W in [0, 1]) is set, the content elsewhere."""
        cover = masks.sum(0).clamp(max=1.0)
        return content * (1 - cover) + cover * self(content, style_vecs[:1], alpha)

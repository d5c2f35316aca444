"""Loss modules of Gatys et al. 2016 ("Image style transfer using convolutional neural networks").

With F_l the features of the image being optimised at layer l (N_l channels, M_l positions),
P_l those of the content image and A_l the style's Gram matrix:

- style, per layer, exactly the paper's normalisation:
  ``E_l = 1 / (4 N_l^2 M_l^2) * sum (G_l - A_l)^2`` with ``G_l = F_l F_l^T``. Computed as
  ``1/4 * sum (G_l / (N_l M_l) - A_l / (N_l M_s))^2``: each Gram is divided by its own
  image's size, so a style image of another size than the result compares fairly (with
  equal sizes this is the paper's formula to the last digit).
  ``L_style = sum_l w_l E_l``; several styles blend by a weighted mean of their Grams.
- content: the paper's ``1/2 sum (F_l - P_l)^2`` divided by ``N_l M_l`` (one half of the mean
  squared error), so that the content/style balance does not drift with the image size
  across the stages of the coarse-to-fine schedule. The paper's ratio alpha/beta = 1e-3 at
  a 512x512 result (N M = 512 * 64 * 64 at relu4_2) is content weight 1, style weight 4.8e-4.
- total variation: mean squared difference of horizontally and vertically adjacent pixels
  (beta = 2 of Mahendran & Vedaldi), on RGB in [0, 1]; also size-independent.

Each module takes the feature dict of ``FeatureExtractor``; ``StyleTransferLoss`` puts them
together with the content, style and TV weights and returns the weighted parts beside the
total.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

Features = dict[str, torch.Tensor]


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, C]: F F^T / (C H W), the Gram matrix of the paper over N_l M_l."""
    b, c, h, w = feat.shape
    f = feat.reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def style_layer_loss(feat: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """The paper's E_l: 1/(4 N^2 M^2) * sum (G - A)^2, with normalised Grams (see module doc)."""
    return 0.25 * (gram_matrix(feat) - target_gram).pow(2).sum()


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of vertically and of horizontally adjacent pixels, summed."""
    dy = x[..., 1:, :] - x[..., :-1, :]
    dx = x[..., :, 1:] - x[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


class ContentLoss(nn.Module):
    """sum_l w_l * 1/2 * mean (F_l - P_l)^2 over the content layers."""

    def __init__(self, layer_weights: dict[str, float]) -> None:
        super().__init__()
        self.layer_weights = dict(layer_weights)
        self.targets: Features = {}

    def set_target(self, feats: Features) -> None:
        self.targets = {name: feats[name].detach() for name in self.layer_weights}

    def forward(self, feats: Features) -> torch.Tensor:
        return sum(w * 0.5 * F.mse_loss(feats[name], self.targets[name]) for name, w in self.layer_weights.items())


class GramStyleLoss(nn.Module):
    """sum_l w_l E_l against target Grams (a weighted mean over one or several styles)."""

    def __init__(self, layer_weights: dict[str, float]) -> None:
        super().__init__()
        self.layer_weights = dict(layer_weights)
        self.targets: Features = {}

    @torch.no_grad()
    def set_targets(self, feats_per_style: list[Features], blend: list[float] | None = None) -> None:
        blend = blend or [1.0] * len(feats_per_style)
        total = float(sum(blend))
        self.targets = {
            name: sum((b / total) * gram_matrix(f[name]) for b, f in zip(blend, feats_per_style) if b > 0)
            for name in self.layer_weights
        }

    def per_layer(self, feats: Features) -> dict[str, torch.Tensor]:
        return {name: style_layer_loss(feats[name], self.targets[name]) for name in self.layer_weights}

    def forward(self, feats: Features) -> torch.Tensor:
        return sum(self.layer_weights[name] * e for name, e in self.per_layer(feats).items())


class TVLoss(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return total_variation(x)


@dataclass
class LossWeights:
    content: float = 1.0
    style: float = 1e-3
    tv: float = 1.0


class StyleTransferLoss(nn.Module):
    """content_weight * content + style_weight * style + tv_weight * TV, for an image x.

    ``forward(x)`` returns ``(total, {"content", "style", "tv"})``, the parts already weighted.
    """

    def __init__(self, extractor: nn.Module, content: ContentLoss, style: GramStyleLoss, weights: LossWeights) -> None:
        super().__init__()
        self.extractor = extractor
        self.content = content
        self.style = style
        self.tv = TVLoss()
        self.weights = weights

    @torch.no_grad()
    def set_targets(self, content_image: torch.Tensor, style_images: list[torch.Tensor], blend: list[float] | None = None) -> None:
        self.content.set_target(self.extractor(content_image))
        self.style.set_targets([self.extractor(s) for s in style_images], blend)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        feats = self.extractor(x)
        parts = {
            "content": self.weights.content * self.content(feats) if self.weights.content else x.new_zeros(()),
            "style": self.weights.style * self.style(feats) if self.weights.style else x.new_zeros(()),
            "tv": self.weights.tv * self.tv(x) if self.weights.tv else x.new_zeros(()),
        }
        return parts["content"] + parts["style"] + parts["tv"], parts

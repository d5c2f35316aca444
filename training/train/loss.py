"""The AdaIN paper's training loss, as pytorch-AdaIN's ``Net.forward`` computes it.

A frozen VGG-19 to relu4_1 encodes content and style; the decoder maps the AdaIN target
``t = AdaIN(f(c), f(s))`` back to an image ``g(t)``.

- content loss: MSE between ``f(g(t))`` (relu4_1) and ``t``;
- style loss: sum over relu1_1, relu2_1, relu3_1, relu4_1 of the MSE between the channel means
  plus the MSE between the channel standard deviations of ``g(t)``'s and the style's features.

Statistics and losses are computed in float32 whatever the autocast dtype (docs/architecture.md, "Traps").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stylize.training.adain.net import LAYERS, adain, calc_mean_std, style_vector

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


class VGGEncoder(nn.Module):
    """VGG-19 up to relu4_1 in four stages (enc_1 .. enc_4 of the reference), frozen."""

    def __init__(self, vgg: nn.Sequential) -> None:
        super().__init__()
        layers = list(vgg.children())
        cuts = [0] + [LAYERS[name] + 1 for name in STYLE_LAYERS]
        self.stages = nn.ModuleList(nn.Sequential(*layers[a:b]) for a, b in zip(cuts, cuts[1:]))
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGEncoder:  # the encoder never leaves eval mode
        return super().train(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return x


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(a.float(), b.float())


def adain_losses(
    encoder: VGGEncoder, decoder: nn.Module, content: torch.Tensor, style: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(content loss, style loss), unweighted, for a batch of content and style images."""
    with torch.no_grad():
        style_feats = encoder.features(style)
        t = adain(encoder(content), style_vector(style_feats[-1]))
    g_feats = encoder.features(decoder(t))
    loss_c = _mse(g_feats[-1], t)
    loss_s = torch.zeros((), device=content.device)
    for g, s in zip(g_feats, style_feats):
        g_mean, g_std = calc_mean_std(g)
        s_mean, s_std = calc_mean_std(s)
        loss_s = loss_s + _mse(g_mean, s_mean) + _mse(g_std, s_std)
    return loss_c, loss_s


@torch.no_grad()
def stylize_batch(encoder: VGGEncoder, decoder: nn.Module, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Decoded AdaIN outputs at alpha 1 (for the sample grid)."""
    return decoder(adain(encoder(content), style_vector(encoder(style))))

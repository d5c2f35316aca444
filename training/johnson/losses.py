"""The losses a per-style network is trained with (``stylize train-style``).

``perceptual`` (Johnson et al. 2016), where a trained VGG-19 is in the store: a content loss
on the VGG features of the output against the content's (relu2_1), a style loss on the Gram
matrices of relu1_1, relu2_1, relu3_1 and relu4_1 against the style image's, and a total
variation term. The store's VGG is AdaIN's (``adain-vgg``, ``training/train/loss.py``'s
``VGGEncoder``): VGG-19 with Caffe's input scaling, where the paper used VGG-16.

``teacher``, where no trained VGG is at hand: an installed arbitrary-style model with the
style fixed (``teacher.py``) paints each crop, and the network learns to paint it the same
way: the mean squared error of the pixels (what PSNR measures) plus a loss on the teacher's
own features of the two pictures
(each layer's mean squared difference relative to the mean square of the teacher's picture's
features, so layers of any scale weigh alike).

Every loss is computed in float32 whatever the autocast dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stylize.training.johnson.teacher import Teacher
from stylize.training.train.loss import VGGEncoder

CONTENT_STAGE = 1  # VGGEncoder's stages end at relu1_1, relu2_1, relu3_1, relu4_1; relu2_1 is closest to the paper's relu2_2
FEATURE_EPS = 1e-6


def gram(features: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, C]: channel correlations over space, divided by C x H x W."""
    n, c, h, w = features.shape
    f = features.float().reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels, across and down."""
    x = x.float()
    return (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean() + (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()


class PerceptualLoss(nn.Module):
    """(content, style, total variation) losses, unweighted, of a batch of outputs."""

    def __init__(self, encoder: VGGEncoder, styles: list[torch.Tensor]) -> None:
        """``styles``: [1, 3, H, W] each; several: their Gram matrices averaged (an equal mix)."""
        super().__init__()
        self.encoder = encoder
        with torch.no_grad():
            per_style = [[gram(f) for f in encoder.features(s)] for s in styles]
            grams = [torch.stack(layer).mean(0) for layer in zip(*per_style)]
        for i, g in enumerate(grams):
            self.register_buffer(f"style_gram{i}", g)
        self.stages = len(grams)

    def forward(self, output: torch.Tensor, content: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            target = self.encoder.features(content)[CONTENT_STAGE].float()
        feats = self.encoder.features(output)
        loss_content = F.mse_loss(feats[CONTENT_STAGE].float(), target)
        loss_style = torch.zeros((), device=output.device)
        for i, f in enumerate(feats):
            g = gram(f)
            loss_style = loss_style + F.mse_loss(g, getattr(self, f"style_gram{i}").expand_as(g))
        return loss_content, loss_style, total_variation(output)


class TeacherLoss(nn.Module):
    """(pixel, feature, total variation) losses, unweighted, against a teacher's pictures."""

    def __init__(self, teacher: Teacher) -> None:
        super().__init__()
        self.teacher = teacher

    @torch.no_grad()
    def targets(self, content: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The teacher's picture of each crop and its features: once per crop, without gradients."""
        picture = self.teacher.picture(content)
        return picture, [f.float() for f in self.teacher.features(picture)]

    def forward(self, output: torch.Tensor, picture: torch.Tensor, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loss_pixel = F.mse_loss(output.float(), picture.float())
        loss_feature = torch.zeros((), device=output.device)
        for f, t in zip(self.teacher.features(output), features):
            loss_feature = loss_feature + F.mse_loss(f.float(), t) / (t.pow(2).mean() + FEATURE_EPS)
        return loss_pixel, loss_feature / max(1, len(features)), total_variation(output)

"""An installed arbitrary-style model with one style fixed: the teacher a per-style network is
distilled from where no trained VGG is at hand (``stylize train-style --loss teacher``).

``picture(content)`` is what the model paints at alpha 1, clipped to [0, 1] as every engine
clips it; ``features(x)`` are the model's own activations of a picture, its perceptual
yardstick: Magenta's style predictor (a MobileNetV2) after its stem and its blocks 2 and 5
(1/2, 1/4 and 1/8 of the size), AdaIN's VGG-19 encoder at relu1_1, relu2_1 and relu3_1.
The model's weights never change.
"""

from __future__ import annotations

import torch
from torch import nn

from stylize.runtime.errors import UserError

TEACHERS = ("magenta", "adain")
MAGENTA_BLOCKS = (2, 5)  # predictor blocks whose outputs are features (after the stem's)
ADAIN_LAYERS = ("relu1_1", "relu2_1", "relu3_1")


class Teacher(nn.Module):
    def __init__(self, family: str, stylizer: nn.Module, styles: list[torch.Tensor]) -> None:
        """``stylizer``: the family's module (``training.models.build_stylizer``); ``styles``:
        [1, 3, H, W] each in [0, 1], prepared as the family's runtime prepares them; several
        are mixed equally, as ``--style a --style b`` mixes them at run time."""
        super().__init__()
        if family not in TEACHERS:
            raise UserError(f"--teacher {family}: choose one of {', '.join(TEACHERS)}")
        self.family = family
        self.stylizer = stylizer.eval()
        for p in self.stylizer.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            vectors = [stylizer.encode_style(s).float() for s in styles]
            self.register_buffer("vector", torch.stack(vectors).mean(0))

    def train(self, mode: bool = True) -> Teacher:  # the teacher never leaves eval mode
        return super().train(False)

    @torch.no_grad()
    def picture(self, content: torch.Tensor) -> torch.Tensor:
        return self.stylizer(content, self.vector.to(content.dtype), 1.0).clamp(0.0, 1.0)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.family == "magenta":
            from stylize.training.magenta.model import _pad_same_stride2

            predictor = self.stylizer.predictor
            h = torch.nn.functional.relu6(predictor.stem(_pad_same_stride2(x)))
            out = [h]
            for i, block in enumerate(predictor.blocks[: max(MAGENTA_BLOCKS) + 1]):
                h = block(h)
                if i in MAGENTA_BLOCKS:
                    out.append(h)
            return out
        from stylize.training.adain.net import vgg_features

        feats = vgg_features(self.stylizer.encoder, x, list(ADAIN_LAYERS))
        return [feats[name] for name in ADAIN_LAYERS]

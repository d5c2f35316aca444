"""Magenta's two networks behind the common stylizer interface.

``alpha`` mixes the style vector with the content image's own vector, as Magenta does
(``alpha * style + (1 - alpha) * predictor(content)``): alpha 0 paints the content in its
own style, which keeps it recognisable, rather than returning the photo unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PREDICTOR_SIZE = 256


class MagentaStylizer(nn.Module):
    def __init__(self, predictor: nn.Module, transformer: nn.Module) -> None:
        super().__init__()
        self.predictor = predictor
        self.transformer = transformer

    def encode_style(self, style: torch.Tensor) -> torch.Tensor:
        """Style image (the runtime has resized it to 256x256) -> [N, 100]."""
        if style.shape[-2:] != (PREDICTOR_SIZE, PREDICTOR_SIZE):
            style = F.interpolate(style, size=(PREDICTOR_SIZE, PREDICTOR_SIZE), mode="bilinear", align_corners=False)
        return self.predictor(style)

    def forward(
        self, content: torch.Tensor, style_vec: torch.Tensor, alpha: torch.Tensor | float = 1.0, temporal: Any = None
    ) -> torch.Tensor:
        """``temporal``: a ``runtime.temporal.stats.FeatureStats`` (video): the frame's own
        style vector (alpha < 1) and the instance-norm statistics become moving averages
        across frames. None (the default, and what exported graphs see): this frame only."""
        if isinstance(alpha, (int, float)) and alpha == 1.0:
            vec = style_vec
        else:
            own = self.encode_style(content)
            if temporal is not None and temporal.own_style:
                from stylize.training.temporal_stats import smooth

                own = smooth(temporal, "own_style", own)
            vec = alpha * style_vec + (1 - alpha) * own
        if temporal is None:
            return self.transformer(content, vec)
        return self.transformer(content, vec, temporal)

"""Magenta's two networks behind the common stylizer interface.

``alpha`` mixes the style vector with the content image's own vector, as Magenta does
(``alpha * style + (1 - alpha) * predictor(content)``): alpha 0 paints the content in its
own style, which keeps it recognisable, rather than returning the photo unchanged.

Tiles (``runtime.tiles``): ``norm_stats`` runs the whole picture (a reduced copy of it) once
and gives its own style vector and every instance norm's statistics (``model.SharedNorm``);
``forward(..., stats=)`` stylises a tile with them, so the tiles agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stylize.training.magenta.layout import STYLE_DIM
from stylize.training.magenta.model import SharedNorm

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

    def norm_stats(self, content: torch.Tensor, style_vec: torch.Tensor, alpha: torch.Tensor | float = 1.0) -> torch.Tensor:
        """[N, 100 + 694]: the content's own style vector, then the instance norms' means and
        variances (``SharedNorm``) of the picture stylised with ``style_vec`` at ``alpha``.
        The predictor runs whatever alpha (on 256x256, it is cheap), so the mix below is one
        expression, exactly ``style_vec`` at alpha 1."""
        own = self.encode_style(content)
        norm = SharedNorm()
        self.transformer(content, alpha * style_vec + (1 - alpha) * own, norm)
        return torch.cat([own.float(), norm.stats()], dim=1)

    def forward(
        self, content: torch.Tensor, style_vec: torch.Tensor, alpha: torch.Tensor | float = 1.0, stats: torch.Tensor | None = None
    ) -> torch.Tensor:
        """At alpha 1 the frame pays for the transformer only: the predictor runs on the
        content just where its vector is mixed in. With a tensor ``alpha`` (the exported
        graph) the choice is a ``torch.cond``, an ONNX ``If`` whose predictor branch runs
        only when alpha differs from 1. ``stats`` (``norm_stats`` of the whole picture): a
        tile, mixed with the picture's own vector and normalised with its statistics."""
        if stats is not None:
            vec = alpha * style_vec + (1 - alpha) * stats[:, :STYLE_DIM]
            return self.transformer(content, vec, SharedNorm(stats[:, STYLE_DIM:]))
        if not isinstance(alpha, torch.Tensor):
            vec = style_vec if alpha == 1.0 else alpha * style_vec + (1 - alpha) * self.encode_style(content)
            return self.transformer(content, vec)
        a = alpha.reshape(())
        vec = torch.cond(a == 1.0, self._style_only, self._mixed, (content, style_vec, a))
        return self.transformer(content, vec)

    @staticmethod
    def _style_only(content: torch.Tensor, style_vec: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return style_vec.expand(content.shape[0], -1).clone()

    def _mixed(self, content: torch.Tensor, style_vec: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return alpha * style_vec + (1 - alpha) * self.encode_style(content)

    def forward_regions(
        self, content: torch.Tensor, style_vecs: torch.Tensor, masks: torch.Tensor, alpha: float = 1.0, stats: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Spatial control: style k where ``masks[k]`` (K x H x W, in [0, 1]) is set.

        The style vector conditions every layer, so there is no single feature map to mix
        (as AdaIN does): the stylised pictures are composited by the masks instead;
        overlapping masks share, and where no mask covers a pixel the content shows.
        ``stats`` ([K, S], ``norm_stats`` per style): a tile normalised with the picture's."""
        weights = masks / masks.sum(0, keepdim=True).clamp(min=1.0)
        out = content * (1 - weights.sum(0))
        for k in range(style_vecs.shape[0]):
            out = out + weights[k] * self(content, style_vecs[k : k + 1], alpha, None if stats is None else stats[k : k + 1])
        return out

"""The whole AdaIN network in one file, module for module as pytorch-AdaIN's ``net.py``.

``build_vgg()`` and ``build_decoder()`` return ``nn.Sequential`` stacks whose indices are the
keys of the release files ``vgg_normalised.pth`` (53 modules, to relu5_4, with the leading 1x1
conv that folds the Caffe mean/BGR conversion into the weights) and ``decoder.pth`` (29
modules), so both load with ``strict=True``. Pixels go in as RGB in [0, 1], unnormalised.

Details parity depends on (docs/architecture.md, "Traps"): ceil-mode max-pooling, reflection padding,
nearest upsampling, unbiased variance + 1e-5, no output clamp. Sides not divisible by 8 make
the decoder's output larger than the input; ``AdaINStylizer`` crops it back.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-5


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(cin, cout, (3, 3)), nn.ReLU()]


def _pool() -> nn.Module:
    return nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True)


def build_vgg() -> nn.Sequential:
    """VGG-19 as in ``vgg_normalised.pth``: 1x1 conv, then conv1_1 .. relu5_4 (53 modules)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, (1, 1))]
    layers += _conv(3, 64) + _conv(64, 64) + [_pool()]
    layers += _conv(64, 128) + _conv(128, 128) + [_pool()]
    layers += _conv(128, 256) + _conv(256, 256) + _conv(256, 256) + _conv(256, 256) + [_pool()]
    layers += _conv(256, 512) + _conv(512, 512) + _conv(512, 512) + _conv(512, 512) + [_pool()]
    layers += _conv(512, 512) + _conv(512, 512) + _conv(512, 512) + _conv(512, 512)
    return nn.Sequential(*layers)


def build_decoder() -> nn.Sequential:
    """The decoder as in ``decoder.pth``: relu4_1 features (512 ch) -> RGB (29 modules)."""
    up = nn.Upsample(scale_factor=2, mode="nearest")
    layers: list[nn.Module] = _conv(512, 256) + [up]
    layers += _conv(256, 256) + _conv(256, 256) + _conv(256, 256) + _conv(256, 128) + [nn.Upsample(scale_factor=2, mode="nearest")]
    layers += _conv(128, 128) + _conv(128, 64) + [nn.Upsample(scale_factor=2, mode="nearest")]
    layers += _conv(64, 64) + [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(64, 3, (3, 3))]
    return nn.Sequential(*layers)


# Index of each named ReLU in build_vgg(); a feature "relu4_1" is the output of module 30.
LAYERS: dict[str, int] = {
    "relu1_1": 3, "relu1_2": 6,
    "relu2_1": 10, "relu2_2": 13,
    "relu3_1": 17, "relu3_2": 20, "relu3_3": 23, "relu3_4": 26,
    "relu4_1": 30, "relu4_2": 33, "relu4_3": 36, "relu4_4": 39,
    "relu5_1": 43, "relu5_2": 46, "relu5_3": 49, "relu5_4": 52,
}  # fmt: skip
ADAIN_LAYER = "relu4_1"
SIZE_MULTIPLE = 8  # relu4_1 is three poolings deep


def vgg_features(vgg: nn.Sequential, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """Named features, running the stack only as deep as the deepest requested layer."""
    wanted = {LAYERS[name]: name for name in layers}
    out: dict[str, torch.Tensor] = {}
    for i, module in enumerate(vgg):
        x = module(x)
        if i in wanted:
            out[wanted[i]] = x
            if len(out) == len(wanted):
                break
    return out


def calc_mean_std(feat: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over space, [N, C] each; unbiased variance + eps.

    Computed in float32 whatever the input's dtype: the squared term overflows float16
    once |x - mean| > 256 (docs/architecture.md, "Traps").
    """
    f = feat.float().flatten(2)
    mean = f.mean(dim=2)
    std = (f.var(dim=2, unbiased=True) + eps).sqrt()
    return mean, std


def style_vector(feat: torch.Tensor) -> torch.Tensor:
    """AdaIN's style vector: [N, 2, C] = (mean, std) of the relu4_1 features."""
    mean, std = calc_mean_std(feat)
    return torch.stack([mean, std], dim=1)


def adain(content_feat: torch.Tensor, style_vec: torch.Tensor, content_stats: torch.Tensor | None = None) -> torch.Tensor:
    """Adaptive instance normalisation: content features re-normalised to the style's stats.

    ``content_stats`` ([N, 2, C], as ``style_vector``): the statistics to normalise the content
    with instead of the features' own: a tile takes the whole picture's, so tiles agree.
    """
    if content_stats is None:
        mean_c, std_c = calc_mean_std(content_feat)
    else:
        mean_c, std_c = content_stats[:, 0].float(), content_stats[:, 1].float()
    mean_s, std_s = style_vec[:, 0].float(), style_vec[:, 1].float()
    scale = (std_s / std_c)[..., None, None]
    shift = mean_s[..., None, None] - mean_c[..., None, None] * scale
    return (content_feat.float() * scale + shift).to(content_feat.dtype)


class AdaINStylizer(nn.Module):
    """encoder (to relu4_1) -> AdaIN with a given style vector -> alpha mix -> decoder.

    ``forward(content, style_vec, alpha)`` is the per-frame graph; ``encode_style`` is the
    once-per-style graph. Both take RGB in [0, 1], NCHW.

    Tiles (``runtime.tiles``): ``norm_stats`` gives the content's relu4_1 mean and std, the one
    statistic AdaIN normalises with, computed once on the whole picture; ``forward(...,
    stats=)`` and ``forward_regions(..., stats=)`` normalise a tile with them. Without
    ``stats`` the path is unchanged.
    """

    def __init__(self, vgg: nn.Sequential, decoder: nn.Sequential) -> None:
        super().__init__()
        self.encoder = nn.Sequential(*list(vgg.children())[: LAYERS[ADAIN_LAYER] + 1])
        self.decoder = decoder

    def encode_style(self, style: torch.Tensor) -> torch.Tensor:
        return style_vector(self.encoder(style))

    def norm_stats(self, content: torch.Tensor, style_vec: torch.Tensor | None = None, alpha: torch.Tensor | float = 1.0) -> torch.Tensor:
        """[N, 2 * 512]: the content's relu4_1 mean, then std (``style_vector`` flattened).
        ``style_vec`` and ``alpha`` do not change them: taken to match the other families."""
        return style_vector(self.encoder(content)).flatten(1)

    def forward(
        self, content: torch.Tensor, style_vec: torch.Tensor, alpha: torch.Tensor | float = 1.0, stats: torch.Tensor | None = None
    ) -> torch.Tensor:
        h, w = content.shape[-2:]
        feat = self.encoder(content)
        target = adain(feat, style_vec, None if stats is None else _content_stats(stats))
        mixed = alpha * target + (1 - alpha) * feat
        return self.decoder(mixed)[..., :h, :w]

    def forward_regions(
        self, content: torch.Tensor, style_vecs: torch.Tensor, masks: torch.Tensor, alpha: float = 1.0, stats: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Spatial control: style k paints where ``masks[k]`` (K x H x W, in [0, 1]) is set.

        The masks are resized to the feature map and applied to the AdaIN outputs, as in the
        paper; where no mask covers a pixel the content features pass unchanged. ``stats``
        ([K, 1024], ``norm_stats`` per style): a tile normalised with the picture's.
        """
        h, w = content.shape[-2:]
        feat = self.encoder(content)
        m = torch.nn.functional.interpolate(masks[None].float(), size=feat.shape[-2:], mode="bilinear", align_corners=False)[0]
        total = m.sum(0, keepdim=True)
        weights = m / total.clamp(min=1.0)  # overlapping masks share, uncovered pixels keep content
        target = feat * (1 - weights.sum(0, keepdim=True))
        for k in range(style_vecs.shape[0]):
            target = target + weights[k] * adain(feat, style_vecs[k : k + 1], None if stats is None else _content_stats(stats[k : k + 1]))
        mixed = alpha * target + (1 - alpha) * feat
        return self.decoder(mixed)[..., :h, :w]


def _content_stats(stats: torch.Tensor) -> torch.Tensor:
    """Flat ``norm_stats`` [N, 2 * C] -> [N, 2, C] (mean, std), as ``adain`` takes them."""
    return stats.reshape(stats.shape[0], 2, -1)

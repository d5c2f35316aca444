"""Multiply-adds per pixel of every per-frame graph, kept in code and checked by tests.

The counts are of convolutions and linear layers only (activations, norms, padding and
resizing are memory-bound and left out), per pixel of the *input* frame, at sides divisible
by 8 (AdaIN) or 4 (Magenta) so that no ceil-mode rounding adds fractional rows. FLOP/s
figures use 2 FLOPs per multiply-add.
"""

from __future__ import annotations

# AdaIN (Huang & Belongie 2017): VGG-19 to relu4_1, and the mirrored decoder.
ADAIN_ENCODER_MACS_PER_PIXEL = 241_353
ADAIN_DECODER_MACS_PER_PIXEL = 241_344
# Magenta (Ghiasi et al. 2017), transformer of width 0.25 (8/16/32 channels): counted by
# ``count_macs_per_pixel`` below, the same way.
MAGENTA_TRANSFORMER_MACS_PER_PIXEL = 12_528
# Magenta's style predictor (MobileNetV2 + bottleneck) per 256x256 image; it runs once per
# style, and per frame only when alpha < 1 (the frame's own style vector).
MAGENTA_PREDICTOR_MACS_PER_IMAGE = 391_304_192
# A johnson network (Johnson et al. 2016) of the default width (32/64/128 channels, 5 residual
# blocks; ``training.johnson.net.macs_per_pixel`` gives other widths).
JOHNSON_MACS_PER_PIXEL = 153_792

MACS_PER_PIXEL = {
    "adain": ADAIN_ENCODER_MACS_PER_PIXEL + ADAIN_DECODER_MACS_PER_PIXEL,
    "magenta": MAGENTA_TRANSFORMER_MACS_PER_PIXEL,
    "johnson": JOHNSON_MACS_PER_PIXEL,
}


def frame_flops(family: str, height: int, width: int, batch: int = 1) -> float:
    """FLOPs (2 per multiply-add) of the per-frame graph at alpha 1."""
    return 2.0 * MACS_PER_PIXEL[family] * height * width * batch


def count_macs(module, *inputs) -> int:  # noqa: ANN001
    """Multiply-adds of the convolutions and linear layers in one forward pass (torch)."""
    import torch
    from torch import nn

    total = 0

    def hook(m, _inp, out) -> None:  # noqa: ANN001
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total


def count_macs_per_pixel(family: str, size: int = 256) -> dict[str, float]:
    """Count the family's networks at ``size`` x ``size`` (random weights: counts only)."""
    import torch

    from stylize.training.models import build_stylizer

    net = build_stylizer(family).eval()
    x = torch.rand(1, 3, size, size)
    pixels = size * size
    if family == "adain":
        feat = net.encoder(x)
        return {"encoder": count_macs(net.encoder, x) / pixels, "decoder": count_macs(net.decoder, feat) / pixels}
    style = torch.rand(1, 100)
    predictor = count_macs(net.predictor, torch.rand(1, 3, 256, 256))
    transformer = count_macs(net.transformer, x, style)
    linear = sum(m.in_features * m.out_features for m in net.transformer.modules() if isinstance(m, torch.nn.Linear))
    return {"transformer": (transformer - linear) / pixels, "predictor_per_image": predictor}

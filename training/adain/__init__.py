"""AdaIN (Huang & Belongie, 2017) in the layout of the pytorch-AdaIN release files."""

from stylize.training.adain.net import (
    LAYERS,
    AdaINStylizer,
    adain,
    build_decoder,
    build_vgg,
    calc_mean_std,
    style_vector,
)

__all__ = ["LAYERS", "AdaINStylizer", "adain", "build_decoder", "build_vgg", "calc_mean_std", "style_vector"]

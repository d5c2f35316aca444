"""Write random AdaIN weights in the official release layout (for tests and offline demos).

    python -m stylize.training.adain.random_weights DIR [--seed N]

writes ``DIR/vgg_normalised.pth`` and ``DIR/decoder.pth``: state dicts with the keys and
shapes of the pytorch-AdaIN release files. He-initialised (zero biases) so that activations
keep their scale through all 53 + 29 modules and outputs depend visibly on the inputs; the
last conv is scaled to land near [0, 1]. They prove the pipeline and measure speed; their
pictures mean nothing. Real users import the real files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from stylize.training.adain.net import build_decoder, build_vgg


def he_init_(stack: nn.Sequential) -> nn.Sequential:
    with torch.no_grad():
        for m in stack:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return stack


def random_adain_modules(seed: int = 0) -> tuple[nn.Sequential, nn.Sequential]:
    torch.manual_seed(seed)
    vgg, decoder = he_init_(build_vgg()), he_init_(build_decoder())
    with torch.no_grad():
        decoder[-1].weight.mul_(0.1)
        decoder[-1].bias.fill_(0.5)
    return vgg, decoder


def write_random_adain(folder: str | Path, seed: int = 0) -> tuple[Path, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vgg, decoder = random_adain_modules(seed)
    vgg_path, dec_path = folder / "vgg_normalised.pth", folder / "decoder.pth"
    torch.save(vgg.state_dict(), vgg_path)
    torch.save(decoder.state_dict(), dec_path)
    return vgg_path, dec_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for p in write_random_adain(args.folder, args.seed):
        print(p)


if __name__ == "__main__":
    main()

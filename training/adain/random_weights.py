"""Write random AdaIN weights in the official release layout (for tests and offline demos).

    python -m training.adain.random_weights DIR [--seed N]

writes ``DIR/vgg_normalised.pth`` and ``DIR/decoder.pth``: state dicts with the keys and
shapes of the pytorch-AdaIN release files, PyTorch's default initialisation. They prove the
pipeline and measure speed; their pictures mean nothing. Real users import the real files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from training.adain.net import build_decoder, build_vgg


def write_random_adain(folder: str | Path, seed: int = 0) -> tuple[Path, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    vgg_path, dec_path = folder / "vgg_normalised.pth", folder / "decoder.pth"
    torch.save(build_vgg().state_dict(), vgg_path)
    torch.save(build_decoder().state_dict(), dec_path)
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

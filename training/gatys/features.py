"""The feature extractor: VGG-19 in the 53-module layout of ``vgg_normalised.pth``.

Two sources of weights fill the same layout (``training.adain.net.build_vgg``):

- the normalised VGG-19 that AdaIN uses (the store's ``adain-vgg``, layout ``adain_vgg``).
  It is Gatys et al.'s own network: Caffe VGG-19 rescaled so that each filter's mean
  activation is one, with the Caffe preprocessing (BGR, 0..255, mean subtracted) folded into
  the leading 1x1 conv. Pixels go in as RGB in [0, 1].
- a torchvision ``vgg19`` state dict (``features.N.weight`` keys). torchvision's network takes
  ImageNet-normalised RGB, ``(x - mean) / std``; that affine map is folded into the leading
  1x1 conv, so pixels go in as RGB in [0, 1] here too. Its convs pad with zeros and its
  poolings floor, and the loader sets the layout's padding and pooling modules accordingly.
  Unverified against the real torchvision weights: the key mapping and the normalisation
  folding are tested with random weights.

``FeatureExtractor`` keeps only the modules up to the deepest layer asked for, freezes the
weights (so backward computes input gradients only) and makes the ReLUs in-place (the conv
outputs they overwrite are never needed for backward): about half the activation memory.
With ``checkpoint`` set, the first block (to pool1, the largest activations, 11% of the
multiply-adds) keeps only its outputs and is recomputed in backward: 2.5 GiB less at
2048x2048 for 11% more work. ``paint`` sets it for stages above ``CHECKPOINT_PIXELS``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from stylize.runtime.errors import UserError
from stylize.training.adain.net import LAYERS, build_vgg
from stylize.training.layouts import ADAIN_VGG

# torchvision's ImageNet normalisation (torchvision.models.VGG19_Weights.IMAGENET1K_V1)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The 3x3 convs of the 53-module layout, in order, and torchvision vgg19's ``features`` indices.
ADAIN_CONVS = [int(k.split(".")[0]) for k in ADAIN_VGG if k.endswith(".weight") and k != "0.weight"]
TORCHVISION_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
FIRST_POOL = 7  # index of pool1 in the 53-module layout
CHECKPOINT_PIXELS = 1536 * 1536


class FeatureExtractor(nn.Module):
    """Named VGG-19 features of RGB images in [0, 1] (NCHW), as a frozen module.

    ``forward(x)`` returns ``{layer: tensor}`` for ``self.layers``; the stack is cut after
    the deepest of them.
    """

    def __init__(self, vgg: nn.Sequential, layers: list[str], checkpoint: bool = False) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in LAYERS]
        if unknown:
            raise UserError(f"unknown VGG layer {unknown[0]!r}: choose from {', '.join(LAYERS)}")
        self.layers = list(dict.fromkeys(layers))
        deepest = max(LAYERS[name] for name in self.layers)
        modules = [m for m in list(vgg.children())[: deepest + 1]]
        for m in modules:
            if isinstance(m, nn.ReLU):
                m.inplace = True
        self.stack = nn.Sequential(*modules)
        self._at = {LAYERS[name]: name for name in self.layers}
        self.checkpoint = checkpoint
        self.requires_grad_(False)
        self.eval()

    def _run(self, x: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out: dict[str, torch.Tensor] = {}
        for i in range(start, min(stop, len(self.stack))):
            x = self.stack[i](x)
            if i in self._at:
                out[self._at[i]] = x
        return x, out

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if not (self.checkpoint and x.requires_grad and torch.is_grad_enabled()):
            return self._run(x, 0, len(self.stack))[1]
        from torch.utils.checkpoint import checkpoint

        x, out = checkpoint(self._run, x, 0, FIRST_POOL + 1, use_reentrant=False)
        x, rest = self._run(x, FIRST_POOL + 1, len(self.stack))
        return {**out, **rest}


def vgg_from_adain_state(state: dict[str, torch.Tensor]) -> nn.Sequential:
    vgg = build_vgg()
    vgg.load_state_dict(state, strict=True)
    return vgg


def vgg_from_torchvision_state(state: dict[str, torch.Tensor], source: str = "state dict") -> nn.Sequential:
    """torchvision ``vgg19`` weights in the 53-module layout, ImageNet normalisation folded in.

    ``features.N.{weight,bias}`` for the 16 convs are taken; ``classifier.*`` is ignored;
    anything else (batch norm of ``vgg19_bn``, another depth) is refused.
    """
    feats = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    others = [k for k in state if not k.startswith(("features.", "classifier."))]
    expected = {f"{i}.{p}" for i in TORCHVISION_CONVS for p in ("weight", "bias")}
    extra = [f"features.{k}" for k in sorted(set(feats) - expected)] + others
    missing = [f"features.{k}" for k in sorted(expected - set(feats))]
    if extra or missing:
        what = f"unexpected key {extra[0]!r}" if extra else f"missing key {missing[0]!r}"
        raise UserError(f"{source} is not a torchvision vgg19 state dict (features.N.weight/bias of 16 convs): {what}")
    mapped: dict[str, torch.Tensor] = {}
    for tv, ours in zip(TORCHVISION_CONVS, ADAIN_CONVS):
        for p in ("weight", "bias"):
            tensor = feats[f"{tv}.{p}"].detach().float()
            want = ADAIN_VGG[f"{ours}.{p}"]
            if tuple(tensor.shape) != want:
                raise UserError(f"{source}: key 'features.{tv}.{p}' has shape {tuple(tensor.shape)}, expected {want} (vgg19)")
            mapped[f"{ours}.{p}"] = tensor
    mean = torch.tensor(IMAGENET_MEAN)
    std = torch.tensor(IMAGENET_STD)
    mapped["0.weight"] = torch.diag(1.0 / std)[:, :, None, None]
    mapped["0.bias"] = -mean / std
    vgg = build_vgg()
    vgg.load_state_dict(mapped, strict=True)
    for i, m in enumerate(vgg):  # torchvision: zero padding inside the conv, floor-mode pooling
        if isinstance(m, nn.ReflectionPad2d):
            vgg[i] = nn.ZeroPad2d(1)
        elif isinstance(m, nn.MaxPool2d):
            m.ceil_mode = False
    return vgg


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:  # safetensors has its own error types for damaged headers
            raise UserError(f"cannot read {path} as safetensors: {e}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors alike: not a state dict
        raise UserError(f"cannot read {path} as a PyTorch weights file: {str(e).splitlines()[0]}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} does not hold a state dict of tensors")
    return obj


def vgg_from_file(path: str | os.PathLike[str]) -> tuple[nn.Sequential, str]:
    """(vgg, kind) from a torchvision vgg19 file or a vgg_normalised.pth-layout file."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"features file not found: {p}")
    if p.is_dir() or p.stat().st_size == 0:
        raise UserError(f"features file is {'a folder' if p.is_dir() else 'empty'}: {p}")
    state = _read_state(p)
    if set(state) == set(ADAIN_VGG):
        bad = [k for k, v in state.items() if tuple(v.shape) != ADAIN_VGG[k]]
        if bad:
            raise UserError(f"{p}: key {bad[0]!r} has shape {tuple(state[bad[0]].shape)}, expected {ADAIN_VGG[bad[0]]}")
        return vgg_from_adain_state({k: v.float() for k, v in state.items()}), "adain_vgg"
    return vgg_from_torchvision_state(state, str(p)), "torchvision_vgg19"


def vgg_from_store(store, name: str = "adain-vgg") -> nn.Sequential:  # noqa: ANN001 (runtime.store.Store)
    """The normalised VGG-19 from the store; missing weights give find_weights' error."""
    from stylize.runtime.models import find_weights
    from stylize.training.models import load_torch_state

    if store.weights(name) is None:
        if name == "adain-vgg":
            find_weights(store, "adain")  # raises the error naming how to get the weights
        raise UserError(f"weights {name!r} are not in the store ({store.root})")
    _, state = load_torch_state(store, name, "adain_vgg")
    return vgg_from_adain_state(state)

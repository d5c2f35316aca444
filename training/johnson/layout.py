"""State-dict layout of the Johnson et al. (2016) image transformation network (pure Python).

The keys are those of pytorch/examples ``fast_neural_style`` (``TransformerNet``): each conv
is ``NAME.conv2d`` behind a reflection pad, each instance norm ``inN`` is affine, residual
blocks are ``resN.{conv1,in1,conv2,in2}``, and the upsampling convs ``deconv1``/``deconv2``
(nearest 2x, then a conv: no transposed convs, so no checkerboards). So a published
checkpoint (``mosaic.pth``, ``udnie.pth``, ...) loads as it is, and ours load in their scripts.

The width (channels of the first conv; the next stages have 2x and 4x) and the depth (the
number of residual blocks) are a network's own choices: the layout is read from the
weights (``architecture``) and then checked key by key like the fixed layouts
(``training/layouts.py``). pytorch/examples' network is width 32, depth 5.

Old checkpoints carry ``running_mean``/``running_var`` of the instance norms (PyTorch < 0.4
kept them); the examples delete them before loading (``STALE_KEYS``), and so does the import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

LAYOUT = "johnson"
DEFAULT_WIDTH = 32
DEFAULT_BLOCKS = 5
MAX_BLOCKS = 64
# Instance-norm statistics of PyTorch < 0.4, which fast_neural_style/neural_style.py deletes
# with this very pattern before load_state_dict.
STALE_KEYS = re.compile(r"in\d+\.running_(mean|var)$")


def _conv(layout: dict[str, tuple[int, ...]], name: str, cin: int, cout: int, kernel: int) -> None:
    layout[f"{name}.conv2d.weight"] = (cout, cin, kernel, kernel)
    layout[f"{name}.conv2d.bias"] = (cout,)


def _norm(layout: dict[str, tuple[int, ...]], name: str, channels: int) -> None:
    layout[f"{name}.weight"] = (channels,)
    layout[f"{name}.bias"] = (channels,)


def channels(width: int) -> tuple[int, int, int]:
    """The three stages' channels: width, 2 x width, 4 x width."""
    return width, 2 * width, 4 * width


def johnson_layout(width: int = DEFAULT_WIDTH, blocks: int = DEFAULT_BLOCKS) -> dict[str, tuple[int, ...]]:
    """Every key of ``TransformerNet(width, blocks).state_dict()`` and its shape."""
    c1, c2, c3 = channels(width)
    out: dict[str, tuple[int, ...]] = {}
    _conv(out, "conv1", 3, c1, 9)
    _norm(out, "in1", c1)
    _conv(out, "conv2", c1, c2, 3)
    _norm(out, "in2", c2)
    _conv(out, "conv3", c2, c3, 3)
    _norm(out, "in3", c3)
    for r in range(1, blocks + 1):
        _conv(out, f"res{r}.conv1", c3, c3, 3)
        _norm(out, f"res{r}.in1", c3)
        _conv(out, f"res{r}.conv2", c3, c3, 3)
        _norm(out, f"res{r}.in2", c3)
    _conv(out, "deconv1", c3, c2, 3)
    _norm(out, "in4", c2)
    _conv(out, "deconv2", c2, c1, 3)
    _norm(out, "in5", c1)
    _conv(out, "deconv3", c1, 3, 9)
    return out


_RES_KEY = re.compile(r"^res(\d+)\.conv1\.conv2d\.weight$")


def architecture(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, int] | None:
    """(width, blocks) the keys and shapes describe, or None where they are not this network's:
    the width from ``conv1``'s output channels, the depth from the highest ``resN``."""
    first = shapes.get("conv1.conv2d.weight")
    if first is None or len(first) != 4 or first[0] < 1:
        return None
    numbers = [int(m.group(1)) for k in shapes if (m := _RES_KEY.match(k))]
    blocks = max(numbers, default=0)
    if blocks > MAX_BLOCKS:
        return None
    return int(first[0]), blocks


def expected_layout(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The layout ``shapes`` is checked against: the network they describe, else the default one."""
    found = architecture(shapes)
    return johnson_layout(*found) if found else johnson_layout()


def without_stale_keys(tensors: Mapping[str, object]) -> dict[str, object]:
    """``tensors`` without the instance-norm running statistics old checkpoints carry."""
    return {k: v for k, v in tensors.items() if not STALE_KEYS.search(k)}

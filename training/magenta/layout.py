"""State-dict layouts of the Magenta arbitrary-stylisation networks (pure Python, no torch).

``PREDICTOR_LAYOUT`` and ``TRANSFORMER_LAYOUT`` map every key of
``StylePredictor().state_dict()`` / ``Transformer().state_dict()`` (see ``model.py``) to its
shape. The TFLite importer (``tflite_import.py``) checks what it read against them, key by
key and shape by shape, so a weights file can be validated without importing torch.

Network sizes are those of the published "arbitrary-image-stylization-v1-256" TFLite files
(Ghiasi et al. 2017, the mobile/distilled variant): a MobileNetV2 (depth multiplier 1.0)
style predictor with a 100-d bottleneck, and a transformer of width 0.25 (8/16/32 channels).
"""

from __future__ import annotations

STYLE_DIM = 100

# ---------------------------------------------------------------- style predictor
# MobileNetV2 inverted-residual settings (t = expansion, c = output channels,
# n = repeats, s = stride of the first repeat), exactly the torchvision / TF-slim V2_DEF.
MOBILENET_V2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def mobilenet_v2_blocks() -> list[tuple[int, int, int, int]]:
    """One ``(in_channels, hidden_channels, out_channels, stride)`` per inverted-residual block.

    Block ``i`` is TF-slim's ``MobilenetV2/expanded_conv`` (i = 0) or
    ``MobilenetV2/expanded_conv_<i>``; block 0 has no expansion 1x1 conv.
    """
    blocks = []
    cin = STEM_CHANNELS
    for t, c, n, s in MOBILENET_V2_SETTINGS:
        for i in range(n):
            blocks.append((cin, cin * t, c, s if i == 0 else 1))
            cin = c
    return blocks


def _predictor_layout() -> dict[str, tuple[int, ...]]:
    layout: dict[str, tuple[int, ...]] = {
        "stem.weight": (STEM_CHANNELS, 3, 3, 3),
        "stem.bias": (STEM_CHANNELS,),
    }
    for i, (cin, hidden, cout, _stride) in enumerate(mobilenet_v2_blocks()):
        p = f"blocks.{i}."
        if hidden != cin:
            layout[p + "expand.weight"] = (hidden, cin, 1, 1)
            layout[p + "expand.bias"] = (hidden,)
        layout[p + "depthwise.weight"] = (hidden, 1, 3, 3)
        layout[p + "depthwise.bias"] = (hidden,)
        layout[p + "project.weight"] = (cout, hidden, 1, 1)
        layout[p + "project.bias"] = (cout,)
    last = mobilenet_v2_blocks()[-1][2]
    layout["head.weight"] = (HEAD_CHANNELS, last, 1, 1)
    layout["head.bias"] = (HEAD_CHANNELS,)
    layout["bottleneck.weight"] = (STYLE_DIM, HEAD_CHANNELS)
    layout["bottleneck.bias"] = (STYLE_DIM,)
    return layout


# ---------------------------------------------------------------- transformer
# (name, in_channels, out_channels, kernel, stride) of the contracting convs (ReLU, no norm:
# the original batch norm is folded into the conv bias in the TFLite file).
TRANSFORMER_CONTRACT: tuple[tuple[str, int, int, int, int], ...] = (
    ("conv1", 3, 8, 9, 1),
    ("conv2", 8, 16, 3, 2),
    ("conv3", 16, 32, 3, 2),
)
TRANSFORMER_RESIDUAL_BLOCKS = 5
TRANSFORMER_RESIDUAL_CHANNELS = 32
# (name, in_channels, out_channels, kernel, upsampling factor) of the expanding convs
# (nearest upsampling, then conv + conditional instance norm).
TRANSFORMER_EXPAND: tuple[tuple[str, int, int, int, int], ...] = (
    ("conv1", 32, 16, 3, 2),
    ("conv2", 16, 8, 3, 2),
    ("conv3", 8, 3, 9, 1),
)


def _cond_layer(layout: dict[str, tuple[int, ...]], prefix: str, cin: int, cout: int, k: int) -> None:
    layout[prefix + "conv.weight"] = (cout, cin, k, k)
    layout[prefix + "conv.bias"] = (cout,)
    layout[prefix + "beta.weight"] = (cout, STYLE_DIM)
    layout[prefix + "beta.bias"] = (cout,)
    layout[prefix + "gamma.weight"] = (cout, STYLE_DIM)
    layout[prefix + "gamma.bias"] = (cout,)


def _transformer_layout() -> dict[str, tuple[int, ...]]:
    layout: dict[str, tuple[int, ...]] = {}
    for name, cin, cout, k, _s in TRANSFORMER_CONTRACT:
        layout[f"contract.{name}.conv.weight"] = (cout, cin, k, k)
        layout[f"contract.{name}.conv.bias"] = (cout,)
    c = TRANSFORMER_RESIDUAL_CHANNELS
    for r in range(1, TRANSFORMER_RESIDUAL_BLOCKS + 1):
        for conv in ("conv1", "conv2"):
            _cond_layer(layout, f"residual.residual{r}.{conv}.", c, c, 3)
    for name, cin, cout, k, _up in TRANSFORMER_EXPAND:
        _cond_layer(layout, f"expand.{name}.", cin, cout, k)
    return layout


PREDICTOR_LAYOUT: dict[str, tuple[int, ...]] = _predictor_layout()
TRANSFORMER_LAYOUT: dict[str, tuple[int, ...]] = _transformer_layout()

LAYOUTS: dict[str, dict[str, tuple[int, ...]]] = {
    "magenta_predictor": PREDICTOR_LAYOUT,
    "magenta_transformer": TRANSFORMER_LAYOUT,
}

"""Expected state-dict layouts (key -> shape) of every weights file the store accepts.

Pure python, no torch: ``stylize weights import`` checks a file against these key by key
and shape by shape before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping


def _conv_layout(convs: list[tuple[int, int, int, int]]) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for index, cin, cout, k in convs:
        out[f"{index}.weight"] = (cout, cin, k, k)
        out[f"{index}.bias"] = (cout,)
    return out


# vgg_normalised.pth: module index, in, out, kernel
ADAIN_VGG = _conv_layout(
    [(0, 3, 3, 1), (2, 3, 64, 3), (5, 64, 64, 3), (9, 64, 128, 3), (12, 128, 128, 3),
     (16, 128, 256, 3), (19, 256, 256, 3), (22, 256, 256, 3), (25, 256, 256, 3),
     (29, 256, 512, 3), (32, 512, 512, 3), (35, 512, 512, 3), (38, 512, 512, 3),
     (42, 512, 512, 3), (45, 512, 512, 3), (48, 512, 512, 3), (51, 512, 512, 3)]
)  # fmt: skip
# decoder.pth
ADAIN_DECODER = _conv_layout(
    [(1, 512, 256, 3), (5, 256, 256, 3), (8, 256, 256, 3), (11, 256, 256, 3), (14, 256, 128, 3),
     (18, 128, 128, 3), (21, 128, 64, 3), (25, 64, 64, 3), (28, 64, 3, 3)]
)  # fmt: skip

LAYOUTS: dict[str, dict[str, tuple[int, ...]]] = {
    "adain_vgg": ADAIN_VGG,
    "adain_decoder": ADAIN_DECODER,
}
DEFAULT_NAMES = {
    "adain_vgg": "adain-vgg",
    "adain_decoder": "adain-decoder",
    "magenta_predictor": "magenta-predictor",
    "magenta_transformer": "magenta-transformer",
    "johnson": "johnson",  # an import names a johnson network after its file instead (weights_io)
}


def _register_magenta() -> None:
    try:
        from stylize.training.magenta.layout import PREDICTOR_LAYOUT, TRANSFORMER_LAYOUT
    except ImportError:  # pragma: no cover - the magenta family is optional while it is being built
        return
    LAYOUTS["magenta_predictor"] = dict(PREDICTOR_LAYOUT)
    LAYOUTS["magenta_transformer"] = dict(TRANSFORMER_LAYOUT)


_register_magenta()

# Layouts whose shapes are the network's own choice (a width, a depth): name -> the layout
# that given keys and shapes are checked against (read from them, else the default one).
SIZED: dict[str, Callable[[Mapping[str, tuple[int, ...]]], dict[str, tuple[int, ...]]]] = {}
# Keys a layout's files may carry that are dropped before the check (name -> pattern).
IGNORED_KEYS: dict[str, re.Pattern[str]] = {}


def _register_johnson() -> None:
    from stylize.training.johnson.layout import LAYOUT, STALE_KEYS, expected_layout, johnson_layout

    LAYOUTS[LAYOUT] = johnson_layout()  # the default network (pytorch/examples': width 32, 5 blocks)
    SIZED[LAYOUT] = expected_layout
    IGNORED_KEYS[LAYOUT] = STALE_KEYS


_register_johnson()


def expected(layout: str, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The key -> shape map ``shapes`` must equal to be ``layout``."""
    return SIZED[layout](shapes) if layout in SIZED else LAYOUTS[layout]


def without_ignored(shapes: Mapping[str, object]) -> dict[str, object]:
    """``shapes`` (or tensors) without the keys a layout drops, where what is left is that
    layout (pytorch/examples' old instance-norm statistics); else unchanged."""
    for name, pattern in IGNORED_KEYS.items():
        kept = {k: v for k, v in shapes.items() if not pattern.search(k)}
        if len(kept) < len(shapes) and set(kept) == set(expected(name, {k: tuple(getattr(v, "shape", v)) for k, v in kept.items()})):
            return kept
    return dict(shapes)


def identify_layout(shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """The layout whose key set equals ``shapes``' keys, else None (shapes checked separately)."""
    keys = set(shapes)
    for name in LAYOUTS:
        if keys == set(expected(name, shapes)):
            return name
    return None


def closest_layout(shapes: Mapping[str, tuple[int, ...]]) -> tuple[str, int]:
    """The layout sharing most keys with ``shapes`` and how many it shares."""
    keys = set(shapes)
    return max(((name, len(keys & set(expected(name, shapes)))) for name in LAYOUTS), key=lambda t: t[1])


def check_layout(layout: str, shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    """Every difference between ``shapes`` and the expected layout, as readable lines."""
    expected_shapes = expected(layout, shapes)
    problems = []
    for key, shape in expected_shapes.items():
        if key not in shapes:
            problems.append(f"missing key {key!r} (expected shape {shape})")
        elif tuple(shapes[key]) != shape:
            problems.append(f"key {key!r} has shape {tuple(shapes[key])}, expected {shape}")
    problems += [f"unexpected key {k!r}" for k in shapes if k not in expected_shapes]
    return problems

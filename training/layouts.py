"""Expected state-dict layouts (key -> shape) of every weights file the store accepts.

Pure python, no torch: ``stylize weights import`` checks a file against these key by key
and shape by shape before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping


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
}


def _register_magenta() -> None:
    try:
        from stylize.training.magenta.layout import PREDICTOR_LAYOUT, TRANSFORMER_LAYOUT
    except ImportError:  # pragma: no cover - the magenta family is optional while it is being built
        return
    LAYOUTS["magenta_predictor"] = dict(PREDICTOR_LAYOUT)
    LAYOUTS["magenta_transformer"] = dict(TRANSFORMER_LAYOUT)


_register_magenta()


def identify_layout(shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """The layout whose key set equals ``shapes``' keys, else None (shapes checked separately)."""
    keys = set(shapes)
    for name, layout in LAYOUTS.items():
        if keys == set(layout):
            return name
    return None


def closest_layout(shapes: Mapping[str, tuple[int, ...]]) -> tuple[str, int]:
    """The layout sharing most keys with ``shapes`` and how many it shares."""
    keys = set(shapes)
    return max(((name, len(keys & set(layout))) for name, layout in LAYOUTS.items()), key=lambda t: t[1])


def check_layout(layout: str, shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    """Every difference between ``shapes`` and the expected layout, as readable lines."""
    expected = LAYOUTS[layout]
    problems = []
    for key in expected:
        if key not in shapes:
            problems.append(f"missing key {key!r} (expected shape {expected[key]})")
        elif tuple(shapes[key]) != expected[key]:
            problems.append(f"key {key!r} has shape {tuple(shapes[key])}, expected {expected[key]}")
    problems += [f"unexpected key {k!r}" for k in shapes if k not in expected]
    return problems

"""The model families, what weights each needs from the store, and how styles are prepared.

Torch-free: this is what every command asks before it builds an engine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .errors import UserError
from .images import resize
from .sizing import Size, scaled
from .store import Store, WeightsRecord


@dataclass(frozen=True)
class Family:
    name: str
    roles: dict[str, tuple[str, str]]  # role -> (layout, default weights name)
    style_vector_shape: tuple[int, ...]
    how_to_get: str
    weights_role: str | None = None  # the role ``--weights NAME`` chooses (adain: its decoder)
    fixed_style: bool = False  # one network per style: the style is in the weights, no style image is taken
    tile_multiple: int | None = None
    """Tiled stills (``runtime.tiles``): tile origins are multiples of this, the network's
    downsampling, so every tile's strided layers sample the whole picture's grid; None: the
    family's modules cannot normalise with shared statistics, so it is not tiled."""


FAMILIES: dict[str, Family] = {
    "adain": Family(
        name="adain",
        roles={"vgg": ("adain_vgg", "adain-vgg"), "decoder": ("adain_decoder", "adain-decoder")},
        style_vector_shape=(2, 512),
        how_to_get="`stylize weights download` (the pytorch-AdaIN release files), or `stylize weights import vgg_normalised.pth decoder.pth`",
        weights_role="decoder",
        tile_multiple=8,  # three max-poolings to relu4_1
    ),
    "magenta": Family(
        name="magenta",
        roles={
            "predictor": ("magenta_predictor", "magenta-predictor"),
            "transformer": ("magenta_transformer", "magenta-transformer"),
        },
        style_vector_shape=(100,),
        how_to_get="`stylize weights import style_predict_int8_256.tflite style_transfer_fp16_384.tflite`",
        tile_multiple=4,  # two stride-2 convolutions
    ),
    # Johnson et al. 2016: a feed-forward network per style (training/johnson/); its "style
    # vector" is one number the stylizer ignores, so every engine feeds every family alike.
    "johnson": Family(
        name="johnson",
        roles={"transformer": ("johnson", "johnson")},
        style_vector_shape=(1,),
        how_to_get="`stylize train-style --style IMAGE --content DIR --name NAME`, or `stylize weights import NAME.pth` "
        "(a pytorch/examples fast_neural_style network)",
        weights_role="transformer",
        fixed_style=True,
    ),
}
DEFAULT_ORDER = ("adain", "magenta")
STYLE_SIZE = {"adain": 512, "magenta": 256, "johnson": 16}  # johnson encodes no image: the smallest side
MIN_SIDE = 16  # the smallest picture side: AdaIN's relu4_1 is 1/8 of it, and one feature pixel has no variance


@dataclass(frozen=True)
class ModelWeights:
    family: str
    records: dict[str, WeightsRecord]

    @property
    def model_id(self) -> str:
        """Identifies the exact weights: the key of cached style vectors and exported graphs.
        Made from the digests of the roles' tensors (``WeightsRecord.sha256``), so importing
        the same weights again keeps it."""
        h = hashlib.sha256("".join(f"{role}={r.sha256};" for role, r in sorted(self.records.items())).encode())
        return f"{self.family}-{h.hexdigest()[:16]}"


def _missing_message(family: Family, missing: list[str], store: Store) -> str:
    return (
        f"{family.name} weights not installed ({', '.join(missing)} missing from {store.root}); "
        f"get them with {family.how_to_get}"
    )


def find_weights(store: Store, family_name: str, overrides: dict[str, str] | None = None) -> ModelWeights:
    """The store's weights for a family; UserError naming how to get them when missing."""
    if family_name not in FAMILIES:
        raise UserError(f"unknown model {family_name!r}: choose one of {', '.join(FAMILIES)}")
    family = FAMILIES[family_name]
    records: dict[str, WeightsRecord] = {}
    missing = []
    for role, (layout, default_name) in family.roles.items():
        name = (overrides or {}).get(role, default_name)
        record = store.weights(name)
        if record is None:
            missing.append(name)
            continue
        if record.layout != layout:
            raise UserError(f"weights {name!r} have layout {record.layout}, but {family_name} needs {layout} for its {role}")
        records[role] = record
    if missing:
        raise UserError(_missing_message(family, missing, store))
    return ModelWeights(family_name, records)


def only_network(store: Store, family_name: str) -> str | None:
    """For a family of one network per style (johnson) run without ``--weights``: the store
    name of its default network where installed, else of the one network of its layout, else
    None where there is none; UserError naming them where there are several."""
    family = FAMILIES[family_name]
    if not family.fixed_style or family.weights_role is None:
        return None
    layout, default = family.roles[family.weights_role]
    if store.weights(default) is not None:
        return default
    names = [r.name for r in store.list_weights() if r.layout == layout]
    if len(names) > 1:
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        raise UserError(f"several {family_name} networks in the store ({shown}): choose one with --weights NAME")
    return names[0] if names else None


def default_family(store: Store) -> str:
    """adain if its weights are installed, else magenta, else johnson where a network of its
    is, else an error naming every way in."""
    for name in DEFAULT_ORDER:
        family = FAMILIES[name]
        if all(store.weights(default) is not None for _, default in family.roles.values()):
            return name
    layouts = {r.layout for r in store.list_weights()}
    for family in FAMILIES.values():
        if family.fixed_style and family.weights_role and family.roles[family.weights_role][0] in layouts:
            return family.name
    ways = "; ".join(f"{f.name}: {f.how_to_get}" for f in FAMILIES.values())
    raise UserError(f"no model weights installed in {store.root}. {ways}")


def prepare_style(family: str, rgb: np.ndarray, style_size: int | None = None) -> np.ndarray:
    """The style image as its style encoder wants it: AdaIN's shorter side at 512 (the
    reference's default), Magenta's predictor at 256x256 (its training size)."""
    width, height = style_shape(family, rgb.shape[1], rgb.shape[0], style_size)
    return resize(rgb, height, width)


def style_shape(family: str, width: int, height: int, style_size: int | None = None) -> Size:
    """The size ``prepare_style`` gives a ``width`` x ``height`` style image."""
    size = style_size or STYLE_SIZE[family]
    return Size(size, size) if family == "magenta" else scaled(width, height, size)


def mix_styles(vectors: list[np.ndarray], weights: list[float] | None = None) -> np.ndarray:
    """Weighted mix of style vectors (weights normalised to sum to 1).

    For AdaIN this is exactly the paper's interpolation of AdaIN outputs, since AdaIN is
    affine in (mean, std).
    """
    if weights is None:
        weights = [1.0] * len(vectors)
    w = np.asarray(weights, dtype=np.float64)
    if len(w) != len(vectors):
        raise UserError(f"{len(w)} style weights given for {len(vectors)} styles")
    if (w < 0).any() or w.sum() <= 0:
        raise UserError("style weights must be non-negative and not all zero")
    w = w / w.sum()
    return sum(float(wi) * v.astype(np.float64) for wi, v in zip(w, vectors)).astype(np.float32)

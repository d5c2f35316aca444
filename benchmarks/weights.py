"""Weights for benchmarking: the installed ones, else random weights in a temporary store.

Speed does not depend on weight values, so a family whose weights are not installed is
still measured, with random weights, and the results say so (``"weights": "random"``).
The random weights live in their own store under ``ROOT/bench/FAMILY`` (never mixed with
the user's weights), so the ONNX graphs exported from them are reused by the next run.
"""

from __future__ import annotations

from pathlib import Path

from stylize.runtime.errors import UserError
from stylize.runtime.models import FAMILIES, ModelWeights, find_weights
from stylize.runtime.store import Store


def _random_store(family: str, root: Path) -> Store:
    import torch

    from stylize.training.models import build_stylizer

    store = Store(root / "bench" / family)
    if all(store.weights(name) for _, name in FAMILIES[family].roles.values()):
        return store
    if family == "adain":
        from stylize.training.adain.random_weights import random_adain_modules

        vgg, decoder = random_adain_modules(0)
        states = {"vgg": vgg.state_dict(), "decoder": decoder.state_dict()}
    elif family == "johnson":  # the default width
        torch.manual_seed(0)
        states = {"transformer": build_stylizer(family).net.state_dict()}
    else:
        torch.manual_seed(0)
        net = build_stylizer(family)
        states = {"predictor": net.predictor.state_dict(), "transformer": net.transformer.state_dict()}
    for role, (layout, name) in FAMILIES[family].roles.items():
        store.put_weights(name, {k: v.numpy() for k, v in states[role].items()}, layout=layout, source="random (benchmark)")
    return store


def weights_for(family: str, store: Store) -> tuple[Store, ModelWeights, str]:
    """(store, weights, "installed" | "random") for ``family``."""
    try:
        return store, find_weights(store, family), "installed"
    except UserError:
        random_store = _random_store(family, store.root)
        return random_store, find_weights(random_store, family), "random"

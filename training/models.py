"""Torch modules of each model family, built from weights in the store.

Every stylizer module has ``encode_style(style NCHW) -> vector``,
``forward(content NCHW, style_vec, alpha) -> NCHW`` (the two graphs of every family,
docs/architecture.md) and ``forward_regions(content, style_vecs, masks, alpha)``.
"""

from __future__ import annotations

import torch
from torch import nn

from stylize.runtime.errors import UserError
from stylize.runtime.models import FAMILIES, ModelWeights
from stylize.runtime.store import Store, WeightsRecord
from stylize.training.layouts import check_layout


def build_stylizer(family: str, states: dict[str, dict[str, torch.Tensor]] | None = None) -> nn.Module:
    """The family's stylizer; with ``states`` None its weights stay at their random init."""
    if family == "adain":
        from stylize.training.adain.net import AdaINStylizer, build_decoder, build_vgg

        vgg, decoder = build_vgg(), build_decoder()
        if states:
            vgg.load_state_dict(states["vgg"], strict=True)
            decoder.load_state_dict(states["decoder"], strict=True)
        return AdaINStylizer(vgg, decoder)
    if family == "magenta":
        from stylize.training.magenta.model import StylePredictor, Transformer
        from stylize.training.magenta.stylizer import MagentaStylizer

        predictor, transformer = StylePredictor(), Transformer()
        if states:
            predictor.load_state_dict(states["predictor"], strict=True)
            transformer.load_state_dict(states["transformer"], strict=True)
        return MagentaStylizer(predictor, transformer)
    if family == "johnson":
        from stylize.training.johnson.net import TransformerNet, net_from_state
        from stylize.training.johnson.stylizer import JohnsonStylizer

        return JohnsonStylizer(net_from_state(states["transformer"]) if states else TransformerNet())
    raise ValueError(f"unknown model family {family!r}")


def load_torch_state(store: Store, name: str, layout: str) -> tuple[WeightsRecord, dict[str, torch.Tensor]]:
    """A state dict from the store, refusing weights of another layout."""
    record, arrays = store.load_weights(name)
    if record.layout != layout:
        raise UserError(f"weights {name!r} have layout {record.layout}, expected {layout}")
    problems = check_layout(layout, {k: tuple(v.shape) for k, v in arrays.items()})
    if problems:
        raise UserError(f"weights {name!r} in the store do not match {layout}: {problems[0]}")
    return record, {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}


def load_stylizer(store: Store, weights: ModelWeights) -> nn.Module:
    family = FAMILIES[weights.family]
    states = {}
    for role, (layout, _) in family.roles.items():
        _, states[role] = load_torch_state(store, weights.records[role].name, layout)
    return build_stylizer(weights.family, states).eval()
